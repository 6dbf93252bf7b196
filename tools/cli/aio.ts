import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_CONFIG_FILE } from '../../src/common/config/load.js';
import { livePidFrom, stopByPidFile } from '../../src/common/pidfile.js';
import { openDatabase } from '../../src/db/connection.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { KeyRepository } from '../../src/identity/tokens/keys.js';
import { ensureTinyImage } from '../image/tiny.js';
import { runBootstrap } from './bootstrap.js';
import { configFrom, step, type LoadedConfig } from './context.js';
import {
  CLI_MAIN,
  cloudsYamlText,
  envWithout,
  openrcText,
  startDetached,
  waitHealthy,
  type Credentials,
} from './daemons.js';
import {
  agentConfText,
  agentPid,
  ensureLibvirtd,
  ensureLocalBridge,
  localHostPaths,
  startAgent,
  stopAgent,
  stopLibvirtd,
} from './local-host.js';

/** The first non-loopback IPv4 address: what other machines and the guests reach this host at. */
function primaryAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

const newSecret = () => randomBytes(24).toString('base64url');

function writeDefaultConfig(file: string, dataDir: string, port: number): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    [
      '# kvmstack configuration (all-in-one). Every option and its default: `kvmstack config show`, or the README.',
      '[DEFAULT]',
      `data_dir = ${dataDir}`,
      `log_file = ${dataDir}/log/kvmstack-api.log`,
      '',
      '[api]',
      `port = ${port}`,
      `public_url = http://${primaryAddress()}:${port}`,
      '',
      '[cluster]',
      `enrollment_secret = ${newSecret()}`,
      '',
      '[network]',
      // project networks are VLANs on physnet1, which the local agent maps to kvmstack0
      'network_vlan_ranges = physnet1:1000:1999',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
}

/** A configuration from before hosts could join has no enrollment secret: give it one. */
function ensureEnrollmentSecret(file: string, config: LoadedConfig): LoadedConfig {
  if (config.cluster.enrollment_secret) return config;
  if (/^\s*\[cluster\]/m.test(readFileSync(file, 'utf8'))) {
    throw new Error(`${file}: [cluster] has no enrollment_secret; set one so the local agent can join`);
  }
  appendFileSync(file, `\n[cluster]\nenrollment_secret = ${newSecret()}\n`);
  step(`added [cluster] enrollment_secret to ${file}`);
  return configFrom({ config: file });
}

const credentials = (config: LoadedConfig, password: string): Credentials => ({
  authUrl: `${config.api.public_url}/identity/v3`,
  username: config.bootstrap.admin_username,
  password,
  project: config.bootstrap.admin_project,
  region: config.DEFAULT.region,
});

const localUrl = (config: LoadedConfig) => `http://127.0.0.1:${config.api.port}`;

/** Starts `kvmstack api` detached, logging to [DEFAULT] log_file, with its pid file. */
async function startApi(config: LoadedConfig, configFile: string): Promise<number> {
  const logFile = config.DEFAULT.log_file || join(config.DEFAULT.data_dir, 'log', 'kvmstack-api.log');
  const pid = startDetached({
    args: [CLI_MAIN, '--config', configFile, 'api', '--pid-file', config.api.pid_file],
    logFile,
    // The bootstrap password has done its job: keep it out of the long-running process's /proc/<pid>/environ.
    env: envWithout((k) => k === 'KVMSTACK_BOOTSTRAP_ADMIN_PASSWORD'),
  });
  if (!(await waitHealthy(localUrl(config), 30)))
    throw new Error(`the API did not become healthy within 30 s; see ${logFile}`);
  return pid;
}

/** The all-in-one's compute host: the tiny guest image (also the KVM probe), libvirtd, an agent with a dir store. */
async function upLocalHost(config: LoadedConfig, configFile: string): Promise<void> {
  const host = localHostPaths(config, configFile);
  // QEMU runs as libvirt's unprivileged user: it must be able to walk to the VMs' disks (search, not list)
  for (const dir of [config.DEFAULT.data_dir, dirname(host.store), host.store]) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, statSync(dir).mode | 0o011);
  }
  const image = await ensureTinyImage({ out: host.probeImage });
  step(
    image.built
      ? `built the tiny guest image ${image.path} in ${image.seconds.toFixed(1)} s`
      : `tiny guest image present: ${image.path}`,
  );
  if (!existsSync(host.agentConf)) {
    writeFileSync(host.agentConf, agentConfText(host, config.api.port, config.cluster.enrollment_secret), {
      mode: 0o600,
    });
    step(`wrote ${host.agentConf}`);
  }
  await ensureLibvirtd(host, step);
  await ensureLocalBridge(step);
  await startAgent(host, step);
}

export function aioCommands(program: Command): void {
  program
    .command('up')
    .description('bring up (or check) the all-in-one cloud: config, keys, database, admin, API, local host')
    .option('--data-dir <dir>', 'data directory for a new configuration', '/var/lib/kvmstack')
    .option('--port <port>', 'API port for a new configuration', '5000')
    .option('--api-only', 'bring up the API alone: a control node, whose hosts join with their own agents')
    .action(async (opts: { dataDir: string; port: string; apiOnly?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals() as { config?: string };
      const configFile = resolve(globals.config ?? process.env.KVMSTACK_CONFIG ?? DEFAULT_CONFIG_FILE);
      if (!existsSync(configFile)) {
        writeDefaultConfig(configFile, resolve(opts.dataDir), Number(opts.port));
        step(`wrote ${configFile}`);
      } else step(`using ${configFile}`);
      const config = ensureEnrollmentSecret(configFile, configFrom({ config: configFile }));
      mkdirSync(config.DEFAULT.data_dir, { recursive: true, mode: 0o750 });

      const keys = new KeyRepository(config.token.key_repository);
      step(
        keys.ensure()
          ? `created the token signing key in ${keys.dir}`
          : `token signing keys present in ${keys.dir}`,
      );

      const knex = openDatabase(config.database.connection);
      try {
        const applied = await migrateLatest(knex);
        step(applied.length ? `database migrated (${applied.join(', ')})` : 'database schema is up to date');
      } finally {
        await knex.destroy();
      }

      const boot = await runBootstrap(config);
      step(
        boot.changes.length
          ? `bootstrapped: ${boot.changes.length} change(s)`
          : 'admin user, project, roles and catalog already in place',
      );
      const openrc = join(config.DEFAULT.data_dir, 'openrc');
      const clouds = join(config.DEFAULT.data_dir, 'clouds.yaml');
      if (boot.adminPassword) {
        writeFileSync(openrc, openrcText(credentials(config, boot.adminPassword)), { mode: 0o600 });
        writeFileSync(clouds, cloudsYamlText(credentials(config, boot.adminPassword)), { mode: 0o600 });
        step(`wrote ${openrc} and ${clouds} (admin password: ${boot.adminPassword})`);
      } else if (!existsSync(openrc)) {
        step(
          'the admin password is not known here: set KVMSTACK_BOOTSTRAP_ADMIN_PASSWORD and run `kvmstack up` again to reset it',
        );
      }

      const running = livePidFrom(config.api.pid_file);
      if (running) step(`API already running (pid ${running})`);
      else
        step(
          `API started (pid ${await startApi(config, configFile)}), log in ${config.DEFAULT.log_file || 'the data directory'}`,
        );
      if (!(await waitHealthy(localUrl(config), 10))) throw new Error('the API does not answer /healthcheck');

      // The local compute host: the tiny guest image (also the KVM probe), libvirtd, and an agent with a dir store.
      if (opts.apiOnly) step('--api-only: no local compute host');
      else await upLocalHost(config, configFile);

      console.log(
        `\nkvmstack is up at ${config.api.public_url}\n\nPoint the openstack CLI at it:\n  source ${openrc}\n  openstack token issue\n  openstack catalog list\nor: export OS_CLIENT_CONFIG_FILE=${clouds} OS_CLOUD=kvmstack\n\nStop it with: tools/kvmstack stop`,
      );
    });

  program
    .command('stop')
    .description('stop what `kvmstack up` started: the host agent, the API, and libvirtd if up started it')
    .action(async (_o, cmd: Command) => {
      const globals = cmd.optsWithGlobals() as { config?: string };
      const configFile = resolve(globals.config ?? process.env.KVMSTACK_CONFIG ?? DEFAULT_CONFIG_FILE);
      const config = configFrom({ config: configFile });
      const host = localHostPaths(config, configFile);
      const agent = agentPid(host);
      step(
        agent !== null && (await stopAgent(host))
          ? `host agent stopped (pid ${agent})`
          : 'host agent is not running',
      );
      const api = livePidFrom(config.api.pid_file);
      step(
        api !== null && (await stopByPidFile(config.api.pid_file, 'main.js', 15_000))
          ? `API stopped (pid ${api})`
          : 'API is not running',
      );
      const daemons = await stopLibvirtd(host);
      if (daemons.length) step(`stopped ${daemons.join(', ')}`);
    });

  program
    .command('status')
    .description('is the all-in-one cloud running and healthy?')
    .action(async (_o, cmd: Command) => {
      const globals = cmd.optsWithGlobals() as { config?: string };
      const configFile = resolve(globals.config ?? process.env.KVMSTACK_CONFIG ?? DEFAULT_CONFIG_FILE);
      const config = configFrom({ config: configFile });
      const pid = livePidFrom(config.api.pid_file);
      const healthy = pid ? await waitHealthy(localUrl(config), 2) : false;
      console.log(
        `api: ${pid ? `running (pid ${pid}), ${healthy ? 'healthy' : 'NOT answering /healthcheck'}` : 'stopped'}`,
      );
      const agent = agentPid(localHostPaths(config, configFile));
      console.log(`host agent: ${agent ? `running (pid ${agent})` : 'stopped'}`);
      const openrc = join(config.DEFAULT.data_dir, 'openrc');
      if (existsSync(openrc)) console.log(`credentials: ${openrc}`);
      process.exitCode = pid && healthy && agent ? 0 : 1;
    });
}
