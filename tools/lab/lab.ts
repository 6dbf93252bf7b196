/**
 * `kvmstack lab up|status|down`: N KVM hosts on this machine (network + mount namespaces, a libvirtd each),
 * one GlusterFS volume mounted at the same path on every host, optionally a kvmstack API and host agents.
 * What runs is known by pid files under the state dir and by the `ks-` namespace names, so `down` works from
 * any process and removes exactly what `up` made.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/common/exec.js';
import { livePidFrom } from '../../src/common/pidfile.js';
import { hostsEntryPresent, startGluster, stopGluster, volumeState } from './gluster.js';
import {
  mountStore,
  prepareHost,
  startAnchor,
  startDaemons,
  stopHost,
  storeMounted,
  waitLibvirt,
} from './host.js';
import type { AgentTuning } from './config-files.js';
import { createFabric, createHostNetwork, deleteNetwork, labNamespaces } from './network.js';
import { adminSession, createLabNetworks, networkApiAvailable, type LabNetworks } from './neutron.js';
import {
  apiStoreMounted,
  startAgents,
  startApi,
  stopAgent,
  stopApi,
  unmountApiStore,
  type LabApi,
} from './services.js';
import {
  CLI_NS,
  DEFAULT_API_PORT,
  FAB_NS,
  MAX_HOSTS,
  ROOT_LINK,
  ROOT_MGMT_IP,
  labHost,
  labPaths,
  type LabHost,
  type LabPaths,
} from './topology.js';

export interface LabState {
  hosts: number;
  stateDir: string;
  store: string;
  upSeconds: number;
  api: LabApi | null;
  agents: string[];
  /** The provider and external networks `up` made through the API (null: no API, or no Neutron API yet). */
  networks?: LabNetworks | null;
}

export interface UpOptions {
  hosts: number;
  stateDir: string;
  /** Also start a kvmstack API (and the host agents, when built). */
  api?: boolean;
  apiPort?: number;
  /** Shorter agent timings, e.g. for tests of fencing; unset ones keep the agent's defaults. */
  agentTuning?: AgentTuning;
  say?: (s: string) => void;
}

const quiet = (): void => undefined;

export function readLabState(stateDir: string): LabState | null {
  const f = labPaths(stateDir).stateFile;
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as LabState) : null;
}

/** The lab's hosts: from its state file, or (after a failed up) from the host directories present. */
export function labHosts(stateDir: string): LabHost[] {
  const state = readLabState(stateDir);
  if (state) return Array.from({ length: state.hosts }, (_, i) => labHost(stateDir, i + 1));
  const dir = labPaths(stateDir).hostsDir;
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((n) => /^ks-h([0-9]+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => labHost(stateDir, Number(m[1])))
    .sort((a, b) => a.index - b.index);
}

async function preflight(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (network and mount namespaces, mounts)');
  for (const cmd of [
    'ip',
    'unshare',
    'nsenter',
    'libvirtd',
    'virtlogd',
    'virtlockd',
    'virsh',
    'glusterd',
    'gluster',
  ]) {
    await run('sh', ['-c', 'command -v "$1"', 'sh', cmd]).catch(() => {
      throw new Error(`${cmd} is missing (Debian packages: see tools/install-deps.sh, lab profile)`);
    });
  }
  if (!existsSync('/sbin/mount.glusterfs')) throw new Error('mount.glusterfs is missing (glusterfs-client)');
  if ((await labNamespaces()).includes(FAB_NS)) {
    throw new Error(`a lab is already up (netns ${FAB_NS} exists): \`kvmstack lab down\` first`);
  }
}

/** Brings the lab up; on failure removes whatever it had made and rethrows. */
export async function labUp(opts: UpOptions): Promise<LabState> {
  const say = opts.say ?? quiet;
  const n = opts.hosts;
  if (!Number.isInteger(n) || n < 1 || n > MAX_HOSTS) throw new Error(`--hosts must be 1..${MAX_HOSTS}`);
  const started = Date.now();
  await preflight();
  const p = labPaths(opts.stateDir);
  const hosts = Array.from({ length: n }, (_, i) => labHost(p.stateDir, i + 1));
  if (existsSync(p.stateFile) || existsSync(p.hostsDir) || existsSync(p.gluster)) {
    // a lab that died without `down` may have left processes behind: their pid files are all we know them by
    say('removing the remains of an earlier lab');
    await labDown({ stateDir: p.stateDir, say });
  }
  try {
    return await build(p, hosts, opts, say, started);
  } catch (err) {
    say(`lab up failed: ${err instanceof Error ? err.message : String(err)}; removing what was made`);
    await labDown({ stateDir: p.stateDir, say });
    throw err;
  }
}

async function build(
  p: LabPaths,
  hosts: LabHost[],
  opts: UpOptions,
  say: (s: string) => void,
  started: number,
) {
  const since = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  for (const d of [p.hostsDir, p.gluster]) rmSync(d, { recursive: true, force: true });
  mkdirSync(p.hostsDir, { recursive: true });
  mkdirSync(p.store, { recursive: true });
  const state: LabState = {
    hosts: hosts.length,
    stateDir: p.stateDir,
    store: p.store,
    upSeconds: 0,
    api: null,
    agents: [],
  };
  writeFileSync(p.stateFile, JSON.stringify(state, null, 2));

  say(
    `network: netns ${FAB_NS} (brm, bre), ks-cli, ${hosts.map((h) => h.netns).join(', ')}; root ns ${ROOT_MGMT_IP} on brm`,
  );
  await createFabric();
  for (const h of hosts) await createHostNetwork(h);

  say('glusterd and volume ks-shared (replica 2)');
  await startGluster(p);

  say(`libvirt hosts: ${hosts.map((h) => `${h.name} ${h.mgmtIp}`).join(', ')}`);
  for (const h of hosts) await prepareHost(h, hosts, p);
  for (const h of hosts) {
    await startAnchor(h);
    await startDaemons(h);
  }
  say(`store: mounting ks-shared at ${p.store} on every host`);
  for (const h of hosts) await mountStore(h, p);

  say(`waiting for every libvirtd (${since()} so far)`);
  const hadSeed = existsSync(p.seedCache);
  if (hadSeed) await Promise.all(hosts.map((h) => waitLibvirt(h)));
  else {
    // the first libvirtd ever fills the capabilities cache (8-12 s of QEMU probing); the others start from its copy
    await waitLibvirt(hosts[0], 120_000);
    await saveSeedCache(hosts[0], p);
    await Promise.all(hosts.slice(1).map((h) => waitLibvirt(h, 120_000)));
  }

  if (opts.api) {
    say(`kvmstack API on ${ROOT_MGMT_IP}:${opts.apiPort ?? DEFAULT_API_PORT}`);
    state.api = await startApi(p, opts.apiPort ?? DEFAULT_API_PORT);
    writeFileSync(p.stateFile, JSON.stringify(state, null, 2));
    say('host agents');
    state.agents = await startAgents(hosts, state.api, p, say, opts.agentTuning);
    state.networks = await labNetworks(state.api, say);
  }
  state.upSeconds = Math.round((Date.now() - started) / 100) / 10;
  writeFileSync(p.stateFile, JSON.stringify(state, null, 2));
  say(`lab up with ${hosts.length} host(s) in ${since()}`);
  return state;
}

/** The provider and external networks, through the API as its admin; none while it serves no Neutron API. */
async function labNetworks(api: LabApi, say: (s: string) => void): Promise<LabNetworks | null> {
  const session = await adminSession(api.url, {
    username: 'admin',
    password: api.adminPassword,
    project: 'admin',
  });
  if (!(await networkApiAvailable(session))) {
    say('networks not created: this API serves no Neutron networks yet');
    return null;
  }
  const nets = await createLabNetworks(session);
  say(`networks: provider (flat on br0, 10.99.0.0/24), external (flat on brx, 192.168.50.0/24)`);
  return nets;
}

/** Keeps a warm libvirt capabilities cache for the next lab (only QEMU's capabilities, no host state). */
async function saveSeedCache(h: LabHost, p: LabPaths): Promise<void> {
  const caps = join(h.dir, 'cache', 'qemu', 'capabilities');
  if (!existsSync(caps) || readdirSync(caps).length === 0) return;
  rmSync(p.seedCache, { recursive: true, force: true });
  mkdirSync(join(p.seedCache, 'qemu'), { recursive: true });
  // cp -a keeps owners and modes as libvirt made them
  await run('cp', ['-a', caps, join(p.seedCache, 'qemu')]).catch(() =>
    rmSync(p.seedCache, { recursive: true, force: true }),
  );
}

/** Removes everything the lab made: processes by pid file, namespaces by name, mounts, the hosts entry. */
export async function labDown(opts: { stateDir: string; say?: (s: string) => void }): Promise<void> {
  const say = opts.say ?? quiet;
  const started = Date.now();
  const p = labPaths(opts.stateDir);
  const hosts = labHosts(p.stateDir);
  for (const h of hosts) if (await stopAgent(h)) say(`${h.name}: agent stopped`);
  if (await stopApi(p)) say('API stopped');
  // before gluster stops, and before anything under the state dir is removed
  if (await unmountApiStore(p)) say(`unmounted the API's image store ${p.apiStore}`);
  for (const h of hosts) {
    say(`${h.name}: stopping domains, libvirt daemons, store mount`);
    await stopHost(h, p, say);
  }
  say('gluster: volume, glusterd, bricks');
  await stopGluster(p);
  const removed = await deleteNetwork();
  if (removed.length) say(`network: removed ${removed.join(', ')}`);
  for (const d of [p.hostsDir, p.gluster, p.api, p.stateFile]) rmSync(d, { recursive: true, force: true });
  if (existsSync(p.store)) rmdirSync(p.store);
  say(`lab down in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

export interface HostStatus {
  name: string;
  mgmtIp: string;
  netns: boolean;
  daemons: Record<string, number | null>;
  storeMounted: boolean;
}

export interface LabStatus {
  up: boolean;
  state: LabState | null;
  namespaces: string[];
  hosts: HostStatus[];
  glusterd: number | null;
  volume: string;
  hostsEntry: boolean;
  api: number | null;
  apiStoreMounted: boolean;
}

export async function labStatus(stateDir: string): Promise<LabStatus> {
  const p = labPaths(stateDir);
  const state = readLabState(stateDir);
  const namespaces = await labNamespaces();
  const hosts = labHosts(stateDir).map((h): HostStatus => ({
    name: h.name,
    mgmtIp: h.mgmtIp,
    netns: namespaces.includes(h.netns),
    daemons: {
      anchor: livePidFrom(h.pidFile.anchor),
      virtlogd: livePidFrom(h.pidFile.virtlogd),
      virtlockd: livePidFrom(h.pidFile.virtlockd),
      libvirtd: livePidFrom(h.pidFile.libvirtd),
      'glusterfs-fuse': livePidFrom(h.pidFile.fuse),
      ...(state?.agents.includes(h.name) ? { agent: livePidFrom(h.pidFile.agent) } : {}),
    },
    storeMounted: storeMounted(h, p),
  }));
  const glusterd = livePidFrom(p.glusterPid);
  const volume = await volumeState(p);
  const api = state?.api ? livePidFrom(state.api.pidFile) : null;
  const up =
    state !== null &&
    hosts.length > 0 &&
    namespaces.includes(FAB_NS) &&
    namespaces.includes(CLI_NS) &&
    hosts.every((h) => h.netns && h.storeMounted && Object.values(h.daemons).every((d) => d !== null)) &&
    glusterd !== null &&
    volume === 'Started' &&
    (!state.api || (api !== null && apiStoreMounted(p)));
  return {
    up,
    state,
    namespaces,
    hosts,
    glusterd,
    volume,
    hostsEntry: hostsEntryPresent(),
    api,
    apiStoreMounted: apiStoreMounted(p),
  };
}

export function formatStatus(s: LabStatus): string {
  const pid = (v: number | null) => (v === null ? 'DOWN' : `pid ${v}`);
  const lines = [
    `lab: ${s.up ? 'up' : s.state || s.namespaces.length ? 'NOT healthy' : 'down'}${s.state ? ` (state in ${s.state.stateDir})` : ''}`,
    `namespaces: ${s.namespaces.join(' ') || '(none)'}`,
    `gluster: glusterd ${pid(s.glusterd)}, volume ks-shared ${s.volume}, /etc/hosts entry ${s.hostsEntry ? 'present' : 'absent'}`,
  ];
  for (const h of s.hosts) {
    const daemons = Object.entries(h.daemons)
      .map(([k, v]) => `${k} ${v ?? 'DOWN'}`)
      .join(', ');
    lines.push(
      `${h.name} ${h.mgmtIp}: netns ${h.netns ? 'ok' : 'MISSING'}, store ${h.storeMounted ? 'mounted' : 'NOT mounted'}; ${daemons}`,
      `  libvirt: qemu+tcp://${h.mgmtIp}/system`,
    );
  }
  if (s.state) {
    lines.push(
      `store path on every host: ${s.state.store} (an empty directory in the root ns)`,
      `root ns: ${ROOT_LINK} ${ROOT_MGMT_IP} on brm: libvirtd, agents and guests are reachable from here`,
    );
  }
  if (s.state?.api) {
    lines.push(
      `api: ${s.state.api.url} ${pid(s.api)}; credentials ${s.state.api.openrc}; image store ${s.apiStoreMounted ? 'mounted' : 'NOT mounted'}`,
    );
  }
  if (s.state?.networks) {
    const n = s.state.networks;
    lines.push(`networks: provider ${n.provider.networkId} (br0), external ${n.external.networkId} (brx)`);
  }
  return lines.join('\n');
}
