/**
 * Host agent against raw libvirt, and the lab's build time:
 *
 *   node dist/bench/agent-libvirt.js [--runs 5] [--lab-runs 3] [--sections start,migrate,lab]
 *                                    [--ping-interval-ms 10] [--json FILE] [--compare PREVIOUS.json]
 *
 * 1. start: a guest started by a real host agent process (its `start` RPC through AgentClient, LibvirtDriver)
 *    beside `virsh create` of the same domain XML (the driver's definition, read back with `virsh dumpxml
 *    --inactive`, under another name and uuid with its own overlay) on the same libvirtd. Timed to libvirt's
 *    lifecycle event "Started" (seen by a `virsh event` watcher), to the command's return, and to the guest's
 *    KVMSTACK-GUEST-READY line on its console log. Runs alternate agent-first and virsh-first.
 * 2. migrate: live migrations back and forth between two libvirt hosts sharing a directory store, through the
 *    agent (AgentClient.migrate) beside raw `virsh migrate` with the flags the driver uses. Downtime is ping
 *    loss (a ping from the hosts' network namespace every --ping-interval-ms: lost replies x the interval) and
 *    libvirt's own figure (`virsh domjobinfo --completed` on the destination).
 * 3. lab: `kvmstack lab up --hosts 3` and `kvmstack lab down`. Only one lab can exist on the machine: the
 *    bench first waits for the CI run announced in /tmp/ci-fresh.log (a line `rc=...`), then holds
 *    /tmp/kvmstack-lab.lock (flock) for each up+down cycle, and refuses to touch a lab it did not make.
 *
 * Sections 1 and 2 run two private libvirtds (test/lab/private-libvirt.ts) in a network namespace kvb-*, an
 * in-process API on SQLite that the agents join, and TCG guests of the tiny image. Everything is removed at
 * the end, on failure and on SIGINT/SIGTERM; processes are ended by their pids only. Needs root.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { AgentClient } from '../src/cluster/agent-client.js';
import { getHost } from '../src/cluster/hosts/service.js';
import { loadConfig } from '../src/common/config/load.js';
import { run, tryRun } from '../src/common/exec.js';
import { pidAlive, stopByPidFile } from '../src/common/pidfile.js';
import type { DomainSpec } from '../host-agent/driver/types.js';
import { AGENT_MAIN, CLI_MAIN, envWithout, startDetached } from '../tools/cli/daemons.js';
import { ensureTinyImage, tinyImagePath } from '../tools/image/tiny.js';
import { labNamespaces } from '../tools/lab/network.js';
import { PrivateLibvirt, TestNetns, stopPrivateLibvirt } from '../test/lab/private-libvirt.js';
import { startTestApi, type TestApi } from '../test/support/api.js';
import { staticGuestConfigDrive } from '../test/support/guest.js';

const MARKER = 'KVMSTACK-GUEST-READY';
const NET_CIDR = '10.95.0.1/24';
const GUEST_IP = '10.95.0.20';
const GUEST_MAC = '52:54:00:95:00:20';
const GUEST_MEMORY_MB = 192;
const TCP_PORTS = { a: 16611, b: 16612 } as const;
const ENROLLMENT_SECRET = 'kvb-bench-enrollment-secret';
const LAB_LOCK = '/tmp/kvmstack-lab.lock';
const LAB_HOSTS = 3;
/** The flags LibvirtDriver.migrate passes (a plain directory store needs --unsafe). */
const MIGRATE_URI = 'tcp://127.0.0.1';
const MIGRATE_FLAGS = [
  ...['--live', '--p2p', '--persistent', '--undefinesource', '--verbose', '--unsafe'],
  ...['--migrateuri', MIGRATE_URI],
];
const CLK_TCK = 100;

type Section = 'start' | 'migrate' | 'lab';
const SECTIONS: Section[] = ['start', 'migrate', 'lab'];

interface Options {
  runs: number;
  labRuns: number;
  sections: Set<Section>;
  pingIntervalMs: number;
  ciLog: string;
  ciWaitMaxS: number;
  json?: string;
  compare?: string;
}

interface MetricDef {
  key: string;
  label: string;
  /** Display unit; samples are always milliseconds. */
  unit: 'ms' | 's';
}

interface Metric extends MetricDef {
  samples: number[];
  n: number;
  median: number;
  min: number;
  max: number;
}

interface RatioRow {
  key: string;
  label: string;
  agentKey: string;
  virshKey: string;
  ratio: number;
  target?: number;
}

interface SectionLoad {
  section: Section;
  seconds: number;
  /** Busy CPU of the whole host during the section, % of all cores. */
  hostBusyPct: number | null;
  loadAvg1AtEnd: number;
}

interface Report {
  date: string;
  node: string;
  cpus: number;
  cpuModel: string;
  runs: number;
  labRuns: number;
  pingIntervalMs: number;
  /** The interval ping really kept, median over the migrations. */
  pingIntervalKeptMs: number | null;
  guest: string;
  loadAvgAtStart: number[];
  loadAvgAtEnd: number[];
  /** 1-minute load average sampled every 5 s during the run. */
  loadAvg1: { min: number; max: number; mean: number; samples: number };
  sections: SectionLoad[];
  metrics: Metric[];
  ratios: RatioRow[];
  notes: string[];
}

const METRICS: MetricDef[] = [
  { key: 'start.agent.event', label: 'start, agent RPC    -> libvirt "Started" event', unit: 'ms' },
  { key: 'start.virsh.event', label: 'start, virsh create -> libvirt "Started" event', unit: 'ms' },
  { key: 'start.agent.return', label: 'start, agent RPC    -> RPC returned (running)', unit: 'ms' },
  { key: 'start.virsh.return', label: 'start, virsh create -> virsh returned', unit: 'ms' },
  { key: 'start.agent.marker', label: 'start, agent RPC    -> guest ready marker', unit: 'ms' },
  { key: 'start.virsh.marker', label: 'start, virsh create -> guest ready marker', unit: 'ms' },
  { key: 'migrate.agent.time', label: 'migrate, agent RPC      : migration time', unit: 'ms' },
  { key: 'migrate.virsh.time', label: 'migrate, virsh migrate  : migration time', unit: 'ms' },
  { key: 'migrate.agent.pingloss', label: 'migrate, agent RPC      : ping loss x interval', unit: 'ms' },
  { key: 'migrate.virsh.pingloss', label: 'migrate, virsh migrate  : ping loss x interval', unit: 'ms' },
  { key: 'migrate.agent.pinggap', label: 'migrate, agent RPC      : longest ping gap', unit: 'ms' },
  { key: 'migrate.virsh.pinggap', label: 'migrate, virsh migrate  : longest ping gap', unit: 'ms' },
  { key: 'migrate.agent.downtime', label: 'migrate, agent RPC      : libvirt downtime', unit: 'ms' },
  { key: 'migrate.virsh.downtime', label: 'migrate, virsh migrate  : libvirt downtime', unit: 'ms' },
  { key: 'lab.up', label: `lab up --hosts ${LAB_HOSTS}`, unit: 's' },
  { key: 'lab.down', label: 'lab down', unit: 's' },
];

const RATIOS: { key: string; label: string; agent: string; virsh: string; target?: number }[] = [
  {
    key: 'start.event',
    label: 'start -> "Started" event',
    agent: 'start.agent.event',
    virsh: 'start.virsh.event',
    target: 1.2,
  },
  {
    key: 'start.return',
    label: 'start -> command returned',
    agent: 'start.agent.return',
    virsh: 'start.virsh.return',
    target: 1.2,
  },
  {
    key: 'start.marker',
    label: 'start -> guest ready marker',
    agent: 'start.agent.marker',
    virsh: 'start.virsh.marker',
  },
  { key: 'migrate.time', label: 'migration time', agent: 'migrate.agent.time', virsh: 'migrate.virsh.time' },
  {
    key: 'migrate.pingloss',
    label: 'downtime, ping loss',
    agent: 'migrate.agent.pingloss',
    virsh: 'migrate.virsh.pingloss',
  },
  {
    key: 'migrate.downtime',
    label: 'downtime, libvirt',
    agent: 'migrate.agent.downtime',
    virsh: 'migrate.virsh.downtime',
  },
];

// ---------------------------------------------------------------------------------------------- arguments

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', short: 'n', default: '5' },
      'lab-runs': { type: 'string', default: '3' },
      sections: { type: 'string', default: SECTIONS.join(',') },
      'ping-interval-ms': { type: 'string', default: '10' },
      'ci-log': { type: 'string', default: '/tmp/ci-fresh.log' },
      'ci-wait-max': { type: 'string', default: '1800' },
      json: { type: 'string' },
      compare: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      'usage: node dist/bench/agent-libvirt.js [--runs 5] [--lab-runs 3] [--sections start,migrate,lab]\n' +
        '                                        [--ping-interval-ms 10] [--ci-log /tmp/ci-fresh.log] [--ci-wait-max 1800]\n' +
        '                                        [--json FILE] [--compare PREVIOUS.json]',
    );
    process.exit(0);
  }
  const int = (name: string, text: string, min: number, max = Infinity): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name}: expected an integer in ${min}..${max}, got "${text}"`);
    return n;
  };
  const sections = new Set<Section>();
  for (const s of String(values.sections)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (!SECTIONS.includes(s as Section)) throw new Error(`--sections: unknown section "${s}"`);
    sections.add(s as Section);
  }
  return {
    runs: int('runs', String(values.runs), 1, 50),
    labRuns: int('lab-runs', String(values['lab-runs']), 1, 10),
    sections,
    pingIntervalMs: int('ping-interval-ms', String(values['ping-interval-ms']), 2, 1000),
    ciLog: String(values['ci-log']),
    ciWaitMaxS: int('ci-wait-max', String(values['ci-wait-max']), 0),
    json: values.json,
    compare: values.compare,
  };
}

// ---------------------------------------------------------------------------------------------- helpers

/** Wall-clock milliseconds with sub-millisecond resolution (comparable with virsh's event timestamps). */
const now = (): number => performance.timeOrigin + performance.now();

interface Cleanup {
  /** Runs it now, once (and unregisters it); while cleanupAll() runs, waits for that instead. */
  run(): Promise<void>;
  /** Unregisters it without running it (the work was done otherwise). */
  drop(): void;
}

/** What to undo, last registered first. */
const cleanups: { what: string; fn: () => Promise<void> }[] = [];
function onCleanup(what: string, fn: () => Promise<void>): Cleanup {
  const entry = { what, fn };
  cleanups.push(entry);
  const remove = () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
    return i >= 0;
  };
  return {
    run: async () => {
      if (cleaning) return cleaning;
      if (remove()) await fn();
    },
    drop: () => void remove(),
  };
}
let cleaning: Promise<void> | null = null;
/** Undoes everything registered, in reverse order; a signal's cleanup and the normal end share one run. */
function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const c = cleanups.pop()!;
      try {
        await c.fn();
      } catch (err) {
        console.error(`   cleanup "${c.what}" failed: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}

async function waitFor<T>(
  what: string,
  ms: number,
  everyMs: number,
  probe: () => Promise<T | null> | T | null,
) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** CPU time of the whole host (all cores, not idle nor iowait), in seconds. */
function hostBusySeconds(): number | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return (user + nice + system + irq + softirq + (steal ?? 0)) / CLK_TCK;
  } catch {
    return null;
  }
}

function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A long-running child (ping, virsh event, the lab lock holder): execFile with an argument array. */
function background(cmd: string, args: string[], onLine: (line: string) => void): ChildProcess {
  const child = execFile(cmd, args, { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, () => undefined);
  let pending = '';
  child.stdout?.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) onLine(l);
  });
  return child;
}

/** Ends a child this bench started, by its handle, and waits until its output is read to the end. */
async function endChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

// ---------------------------------------------------------------------------------------------- observers

/** `virsh event --loop --event lifecycle --timestamp` on one libvirtd: when each domain started, stopped... */
class LifecycleWatch {
  private events: { at: number; domain: string; event: string; detail: string }[] = [];
  private waiters: (() => void)[] = [];
  private constructor(private readonly child: ChildProcess) {}

  static async start(uri: string): Promise<LifecycleWatch> {
    let w: LifecycleWatch | null = null;
    const child = background(
      'virsh',
      ['-c', uri, 'event', '--loop', '--event', 'lifecycle', '--timestamp'],
      (line) => w?.onLine(line),
    );
    w = new LifecycleWatch(child);
    await sleep(300); // connected and registered before anything is measured
    if (child.exitCode !== null) throw new Error(`virsh event on ${uri} exited at once`);
    return w;
  }

  private onLine(line: string): void {
    // 2025-01-01 12:00:00.123+0000: event 'lifecycle' for domain 'kvb-vm1': Started Booted
    const m =
      /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d+)([+-]\d\d)(\d\d): event 'lifecycle' for domain '?([^':]+)'?: (\S+) ?(\S*)/.exec(
        line.trim(),
      );
    if (!m) return;
    const at = Date.parse(`${m[1]}T${m[2]}${m[3]}:${m[4]}`);
    this.events.push({ at, domain: m[5], event: m[6], detail: m[7] });
    for (const w of this.waiters.splice(0)) w();
  }

  /** The time of the first `event` of `domain` at or after `since`. */
  async waitEvent(domain: string, event: string, since: number, timeoutMs = 60_000): Promise<number> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      // virsh stamps whole milliseconds: allow the rounding
      const e = this.events.find((x) => x.domain === domain && x.event === event && x.at >= since - 1);
      if (e) return e.at;
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no lifecycle event ${event} for ${domain} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  stop(): Promise<void> {
    return endChild(this.child);
  }
}

/** Polls a console log for the guest's ready marker. */
async function waitMarker(file: string, timeoutMs = 90_000): Promise<number> {
  return waitFor(`${MARKER} in ${file}`, timeoutMs, 10, () => {
    try {
      return readFileSync(file, 'utf8').includes(MARKER) ? now() : null;
    } catch {
      return null;
    }
  });
}

/** ping -D every intervalMs from the namespace; the loss is counted between the first and last reply. */
class Pinger {
  private replies = new Map<number, number>();
  private constructor(
    private readonly child: ChildProcess,
    private readonly intervalMs: number,
  ) {}

  static start(net: TestNetns, ip: string, intervalMs: number): Pinger {
    let p: Pinger | null = null;
    const args = [
      'netns',
      'exec',
      net.name,
      'ping',
      '-D',
      '-n',
      '-i',
      String(intervalMs / 1000),
      '-W',
      '2',
      ip,
    ];
    const child = background('ip', args, (line) => p?.onLine(line));
    p = new Pinger(child, intervalMs);
    return p;
  }

  private onLine(line: string): void {
    const m = /^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)/.exec(line);
    if (m && !line.includes('DUP!')) this.replies.set(Number(m[2]), Number(m[1]) * 1000);
  }

  get count(): number {
    return this.replies.size;
  }

  async stop(): Promise<{
    lost: number;
    lossMs: number;
    gapMs: number;
    intervalMs: number;
    replies: number;
  }> {
    await endChild(this.child, 'SIGINT');
    const seqs = [...this.replies.keys()].sort((a, b) => a - b);
    if (seqs.length < 2) throw new Error('ping: fewer than 2 replies');
    const first = seqs[0];
    const last = seqs[seqs.length - 1];
    // The interval ping really kept (it drifts on a busy host), from the replies' own timestamps.
    const interval = (this.replies.get(last)! - this.replies.get(first)!) / (last - first) || this.intervalMs;
    const lost = last - first + 1 - seqs.length;
    let gap = 0;
    for (let i = 1; i < seqs.length; i++)
      gap = Math.max(gap, this.replies.get(seqs[i])! - this.replies.get(seqs[i - 1])!);
    return { lost, lossMs: lost * interval, gapMs: gap, intervalMs: interval, replies: seqs.length };
  }
}

// ---------------------------------------------------------------------------------------------- the rig

interface AgentHost {
  name: 'kvbha' | 'kvbhb';
  libvirt: PrivateLibvirt;
  client: AgentClient;
  hostId: string;
  events: LifecycleWatch;
}

/** Two private libvirtds, an API, one agent process per host, and the tiny image on a shared directory. */
class Rig {
  readonly root = mkdtempSync(join(tmpdir(), 'kvb-bench-'));
  readonly store = join(this.root, 'store');
  net!: TestNetns;
  api!: TestApi;
  a!: AgentHost;
  b!: AgentHost;
  image = '';
  readonly notes: string[] = [];

  async up(): Promise<void> {
    chmodSync(this.root, 0o755); // QEMU runs as libvirt-qemu and must reach the store below
    onCleanup(`remove ${this.root}`, async () => rmSync(this.root, { recursive: true, force: true }));
    mkdirSync(join(this.store, 'images'), { recursive: true });
    const cached = await ensureTinyImage({ out: tinyImagePath(loadConfig({ env: {} }).DEFAULT.data_dir) });
    this.image = join(this.store, 'images', 'tiny.qcow2');
    copyFileSync(cached.path, this.image); // a private copy: libvirt relabels what its guests use

    this.net = await TestNetns.create(NET_CIDR, 'kvb');
    onCleanup(`netns ${this.net.name}`, () => this.net.delete());
    const hostA = await this.startLibvirt('kvbha', TCP_PORTS.a);
    const hostB = await this.startLibvirt('kvbhb', TCP_PORTS.b, join(hostA.dir, 'cache'));

    this.api = await startTestApi('sqlite', {
      overrides: { 'cluster.enrollment_secret': ENROLLMENT_SECRET },
    });
    onCleanup('API', () => this.api.close());
    this.a = await this.startAgent('kvbha', hostA);
    this.b = await this.startAgent('kvbhb', hostB);
  }

  private async startLibvirt(name: string, tcpPort: number, seedCache?: string): Promise<PrivateLibvirt> {
    // stop() works from the pid files, so it is registered before the daemons exist
    const dir = join(this.root, name);
    onCleanup(`libvirt ${name}`, () => stopPrivateLibvirt(dir));
    return PrivateLibvirt.start({ root: this.root, name, netns: this.net, tcpPort, seedCache });
  }

  private async startAgent(name: 'kvbha' | 'kvbhb', libvirt: PrivateLibvirt): Promise<AgentHost> {
    const dir = join(this.root, 'agents', name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const conf = join(dir, 'agent.conf');
    writeFileSync(
      conf,
      [
        `# kvmstack host agent of bench host ${name}`,
        '[agent]',
        `api_url = ${this.api.url}`,
        `enrollment_secret = ${ENROLLMENT_SECRET}`,
        `hostname = ${name}`,
        'host_ip = 127.0.0.1',
        'rpc_port = 0',
        `state_dir = ${dir}`,
        `log_file = ${join(dir, 'agent.log')}`,
        'driver = libvirt',
        `libvirt_uri = ${libvirt.uri}`,
        'virt_type = qemu',
        '',
        '[store shared]',
        'type = dir',
        `mount = ${this.store}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const pidFile = join(dir, 'agent.pid');
    const pid = startDetached({
      args: [AGENT_MAIN, '--config', conf],
      logFile: join(dir, 'agent.out'),
      env: envWithout((k) => k.startsWith('KVMSTACK_')),
    });
    writeFileSync(pidFile, `${pid}\n`);
    onCleanup(`agent ${name}`, async () => {
      await stopByPidFile(pidFile, AGENT_MAIN);
    });
    const host = await waitFor(`the agent of ${name} to join`, 60_000, 100, async () => {
      if (!pidAlive(pid)) throw new Error(`the agent of ${name} exited: see ${dir}/agent.out and agent.log`);
      const h = await getHost(this.api.service.deps.db, name).catch(() => null);
      return h?.rpcUrl ? h : null;
    });
    const client = new AgentClient(host, 300_000);
    // answering RPCs (a domain it does not have: 404)
    await waitFor(`the RPC endpoint of ${name}`, 30_000, 100, () =>
      client.status(randomUUID()).then(
        () => true,
        (err: Error) => (/not defined on this host/.test(err.message) ? true : null),
      ),
    );
    const events = await LifecycleWatch.start(libvirt.uri);
    onCleanup(`virsh event ${name}`, () => events.stop());
    return { name, libvirt, client, hostId: host.uuid, events };
  }

  spec(): DomainSpec {
    const uuid = '6b766d73-6b76-4000-8000-000000000001';
    const dir = join(this.store, 'vm1');
    return {
      uuid,
      name: 'kvb-vm1',
      vcpus: 1,
      memoryMb: GUEST_MEMORY_MB,
      disks: [
        {
          target: 'vda',
          path: join(dir, 'disk.qcow2'),
          format: 'qcow2',
          backingPath: this.image,
          backingFormat: 'qcow2',
        },
      ],
      nics: [{ mac: GUEST_MAC, bridge: this.net.bridge }],
      configDrive: staticGuestConfigDrive({
        uuid,
        name: 'kvb-vm1',
        hostname: 'kvbvm1.novalocal',
        mac: GUEST_MAC,
        ip: GUEST_IP,
        mtu: 1500,
        networkId: 'n1',
      }),
      consoleLog: join(dir, 'console.log'),
    };
  }
}

// ---------------------------------------------------------------------------------------------- sections

type Samples = Map<string, number[]>;
const push = (s: Samples, key: string, v: number) => s.set(key, [...(s.get(key) ?? []), v]);

/** The same domain as raw XML: the driver's definition under another name and uuid, with its own overlay. */
async function rawCopy(
  rig: Rig,
  spec: DomainSpec,
): Promise<{ uuid: string; name: string; xmlFile: string; consoleLog: string }> {
  const xml = await rig.a.libvirt.virsh(['dumpxml', '--inactive', spec.uuid]);
  const uuid = '6b766d73-6b76-4000-8000-000000000002';
  const name = 'kvb-vm2';
  const dir = join(rig.store, 'vm2');
  mkdirSync(dir, { recursive: true });
  const disk = join(dir, 'disk.qcow2');
  const consoleLog = join(dir, 'console.log');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', rig.image, disk]);
  const swap = (text: string, from: string, to: string): string => {
    if (!text.includes(from)) throw new Error(`the driver's XML has no ${from}`);
    return text.split(from).join(to);
  };
  let copy = swap(xml, `<uuid>${spec.uuid}</uuid>`, `<uuid>${uuid}</uuid>`);
  copy = swap(copy, `<name>${spec.name}</name>`, `<name>${name}</name>`);
  copy = swap(copy, `'${spec.disks[0].path}'`, `'${disk}'`);
  copy = swap(copy, `'${spec.consoleLog}'`, `'${consoleLog}'`);
  const xmlFile = join(rig.root, 'vm2.xml');
  writeFileSync(xmlFile, copy);
  return { uuid, name, xmlFile, consoleLog };
}

function removeFile(f: string): void {
  try {
    unlinkSync(f);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

async function startSection(rig: Rig, opts: Options, out: Samples): Promise<void> {
  const spec = rig.spec();
  const { a } = rig;
  const gen = 1;
  await a.client.define(spec, gen, a.hostId);
  const raw = await rawCopy(rig, spec);
  onCleanup('domains of the start section', async () => {
    await a.libvirt.virsh(['destroy', raw.uuid]).catch(() => undefined);
    await a.libvirt.virsh(['destroy', spec.uuid]).catch(() => undefined);
    await a.libvirt.virsh(['undefine', spec.uuid]).catch(() => undefined);
  });

  const viaAgent = async (): Promise<void> => {
    removeFile(spec.consoleLog);
    const t0 = now();
    await a.client.start(spec.uuid, gen);
    const returned = now();
    const started = await a.events.waitEvent(spec.name, 'Started', t0);
    const marker = await waitMarker(spec.consoleLog);
    push(out, 'start.agent.event', started - t0);
    push(out, 'start.agent.return', returned - t0);
    push(out, 'start.agent.marker', marker - t0);
    await a.client.destroy(spec.uuid, gen);
  };
  const viaVirsh = async (): Promise<void> => {
    removeFile(raw.consoleLog);
    const t0 = now();
    await run('virsh', ['-c', a.libvirt.uri, 'create', raw.xmlFile]);
    const returned = now();
    const started = await a.events.waitEvent(raw.name, 'Started', t0);
    const marker = await waitMarker(raw.consoleLog);
    push(out, 'start.virsh.event', started - t0);
    push(out, 'start.virsh.return', returned - t0);
    push(out, 'start.virsh.marker', marker - t0);
    await a.libvirt.virsh(['destroy', raw.uuid]);
  };

  for (let i = 0; i < opts.runs; i++) {
    const order = i % 2 === 0 ? [viaAgent, viaVirsh] : [viaVirsh, viaAgent];
    for (const step of order) await step();
    const last = (k: string) => (out.get(k) ?? []).at(-1)!.toFixed(0);
    console.log(
      `   run ${i + 1}/${opts.runs}: agent ${last('start.agent.event')} ms to Started, ${last('start.agent.marker')} ms to the marker; ` +
        `virsh ${last('start.virsh.event')} ms, ${last('start.virsh.marker')} ms`,
    );
  }
  await a.client.undefine(spec.uuid, gen);
}

interface MigrationResult {
  timeMs: number;
  lossMs: number;
  gapMs: number;
  downtimeMs: number | null;
  intervalMs: number;
}

/** One live migration under ping; `go` does it and resolves when the command has returned. */
async function measureMigration(
  rig: Rig,
  opts: Options,
  dst: AgentHost,
  uuid: string,
  go: () => Promise<unknown>,
): Promise<MigrationResult> {
  const ping = Pinger.start(rig.net, GUEST_IP, opts.pingIntervalMs);
  try {
    await waitFor('ping replies from the guest', 15_000, 20, () => (ping.count >= 20 ? true : null));
  } catch (err) {
    await ping.stop().catch(() => undefined);
    throw err;
  }
  const t0 = now();
  try {
    await go();
  } catch (err) {
    await ping.stop().catch(() => undefined);
    throw err;
  }
  const timeMs = now() - t0;
  // replies again for a while after the switch-over: the loss is counted up to the last reply
  const before = ping.count;
  try {
    await waitFor('the guest to answer ping after the migration', 15_000, 20, () =>
      ping.count >= before + 30 ? true : null,
    );
  } catch (err) {
    await ping.stop().catch(() => undefined);
    throw err;
  }
  const loss = await ping.stop();
  const info = await tryRun('virsh', ['-c', dst.libvirt.uri, 'domjobinfo', uuid, '--completed']);
  const m = /^Total downtime:\s+(\d+)\s*ms/m.exec(info.stdout);
  return {
    timeMs,
    lossMs: loss.lossMs,
    gapMs: loss.gapMs,
    downtimeMs: m ? Number(m[1]) : null,
    intervalMs: loss.intervalMs,
  };
}

const NO_DOWNTIME =
  'libvirt gave no "Total downtime" (domjobinfo --completed on the destination) for some migrations';

/** The interval ping really kept in each migration (it asks for --ping-interval-ms; a busy host stretches it). */
const pingIntervals: number[] = [];

/**
 * 2 x runs live migrations of one guest, back and forth between the hosts; which tool does each goes
 * agent, virsh, virsh, agent, ... so that both go both ways and neither always comes first after the boot.
 * Raw virsh leaves the kvmstack metadata as it is: after an agent migration X -> Y, two virsh migrations bring
 * the guest back to Y, the owner its metadata names, before the agent acts again.
 */
async function migrateSection(rig: Rig, opts: Options, out: Samples): Promise<void> {
  const spec = rig.spec();
  const hosts = [rig.a, rig.b];
  let gen = 1;
  let where = 0;
  onCleanup('the domain of the migrate section', async () => {
    for (const h of hosts) {
      await h.libvirt.virsh(['destroy', spec.uuid]).catch(() => undefined);
      await h.libvirt.virsh(['undefine', spec.uuid]).catch(() => undefined);
    }
  });
  await rig.a.client.define(spec, gen, rig.a.hostId);
  removeFile(spec.consoleLog);
  await rig.a.client.start(spec.uuid, gen);
  await waitMarker(spec.consoleLog);
  const done = { agent: 0, virsh: 0 };
  for (let i = 0; i < 2 * opts.runs; i++) {
    const kind = (['agent', 'virsh', 'virsh', 'agent'] as const)[i % 4];
    const from = hosts[where];
    const to = hosts[1 - where];
    const r = await measureMigration(rig, opts, to, spec.uuid, () =>
      kind === 'agent'
        ? from.client.migrate(spec.uuid, gen, {
            uri: to.libvirt.tcpUri,
            migrateUri: MIGRATE_URI,
            owner: to.hostId,
          })
        : run('virsh', ['-c', from.libvirt.uri, 'migrate', ...MIGRATE_FLAGS, spec.uuid, to.libvirt.tcpUri], {
            timeoutMs: 300_000,
          }),
    );
    where = 1 - where;
    if (kind === 'agent') {
      gen += 1;
      const st = await to.client.status(spec.uuid);
      if (st.state !== 'running' || st.generation !== gen)
        throw new Error(`after the migration ${spec.uuid} is ${st.state}, generation ${st.generation}`);
    } else {
      const state = (await to.libvirt.virsh(['domstate', spec.uuid])).trim();
      if (state !== 'running') throw new Error(`after the migration ${spec.uuid} is ${state}`);
    }
    push(out, `migrate.${kind}.time`, r.timeMs);
    push(out, `migrate.${kind}.pingloss`, r.lossMs);
    push(out, `migrate.${kind}.pinggap`, r.gapMs);
    pingIntervals.push(r.intervalMs);
    if (r.downtimeMs !== null) push(out, `migrate.${kind}.downtime`, r.downtimeMs);
    else if (!rig.notes.includes(NO_DOWNTIME)) rig.notes.push(NO_DOWNTIME);
    done[kind] += 1;
    console.log(
      `   ${kind} ${done[kind]}/${opts.runs} ${from.name} -> ${to.name}: ${r.timeMs.toFixed(0)} ms, ` +
        `ping loss ${r.lossMs.toFixed(0)} ms (longest gap ${r.gapMs.toFixed(0)} ms, ping every ${r.intervalMs.toFixed(1)} ms), ` +
        `libvirt downtime ${r.downtimeMs ?? '-'} ms`,
    );
  }
  await hosts[where].libvirt.virsh(['destroy', spec.uuid]);
  await hosts[where].libvirt.virsh(['undefine', spec.uuid]);
}

// ---------------------------------------------------------------------------------------------- lab

/** Waits for the CI run announced in `file` to end (a line starting with rc=); false if it waited too long. */
async function waitForCi(file: string, maxS: number, notes: string[]): Promise<boolean> {
  if (!existsSync(file)) {
    notes.push(`${file} does not exist: no CI run to wait for`);
    return true;
  }
  const done = () => /^rc=/m.test(readFileSync(file, 'utf8'));
  if (done()) return true;
  console.log(`   waiting for the CI run to end (a line rc=... in ${file})`);
  const t0 = Date.now();
  while (!done()) {
    if (Date.now() - t0 > maxS * 1000) {
      notes.push(`the CI run of ${file} did not end within ${maxS} s: lab section skipped`);
      return false;
    }
    await sleep(5000);
  }
  notes.push(`waited ${((Date.now() - t0) / 1000).toFixed(0)} s for the CI run to end`);
  return true;
}

/**
 * Holds /tmp/kvmstack-lab.lock: `flock LOCK sh -c 'echo locked; exec cat'` in its own session (a Ctrl-C
 * meant for the bench must not release the lock while its cleanup still runs `lab down`). The lock goes when
 * stdin closes: on release(), and also when the bench dies.
 */
class LabLock {
  /** How long acquire() waited for another holder. */
  waitedMs = 0;
  private constructor(private readonly child: ChildProcess) {}

  static async acquire(): Promise<LabLock> {
    let locked = false;
    const child = background(
      'setsid',
      ['flock', LAB_LOCK, 'sh', '-c', 'echo locked; exec cat >/dev/null'],
      (line) => {
        if (line.trim() === 'locked') locked = true;
      },
    );
    const lock = new LabLock(child);
    let waited = false;
    const t0 = Date.now();
    while (!locked) {
      if (child.exitCode !== null) throw new Error(`flock ${LAB_LOCK} exited (${child.exitCode})`);
      if (!waited && Date.now() - t0 > 2000) {
        console.log(`   waiting for ${LAB_LOCK} (another lab user holds it)`);
        waited = true;
      }
      await sleep(50);
    }
    lock.waitedMs = Date.now() - t0;
    return lock;
  }

  async release(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin?.end();
    const t = setTimeout(() => this.child.kill('SIGTERM'), 5000);
    await exited;
    clearTimeout(t);
  }
}

async function labCli(args: string[], timeoutMs: number): Promise<{ ms: number; code: number; out: string }> {
  const t0 = now();
  const r = await tryRun(process.execPath, [CLI_MAIN, 'lab', ...args], timeoutMs);
  return { ms: now() - t0, code: r.code, out: `${r.stdout}${r.stderr}` };
}

async function labSection(opts: Options, out: Samples, notes: string[]): Promise<void> {
  if (!(await waitForCi(opts.ciLog, opts.ciWaitMaxS, notes))) return;
  let lockWaitMs = 0;
  for (let i = 0; i < opts.labRuns; i++) {
    const lock = await LabLock.acquire();
    lockWaitMs += lock.waitedMs;
    const unlock = onCleanup('the lab lock', () => lock.release());
    try {
      const present = await labNamespaces();
      if (present.length) {
        notes.push(`a lab is up (${present.join(', ')}), not made by this bench: lab section stopped`);
        return;
      }
      // registered after the lock: a cleanup takes the lab down before it lets the lock go
      const teardown = onCleanup('lab down', async () => {
        const r = await labCli(['down'], 180_000);
        if (r.code !== 0) console.error(`   lab down failed:\n${r.out}`);
      });
      try {
        const up = await labCli(['up', '--hosts', String(LAB_HOSTS)], 300_000);
        if (up.code !== 0) throw new Error(`lab up failed (exit ${up.code}):\n${up.out}`);
        const down = await labCli(['down'], 180_000);
        if (down.code !== 0) throw new Error(`lab down failed (exit ${down.code}):\n${down.out}`);
        teardown.drop();
        push(out, 'lab.up', up.ms);
        push(out, 'lab.down', down.ms);
        console.log(
          `   cycle ${i + 1}/${opts.labRuns}: up ${(up.ms / 1000).toFixed(2)} s, down ${(down.ms / 1000).toFixed(2)} s`,
        );
      } finally {
        await teardown.run();
      }
    } finally {
      await unlock.run();
    }
  }
  if (lockWaitMs > 1000)
    notes.push(
      `the lab section waited ${(lockWaitMs / 1000).toFixed(0)} s in all for ${LAB_LOCK} (held by others)`,
    );
}

// ---------------------------------------------------------------------------------------------- output

const COL = { label: 48, n: 3, v: 10 };

function fmtValue(v: number, unit: 'ms' | 's'): string {
  if (!Number.isFinite(v)) return '-';
  return unit === 's' ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(0)} ms`;
}

function summarize(samples: Samples): Metric[] {
  const out: Metric[] = [];
  for (const d of METRICS) {
    const xs = samples.get(d.key);
    if (!xs?.length) continue;
    out.push({
      ...d,
      samples: xs,
      n: xs.length,
      median: median(xs),
      min: Math.min(...xs),
      max: Math.max(...xs),
    });
  }
  return out;
}

function ratios(metrics: Metric[]): RatioRow[] {
  const by = new Map(metrics.map((m) => [m.key, m]));
  const rows: RatioRow[] = [];
  for (const r of RATIOS) {
    const a = by.get(r.agent);
    const v = by.get(r.virsh);
    if (!a || !v) continue;
    rows.push({
      key: r.key,
      label: r.label,
      agentKey: r.agent,
      virshKey: r.virsh,
      ratio: a.median / v.median,
      target: r.target,
    });
  }
  return rows;
}

function printReport(r: Report): void {
  console.log(
    `\nkvmstack host agent vs libvirt, ${r.date}, node ${r.node}, ${r.cpus} CPU(s) (${r.cpuModel})`,
  );
  console.log(`${r.guest}; ${r.runs} runs per figure (lab: ${r.labRuns}), median / min / max`);
  console.log(
    `load average 1/5/15 min: at start ${r.loadAvgAtStart.map((x) => x.toFixed(2)).join(' ')}, at end ` +
      `${r.loadAvgAtEnd.map((x) => x.toFixed(2)).join(' ')}; 1-min load during the run ${r.loadAvg1.min.toFixed(2)}..` +
      `${r.loadAvg1.max.toFixed(2)} (mean ${r.loadAvg1.mean.toFixed(2)})`,
  );
  for (const s of r.sections) {
    console.log(
      `   ${s.section.padEnd(8)} ${s.seconds.toFixed(0).padStart(4)} s, host CPU busy ${s.hostBusyPct === null ? '-' : `${s.hostBusyPct.toFixed(0)}%`} of ${r.cpus} cores, load ${s.loadAvg1AtEnd.toFixed(2)} at its end`,
    );
  }
  console.log('');
  console.log(
    `${'figure'.padEnd(COL.label)} ${'n'.padStart(COL.n)} ${'median'.padStart(COL.v)} ${'min'.padStart(COL.v)} ${'max'.padStart(COL.v)}`,
  );
  for (const m of r.metrics) {
    console.log(
      `${m.label.padEnd(COL.label)} ${String(m.n).padStart(COL.n)} ${fmtValue(m.median, m.unit).padStart(COL.v)} ` +
        `${fmtValue(m.min, m.unit).padStart(COL.v)} ${fmtValue(m.max, m.unit).padStart(COL.v)}`,
    );
  }
  if (r.ratios.length) {
    console.log(`\n${'agent / virsh (of the medians)'.padEnd(COL.label)} ${'ratio'.padStart(COL.v)}`);
    for (const x of r.ratios) {
      const verdict =
        x.target === undefined
          ? ''
          : x.ratio <= x.target
            ? `  (target <= ${x.target}x: met)`
            : `  (target <= ${x.target}x: MISSED)`;
      console.log(`${x.label.padEnd(COL.label)} ${`${x.ratio.toFixed(2)}x`.padStart(COL.v)}${verdict}`);
    }
  }
  if (r.metrics.some((m) => m.key.startsWith('start.'))) {
    console.log(
      "\nstart: the agent's start RPC (agent process, LibvirtDriver, defined domain) vs virsh create of the " +
        'same XML (transient, own uuid and overlay) on the same libvirtd, order alternating; ' +
        '"Started" as stamped by virsh event --timestamp',
    );
  }
  if (r.metrics.some((m) => m.key.startsWith('migrate.'))) {
    console.log(
      `migrate: one guest, ${2 * r.runs} migrations kvbha <-> kvbhb by agent, virsh, virsh, agent, ...; ` +
        `virsh migrate ${MIGRATE_FLAGS.join(' ')} (the driver's flags)\n` +
        `ping asked every ${r.pingIntervalMs} ms, kept every ${r.pingIntervalKeptMs?.toFixed(1) ?? '-'} ms (median): ` +
        'loss = lost replies x the kept interval; libvirt downtime: domjobinfo --completed on the destination',
    );
  }
  for (const n of r.notes) console.log(`note: ${n}`);
}

function ratioText(now: number, before: number | undefined): string {
  if (before === undefined || !Number.isFinite(before) || before === 0 || !Number.isFinite(now)) return '-';
  return `x${(now / before).toFixed(2)}`;
}

function printComparison(r: Report, file: string): void {
  const before = JSON.parse(readFileSync(file, 'utf8')) as Report;
  console.log(`\nCompared with ${file} (${before.date}): now / before; lower is better for every figure`);
  console.log(
    `${'figure'.padEnd(COL.label)} ${'median'.padStart(8)} ${'min'.padStart(8)} ${'max'.padStart(8)}`,
  );
  for (const m of r.metrics) {
    const b = before.metrics.find((x) => x.key === m.key);
    console.log(
      `${m.label.padEnd(COL.label)} ${ratioText(m.median, b?.median).padStart(8)} ${ratioText(m.min, b?.min).padStart(8)} ${ratioText(m.max, b?.max).padStart(8)}`,
    );
  }
  for (const x of r.ratios) {
    const b = before.ratios.find((y) => y.key === x.key);
    console.log(
      `agent/virsh ${x.label}: ${x.ratio.toFixed(2)}x now, ${b ? `${b.ratio.toFixed(2)}x` : '-'} before`,
    );
  }
}

// ---------------------------------------------------------------------------------------------- main

async function preflight(sections: Set<Section>): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (namespaces, libvirtd, the lab)');
  if (!existsSync(AGENT_MAIN) || !existsSync(CLI_MAIN))
    throw new Error('build first: npx tsc -p tsconfig.json');
  const needed = [
    'ip',
    'unshare',
    'nsenter',
    'ping',
    'virsh',
    'libvirtd',
    'virtlogd',
    'virtlockd',
    'qemu-img',
  ];
  if (sections.has('lab')) needed.push('flock', 'setsid');
  for (const cmd of needed) {
    const r = await tryRun('sh', ['-c', 'command -v "$1"', 'sh', cmd]);
    if (r.code !== 0) throw new Error(`${cmd} is not installed`);
  }
}

async function main(): Promise<void> {
  const opts = parseOptions();
  await preflight(opts.sections);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: cleaning up`);
      void cleanupAll().then(() => process.exit(130));
    });
  }
  const started = Date.now();
  const loadAvgAtStart = loadavg();
  const loadSamples: number[] = [loadAvgAtStart[0]];
  const sampler = setInterval(() => loadSamples.push(loadavg()[0]), 5000);
  const samples: Samples = new Map();
  const sectionLoads: SectionLoad[] = [];
  const notes: string[] = [];
  const timed = async (section: Section, fn: () => Promise<void>) => {
    const [t0, busy0] = [Date.now(), hostBusySeconds()];
    await fn();
    const [t1, busy1] = [Date.now(), hostBusySeconds()];
    const seconds = (t1 - t0) / 1000;
    sectionLoads.push({
      section,
      seconds,
      hostBusyPct:
        busy0 !== null && busy1 !== null ? ((busy1 - busy0) / seconds / cpus().length) * 100 : null,
      loadAvg1AtEnd: loadavg()[0],
    });
  };
  try {
    if (opts.sections.has('start') || opts.sections.has('migrate')) {
      const rig = new Rig();
      console.log(`== two private libvirt hosts, an API and two agents in ${rig.root}`);
      const t0 = Date.now();
      await rig.up();
      console.log(`   up in ${((Date.now() - t0) / 1000).toFixed(1)} s (netns ${rig.net.name})`);
      if (opts.sections.has('start')) {
        console.log('== start: agent RPC beside virsh create');
        await timed('start', () => startSection(rig, opts, samples));
      }
      if (opts.sections.has('migrate')) {
        console.log('== migrate: agent RPC beside virsh migrate');
        await timed('migrate', () => migrateSection(rig, opts, samples));
      }
      notes.push(...rig.notes);
      await cleanupAll();
      cleaning = null;
    }
    if (opts.sections.has('lab')) {
      console.log(`== lab: lab up --hosts ${LAB_HOSTS} / lab down, under flock ${LAB_LOCK}`);
      await timed('lab', () => labSection(opts, samples, notes));
    }
  } finally {
    clearInterval(sampler);
    await cleanupAll();
  }
  const metrics = summarize(samples);
  const report: Report = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    runs: opts.runs,
    labRuns: opts.labRuns,
    pingIntervalMs: opts.pingIntervalMs,
    pingIntervalKeptMs: pingIntervals.length ? median(pingIntervals) : null,
    guest: `tiny guest under TCG (1 vCPU, ${GUEST_MEMORY_MB} MiB), dir store`,
    loadAvgAtStart,
    loadAvgAtEnd: loadavg(),
    loadAvg1: {
      min: Math.min(...loadSamples),
      max: Math.max(...loadSamples),
      mean: loadSamples.reduce((s, x) => s + x, 0) / loadSamples.length,
      samples: loadSamples.length,
    },
    sections: sectionLoads,
    metrics,
    ratios: ratios(metrics),
    notes,
  };
  printReport(report);
  if (opts.compare) printComparison(report, opts.compare);
  if (opts.json) {
    writeFileSync(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nwrote ${opts.json}`);
  }
  console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().catch(async (err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  await cleanupAll();
  process.exit(1);
});
