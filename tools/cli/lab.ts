import type { Command } from 'commander';
import { formatStatus, labDown, labStatus, labUp } from '../lab/lab.js';
import { DEFAULT_API_PORT, defaultStateDir } from '../lab/topology.js';
import { step } from './context.js';

export function labCommands(program: Command): void {
  const lab = program
    .command('lab')
    .description(
      'a test lab on this machine: N KVM hosts in namespaces with a shared GlusterFS volume (root only)',
    )
    .option('--state-dir <dir>', 'lab state directory (default: $KVMSTACK_LAB_DIR or /var/lib/kvmstack-lab)');
  const stateDir = (cmd: Command) =>
    (cmd.optsWithGlobals() as { stateDir?: string }).stateDir ?? defaultStateDir();

  lab
    .command('up')
    .description(
      'build the lab: namespaces, bridges, libvirtd per host, a GlusterFS volume on every host, an API and an agent per host',
    )
    .option('--hosts <n>', 'number of hosts (1-8)', '3')
    .option('--no-api', 'hosts only: no kvmstack API on 10.99.0.254 and no host agents')
    .option('--api-port <port>', 'port of the lab API', String(DEFAULT_API_PORT))
    .action(async (opts: { hosts: string; api?: boolean; apiPort: string }, cmd: Command) => {
      const state = await labUp({
        hosts: Number(opts.hosts),
        stateDir: stateDir(cmd),
        api: Boolean(opts.api),
        apiPort: Number(opts.apiPort),
        say: step,
      });
      console.log(formatStatus(await labStatus(state.stateDir)));
      console.log(`\nbuilt in ${state.upSeconds.toFixed(1)} s; remove it with: kvmstack lab down`);
    });

  lab
    .command('status')
    .description('hosts, namespaces, daemons, GlusterFS volume and mounts of the lab')
    .option('--json', 'machine-readable')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const status = await labStatus(stateDir(cmd));
      console.log(opts.json ? JSON.stringify(status, null, 2) : formatStatus(status));
      process.exitCode = status.up ? 0 : 1;
    });

  lab
    .command('down')
    .description('remove everything the lab made (by pid files and ks-* namespace names); idempotent')
    .action(async (_o, cmd: Command) => {
      await labDown({ stateDir: stateDir(cmd), say: step });
    });
}
