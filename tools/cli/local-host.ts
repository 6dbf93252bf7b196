/**
 * The all-in-one's compute host: this machine's libvirtd (started here when no service manager runs it) and a
 * host agent with a `dir` store, joined to the local API.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { run, tryRun } from '../../src/common/exec.js';
import { livePidFrom, stopByPidFile } from '../../src/common/pidfile.js';
import { AGENT_MAIN, envWithout, startDetached } from './daemons.js';
import type { LoadedConfig } from './context.js';

export interface LocalHostPaths {
  agentConf: string;
  agentState: string;
  agentLog: string;
  store: string;
  probeImage: string;
  /** Pid files of the libvirt daemons `up` started itself (none when a service manager runs libvirtd). */
  libvirtRun: string;
}

export function localHostPaths(config: LoadedConfig, configFile: string): LocalHostPaths {
  const data = config.DEFAULT.data_dir;
  return {
    agentConf: join(dirname(configFile), 'agent.conf'),
    agentState: join(data, 'agent'),
    agentLog: join(data, 'log', 'kvmstack-agent.log'),
    store: join(data, 'stores', 'local'),
    probeImage: join(data, 'images', 'tiny.qcow2'),
    libvirtRun: join(data, 'run'),
  };
}

export function agentConfText(p: LocalHostPaths, apiPort: number, enrollmentSecret: string): string {
  return [
    '# kvmstack host agent of the all-in-one cloud. Every option: README, "The host agent".',
    '[agent]',
    `api_url = http://127.0.0.1:${apiPort}`,
    `enrollment_secret = ${enrollmentSecret}`,
    `hostname = ${hostname()}`,
    'host_ip = 127.0.0.1',
    // any free port: test clouds share a machine, and the agent reports where it listens with every heartbeat
    'rpc_port = 0',
    `state_dir = ${p.agentState}`,
    `log_file = ${p.agentLog}`,
    'driver = libvirt',
    'virt_type = auto',
    `probe_image = ${p.probeImage}`,
    '',
    '[network]',
    // one host: flat networks on physnet1 share kvmstack0; a VLAN network needs no tag (no frame leaves the
    // host), so it is a bridge of its own, and works on kernels without 802.1Q as well
    `bridge_mappings = physnet1:${LOCAL_BRIDGE}`,
    'host_local_networks = physnet1',
    '',
    '[store local]',
    'type = dir',
    `mount = ${p.store}`,
    '',
  ].join('\n');
}

/**
 * The all-in-one's physical network physnet1: a bridge with no uplink and no host address. No address and no
 * masquerade on purpose: turning on IP forwarding and NAT would change the whole machine's networking behind
 * the operator's back; a provider network with outbound access is an explicit operator decision.
 */
export const LOCAL_BRIDGE = 'kvmstack0';

/** Creates kvmstack0 if absent (idempotent; it stays after `stop`, other test clouds may share it). */
export async function ensureLocalBridge(say: (s: string) => void): Promise<void> {
  if ((await tryRun('ip', ['link', 'show', 'dev', LOCAL_BRIDGE])).code === 0) return;
  await run('ip', ['link', 'add', 'name', LOCAL_BRIDGE, 'type', 'bridge']).catch(async (err: Error) => {
    // another cloud starting on this machine made it meanwhile
    if ((await tryRun('ip', ['link', 'show', 'dev', LOCAL_BRIDGE])).code !== 0) throw err;
  });
  await run('ip', ['link', 'set', 'dev', LOCAL_BRIDGE, 'up']);
  say(`created bridge ${LOCAL_BRIDGE} (physical network physnet1, no uplink)`);
}

const LIBVIRT_DAEMONS = ['virtlogd', 'virtlockd', 'libvirtd'] as const;

async function libvirtAnswers(): Promise<boolean> {
  return (
    (await tryRun('virsh', ['-c', 'qemu:///system', 'version'], 15_000).catch(() => ({ code: 1 }))).code === 0
  );
}

/**
 * Makes sure libvirtd answers on qemu:///system. Where no service manager started it (containers, machines
 * without systemd), starts virtlogd, virtlockd and libvirtd with pid files under <data_dir>/run.
 */
export async function ensureLibvirtd(p: LocalHostPaths, say: (s: string) => void): Promise<void> {
  fixKvmPermissions(say);
  if (await libvirtAnswers()) return say('libvirtd is running');
  mkdirSync(p.libvirtRun, { recursive: true });
  for (const d of LIBVIRT_DAEMONS) {
    const pidFile = join(p.libvirtRun, `${d}.pid`);
    if (livePidFrom(pidFile) === null) await run(d, ['-d', '-p', pidFile], { timeoutMs: 30_000 });
  }
  const deadline = Date.now() + 60_000;
  while (!(await libvirtAnswers())) {
    if (Date.now() > deadline) throw new Error('libvirtd did not answer on qemu:///system within 60 s');
    await new Promise((r) => setTimeout(r, 500));
  }
  say(`started ${LIBVIRT_DAEMONS.join(', ')} (pid files in ${p.libvirtRun})`);
}

/**
 * /dev/kvm must be usable by libvirt's QEMU user (group kvm), as udev makes it on a standard host. Where it is
 * root-only, libvirt re-probes QEMU on every domain start (tens of seconds each).
 */
function fixKvmPermissions(say: (s: string) => void): void {
  if (!existsSync('/dev/kvm')) return;
  const st = statSync('/dev/kvm');
  if ((st.mode & 0o060) === 0o060) return;
  const kvmGid = groupId('kvm');
  if (kvmGid === null) return;
  chownSync('/dev/kvm', 0, kvmGid);
  chmodSync('/dev/kvm', 0o660);
  say('made /dev/kvm root:kvm 0660, as udev does on a standard host');
}

function groupId(name: string): number | null {
  const line = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  return line ? Number(line.split(':')[2]) : null;
}

export async function stopLibvirtd(p: LocalHostPaths): Promise<string[]> {
  const stopped: string[] = [];
  for (const d of [...LIBVIRT_DAEMONS].reverse()) {
    if (await stopByPidFile(join(p.libvirtRun, `${d}.pid`), d, 10_000)) stopped.push(d);
  }
  return stopped;
}

const agentPidFile = (p: LocalHostPaths) => join(p.agentState, 'agent.pid');

export function agentPid(p: LocalHostPaths): number | null {
  return livePidFrom(agentPidFile(p));
}

/** Starts the agent if it is not running; resolves once it has joined (it writes its pid file then). */
export async function startAgent(p: LocalHostPaths, say: (s: string) => void): Promise<number> {
  const running = agentPid(p);
  if (running) {
    say(`host agent already running (pid ${running})`);
    return running;
  }
  if (!existsSync(AGENT_MAIN)) throw new Error(`${AGENT_MAIN} is missing: build first (npm run build)`);
  mkdirSync(p.agentState, { recursive: true, mode: 0o700 });
  const pid = startDetached({
    args: [AGENT_MAIN, '--config', p.agentConf],
    logFile: `${p.agentLog}.out`,
    env: envWithout((k) => k.startsWith('KVMSTACK_')),
  });
  const deadline = Date.now() + 90_000; // the first start probes KVM by booting a guest
  while (agentPid(p) === null) {
    if (Date.now() > deadline) throw new Error(`the host agent did not join within 90 s; see ${p.agentLog}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  say(`host agent started (pid ${pid}) and joined; log in ${p.agentLog}`);
  return pid;
}

export async function stopAgent(p: LocalHostPaths): Promise<boolean> {
  return stopByPidFile(agentPidFile(p), 'host-agent/main.js', 15_000);
}
