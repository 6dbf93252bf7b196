/**
 * The host agents for real: `lab up --hosts 3 --api`, then tiny TCG guests driven only through the agents'
 * RPC (AgentClient, as the API drives them), with the hosts' records and RPC secrets read from the lab API's
 * database: joining, boot, agent restart, disk locks across hosts, live migration under ping, self-fencing on
 * a lost store, and a dead host's lease freezing in its peers' reports. Needs root, libvirt, QEMU and
 * GlusterFS (tools/install-deps.sh); skips without them.
 * Only one lab can exist on a machine: tools/test.sh runs the lab files one at a time.
 */
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { Knex } from 'knex';
import { AgentClient } from '../../src/cluster/agent-client.js';
import { getHost, type Host } from '../../src/cluster/hosts/service.js';
import { loadConfig } from '../../src/common/config/load.js';
import { Conflict, NotFound } from '../../src/common/errors.js';
import { run, tryRun } from '../../src/common/exec.js';
import { commandOf, livePidFrom, pidAlive } from '../../src/common/pidfile.js';
import { openDatabase } from '../../src/db/connection.js';
import type { DomainSpec } from '../../host-agent/driver/types.js';
import { ensureTinyImage, tinyImagePath } from '../../tools/image/tiny.js';
import type { AgentTuning } from '../../tools/lab/config-files.js';
import { sleep, waitFor } from '../../tools/lab/exec.js';
import { hostPath, inHost } from '../../tools/lab/host.js';
import { labDown, labHosts, labUp, type LabState } from '../../tools/lab/lab.js';
import { startAgent, stopAgent } from '../../tools/lab/services.js';
import { FAB_NS, defaultStateDir, labPaths, type LabHost } from '../../tools/lab/topology.js';
import { labUnavailable } from '../support/lab.js';
import { staticGuestConfigDrive } from '../support/guest.js';

const STATE_DIR = defaultStateDir();
const paths = labPaths(STATE_DIR);
/** Short timings so that fencing and lease freezes show within seconds. */
const TUNING = { heartbeatInterval: 1, leaseInterval: 1, selfFenceAfter: 6 } satisfies AgentTuning;
const IMAGE = join(paths.store, 'images', 'tiny.qcow2');
const READY = /KVMSTACK-GUEST-READY .*/;

const skip = labUnavailable() ?? false;

// ---- the lab, its API and its agents ------------------------------------------------------------------------

let state: LabState;
let ownLab = false;
let db: Knex | null = null;
let token = '';
const figures: Record<string, string> = {};
const pingers = new Set<ChildProcess>();
/** What later scenarios build on; a scenario whose base failed is skipped, not failed again. */
const ok = { hosts: false, vm1: false };

const h = (i: number): LabHost => labHosts(STATE_DIR)[i - 1];
const host = (name: string): Promise<Host> => getHost(db as Knex, name);
const agentOf = async (name: string): Promise<AgentClient> => new AgentClient(await host(name), 60_000);

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${state.api?.url}/kvmstack/v1${path}`, { headers: { 'X-Auth-Token': token } });
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

interface HostView {
  id: string;
  hostname: string;
  enabled: boolean;
  revoked: boolean;
  last_report_age_s: number | null;
  lease_counter: number | null;
  inventory: Record<string, unknown>;
  stores: { state: string }[];
  domains: { uuid: string; state: string; generation: number | null; owner: string | null }[];
}
interface Observation {
  observer: string;
  subject: string;
  counter: number;
  changedAt: number;
  reportedAt: number;
}

const hostView = async (name: string) =>
  (await api<{ host: HostView }>(`/hosts/${(await host(name)).uuid}`)).host;
const observations = async () => (await api<{ observations: Observation[] }>('/leases')).observations;

/** Polls the host's reports until `check` holds; returns that report. */
async function report(name: string, what: string, check: (v: HostView) => boolean, timeoutMs = 10_000) {
  return waitFor(
    `${name}'s report: ${what}`,
    async () => {
      const v = await hostView(name);
      return check(v) ? v : null;
    },
    timeoutMs,
    250,
  );
}

async function adminToken(): Promise<string> {
  const config = loadConfig({ file: state.api?.configFile, env: {} });
  const res = await fetch(`${state.api?.url}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: {
            user: {
              name: config.bootstrap.admin_username,
              domain: { name: 'Default' },
              password: state.api?.adminPassword,
            },
          },
        },
        scope: { project: { name: config.bootstrap.admin_project, domain: { name: 'Default' } } },
      },
    }),
  });
  assert.equal(res.status, 201, `admin token: ${await res.text()}`);
  return res.headers.get('x-subject-token') ?? '';
}

before(async () => {
  if (skip) return;
  const t0 = Date.now();
  state = await labUp({ hosts: 3, stateDir: STATE_DIR, api: true, agentTuning: TUNING });
  ownLab = true;
  figures['lab up --hosts 3 --api'] = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  assert.ok(state.api, 'the lab has an API');
  db = openDatabase(loadConfig({ file: state.api.configFile, env: {} }).database.connection, 1);
  token = await adminToken();
  const image = await ensureTinyImage({ out: tinyImagePath(loadConfig({ env: {} }).DEFAULT.data_dir) });
  mkdirSync(hostPath(h(1), dirname(IMAGE)), { recursive: true });
  copyFileSync(image.path, hostPath(h(1), IMAGE));
});

let failed = false;
after(async () => {
  for (const p of pingers) p.kill('SIGKILL');
  if (failed && ownLab) {
    for (const x of labHosts(STATE_DIR)) {
      const out = join(x.dir, 'agent', 'agent.out');
      if (existsSync(out))
        console.log(
          `--- ${x.name} agent.out (tail)\n${readFileSync(out, 'utf8').split('\n').slice(-25).join('\n')}`,
        );
    }
  }
  await db?.destroy();
  // only a lab this file made: if labUp refused (another lab was up) that lab is someone else's
  if (ownLab) await labDown({ stateDir: STATE_DIR });
  console.log(`figures: ${JSON.stringify(figures, null, 2)}`);
});

/** A scenario: skipped when what it builds on failed; a failure prints the agents' logs at the end. */
function scenario(name: string, needs: (keyof typeof ok)[], fn: (t: TestContext) => Promise<void>) {
  test(name, { skip, timeout: 180_000 }, async (t) => {
    const missing = needs.filter((n) => !ok[n]);
    if (missing.length) return t.skip(`needs ${missing.join(', ')}, which failed`);
    try {
      await fn(t);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
}

// ---- guests -------------------------------------------------------------------------------------------------

interface Guest {
  uuid: string;
  name: string;
  ip: string;
  mac: string;
}
const VM1: Guest = {
  uuid: '5e0c0c2a-2222-4222-8333-000000000051',
  name: 'ks-vm1',
  ip: '10.99.0.51',
  mac: '52:54:00:99:00:51',
};
const VM3: Guest = {
  uuid: '5e0c0c2a-2222-4222-8333-000000000053',
  name: 'ks-vm3',
  ip: '10.99.0.53',
  mac: '52:54:00:99:00:53',
};

const instanceDir = (uuid: string) => join(paths.store, 'instances', uuid);

/** A root disk as a qcow2 overlay of the image on the store, and a config drive with a static address. */
function guestSpec(g: Guest): DomainSpec {
  return {
    uuid: g.uuid,
    name: g.name,
    vcpus: 1,
    memoryMb: 256,
    disks: [
      {
        target: 'vda',
        path: join(instanceDir(g.uuid), 'disk.qcow2'),
        format: 'qcow2',
        backingPath: IMAGE,
        backingFormat: 'qcow2',
      },
    ],
    nics: [{ mac: g.mac, bridge: 'br0' }],
    configDrive: staticGuestConfigDrive({
      uuid: g.uuid,
      name: g.name,
      mac: g.mac,
      ip: g.ip,
      gateway: '10.99.0.1',
    }),
    consoleLog: join(instanceDir(g.uuid), 'console.log'),
  };
}

/** define + start at generation 1 through the host's agent; waits for the guest's ready marker (read by RPC). */
async function boot(hostName: string, g: Guest): Promise<void> {
  const agent = await agentOf(hostName);
  const t0 = Date.now();
  await agent.define(guestSpec(g), 1, (await host(hostName)).uuid);
  const started = await agent.start(g.uuid, 1);
  const rpcMs = Date.now() - t0;
  assert.deepEqual([started.state, started.generation], ['running', 1]);
  const marker = await waitFor(
    `${g.name}'s ready marker on its console`,
    async () => READY.exec((await agent.consoleLog(g.uuid)).output)?.[0],
    90_000,
    250,
  );
  const readyMs = Date.now() - t0;
  figures[`boot ${g.name} on ${hostName} via agent`] =
    `define+start ${(rpcMs / 1000).toFixed(1)} s, ready marker ${(readyMs / 1000).toFixed(1)} s`;
  console.log(`${g.name} ready ${(readyMs / 1000).toFixed(1)} s after define on ${hostName}: ${marker}`);
  assert.match(marker, new RegExp(`ip=${g.ip.replace(/\./g, '\\.')} hostname=${g.name} source=configdrive`));
}

const fab = (cmd: string, args: string[], timeoutMs = 15_000) =>
  tryRun('ip', ['netns', 'exec', FAB_NS, cmd, ...args], timeoutMs);

/** The guest answers ping and HTTP from the fabric (a few tries: ARP and the guest's httpd may lag). */
async function answers(g: Guest): Promise<void> {
  const ping = await fab('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '2', g.ip]);
  assert.equal(ping.code, 0, `ping ${g.ip} from ${FAB_NS}:\n${ping.stdout}${ping.stderr}`);
  let page = '';
  for (let i = 0; i < 10 && !page.includes(`hostname=${g.name}`); i++) {
    if (i) await sleep(500);
    page = (await fab('curl', ['-s', '-m', '3', `http://${g.ip}/`])).stdout;
  }
  assert.match(page, new RegExp(`hostname=${g.name}`), `HTTP from ${g.ip}`);
}

/** Pings every 20 ms until stopped; then the loss and the longest run of missing replies. */
function pinger(ip: string) {
  let out = '';
  const child = execFile('ip', ['netns', 'exec', FAB_NS, 'ping', '-n', '-i', '0.02', ip], {
    encoding: 'utf8',
  });
  pingers.add(child);
  child.stdout?.on('data', (d: string) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return async () => {
    child.kill('SIGINT'); // ping prints its summary on SIGINT
    await exited;
    pingers.delete(child);
    const sent = Number(/(\d+) packets transmitted/.exec(out)?.[1] ?? 0);
    const seqs = [...new Set([...out.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1])))].sort(
      (a, b) => a - b,
    );
    let longest = seqs.length ? seqs[0] - 1 : sent;
    for (let i = 1; i < seqs.length; i++) longest = Math.max(longest, seqs[i] - seqs[i - 1] - 1);
    return {
      sent,
      received: seqs.length,
      lost: sent - seqs.length,
      longestGap: longest,
      lastSeq: seqs.at(-1) ?? 0,
    };
  };
}

/** SIGKILL, as a crash: a lab process by its pid file, after checking it still is what the file says. */
async function kill(file: string, expect: string): Promise<void> {
  const pid = livePidFrom(file);
  assert.ok(pid !== null, `no live process in ${file}`);
  assert.ok(commandOf(pid).includes(expect), `${file}: pid ${pid} is not ${expect}`);
  process.kill(pid, 'SIGKILL');
  await waitFor(`pid ${pid} (${expect}) to die`, () => !pidAlive(pid), 5000, 50);
}

const isStatus = (status: number, re?: RegExp) => (err: unknown) =>
  (err as { status?: number }).status === status && (!re || re.test((err as Error).message));

// ---- scenarios ----------------------------------------------------------------------------------------------

scenario('lab up --api: each host agent joins by itself and shows up enabled and reporting', [], async () => {
  const names = ['ks-h1', 'ks-h2', 'ks-h3'];
  assert.deepEqual(state.agents, names);
  const hosts = await waitFor(
    'three hosts reporting',
    async () => {
      const { hosts: all } = await api<{ hosts: HostView[] }>('/hosts');
      return all.length === 3 && all.every((x) => x.lease_counter !== null && x.domains) ? all : null;
    },
    30_000,
    250,
  );
  assert.deepEqual(
    hosts.map((x) => x.hostname),
    names,
  );
  for (const x of hosts) {
    assert.equal(x.enabled, true, x.hostname);
    assert.equal(x.revoked, false, x.hostname);
    assert.ok((x.last_report_age_s ?? 99) <= 3 * TUNING.heartbeatInterval, `${x.hostname} reported lately`);
    assert.deepEqual(
      x.stores.map((s) => s.state),
      ['ok'],
    );
    assert.equal(x.inventory.virtType, 'qemu', 'virt_type auto without a probe image: TCG');
  }
  // the same in the database, with the RPC address and secret each agent gave when it enrolled
  const rows = (await (db as Knex)('hosts').orderBy('hostname')) as Record<string, unknown>[];
  assert.deepEqual(
    rows.map((r) => r.hostname),
    names,
  );
  for (const [i, name] of names.entries()) {
    const rec = await host(name);
    assert.equal(rec.uuid, hosts[i].id);
    assert.equal(rec.rpcUrl, `http://${h(i + 1).mgmtIp}:5100`);
    assert.ok(rec.rpcSecret.length >= 32);
    // joined by itself: its own state file holds the host id the API gave it
    const own = JSON.parse(readFileSync(join(h(i + 1).dir, 'agent', 'agent-state.json'), 'utf8')) as {
      hostId: string;
    };
    assert.equal(own.hostId, rec.uuid);
    const conf = readFileSync(join(h(i + 1).dir, 'agent', 'agent.conf'), 'utf8');
    assert.match(conf, /^self_fence_after = 6$/m);
  }
  ok.hosts = true;
});

scenario(
  'an agent boots the tiny guest at generation 1; it answers ping and HTTP; the report lists it',
  ['hosts'],
  async () => {
    await boot('ks-h1', VM1);
    const disk = join(instanceDir(VM1.uuid), 'disk.qcow2');
    const info = JSON.parse(await inHost(h(1), 'qemu-img', ['info', '--output=json', '-U', disk])) as {
      'backing-filename': string;
    };
    assert.equal(info['backing-filename'], IMAGE, 'the root disk is an overlay of the image on the store');
    await answers(VM1);
    const h1 = await host('ks-h1');
    const seen = await report('ks-h1', `${VM1.name} running at generation 1`, (v) =>
      v.domains.some((d) => d.uuid === VM1.uuid && d.state === 'running' && d.generation === 1),
    );
    assert.equal(seen.domains.find((d) => d.uuid === VM1.uuid)?.owner, h1.uuid);
    ok.vm1 = true;
  },
);

scenario('restarting an agent loses and duplicates nothing', ['vm1'], async () => {
  const was = await host('ks-h1');
  const a = await agentOf('ks-h1');
  // a scratch domain whose book entry (3) is newer than anything left on the host once it is undefined
  const scratch: Guest = {
    uuid: '5e0c0c2a-2222-4222-8333-0000000000aa',
    name: 'ks-scratch',
    ip: '',
    mac: '',
  };
  const scratchSpec = { ...guestSpec(scratch), nics: [], configDrive: undefined };
  await a.define(scratchSpec, 1, was.uuid);
  await a.undefine(scratch.uuid, 3);

  const oldPid = livePidFrom(h(1).pidFile.agent);
  assert.ok(await stopAgent(h(1)), 'the agent of ks-h1 was running');
  await answers(VM1); // a VM does not need its agent
  const t0 = Date.now();
  startAgent(h(1), state.api as NonNullable<LabState['api']>, paths, TUNING);
  const again = await waitFor(
    "the restarted agent's RPC",
    () => a.status(VM1.uuid).catch(() => null),
    30_000,
    200,
  );
  assert.notEqual(livePidFrom(h(1).pidFile.agent), oldPid, 'a new agent process answers');
  figures['agent restart until RPC answers'] = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  assert.deepEqual([again.state, again.generation], ['running', 1]);
  await report(
    'ks-h1',
    'a report after the restart',
    (v) => (v.last_report_age_s ?? 99) < 1 && v.domains.length > 0,
  );

  const now = await host('ks-h1');
  assert.equal(now.uuid, was.uuid, 'same host id');
  assert.equal(now.rpcSecret, was.rpcSecret, 'it did not enroll again');
  const rows = (await (db as Knex)('hosts').count({ n: '*' })) as { n: number | string }[];
  assert.equal(Number(rows[0].n), 3, 'no new host row');
  await answers(VM1);
  // the generation book survived: generation 2 is older than the 3 it applied before the restart
  await assert.rejects(a.define(scratchSpec, 2, now.uuid), isStatus(409, /stale generation 2/));
  await assert.rejects(
    a.status(scratch.uuid),
    (err) => err instanceof NotFound,
    'the refused define did nothing',
  );
  // ...and it refuses no more than that: the guest's own generation is still welcome
  assert.equal((await a.start(VM1.uuid, 1)).state, 'running');
});

scenario("a second start of the guest's disk on another host is refused with 409", ['vm1'], async () => {
  const twin: Guest = {
    uuid: '5e0c0c2a-2222-4222-8333-0000000000bb',
    name: 'ks-twin',
    ip: '',
    mac: '52:54:00:99:00:bb',
  };
  const spec = { ...guestSpec(twin), configDrive: undefined };
  spec.disks = guestSpec(VM1).disks; // the disk VM1 runs from on ks-h1
  const b = await agentOf('ks-h2');
  await b.define(spec, 1, (await host('ks-h2')).uuid);
  try {
    await assert.rejects(b.start(twin.uuid, 1), (err) => {
      console.log(`second start refused: ${(err as Error).message}`);
      return err instanceof Conflict;
    });
  } finally {
    await b.destroy(twin.uuid, 1).catch(() => undefined); // had it started, it must not run on
  }
  assert.equal((await b.status(twin.uuid)).state, 'shutoff');
  await b.undefine(twin.uuid, 1);
  assert.equal((await (await agentOf('ks-h1')).status(VM1.uuid)).state, 'running');
  await answers(VM1);
});

scenario(
  'live migration h1 -> h2 through the agents, under ping; the old generation is refused',
  ['vm1'],
  async () => {
    const [a, b, h2] = [await agentOf('ks-h1'), await agentOf('ks-h2'), await host('ks-h2')];
    const stop = pinger(VM1.ip);
    await sleep(1000);
    const t0 = Date.now();
    await a.migrate(VM1.uuid, 1, {
      uri: `qemu+tcp://${h(2).mgmtIp}/system`,
      migrateUri: `tcp://${h(2).mgmtIp}`,
      owner: h2.uuid,
    });
    const migrateMs = Date.now() - t0;
    await sleep(1500);
    const p = await stop();
    const loss = p.sent ? (100 * p.lost) / p.sent : 100;
    figures['live migration h1 -> h2'] =
      `${(migrateMs / 1000).toFixed(1)} s; ping every 20 ms: ${p.sent} sent, ${p.lost} lost (${loss.toFixed(1)} %), ` +
      `longest gap ${p.longestGap} replies (~${p.longestGap * 20} ms)`;
    console.log(`migration: ${figures['live migration h1 -> h2']}`);
    assert.ok(p.sent > 50 && p.received > 0, `ping ran: ${JSON.stringify(p)}`);
    assert.ok(p.sent - p.lastSeq < 10, `the guest answers after the migration: ${JSON.stringify(p)}`);
    assert.ok(p.longestGap * 20 < 3000, `the guest kept answering: ${JSON.stringify(p)}`);

    const there = await b.status(VM1.uuid);
    assert.deepEqual([there.state, there.generation, there.owner], ['running', 2, h2.uuid]);
    await report('ks-h2', `${VM1.name} running at generation 2`, (v) =>
      v.domains.some((d) => d.uuid === VM1.uuid && d.state === 'running' && d.generation === 2),
    );
    await report('ks-h1', `no ${VM1.name} any more`, (v) => !v.domains.some((d) => d.uuid === VM1.uuid));
    await assert.rejects(a.status(VM1.uuid), (err) => err instanceof NotFound);
    await assert.rejects(b.destroy(VM1.uuid, 1), isStatus(409, /stale generation 1/));
    // nor would ks-h1 take the old incarnation back
    await assert.rejects(a.define(guestSpec(VM1), 1, (await host('ks-h1')).uuid), isStatus(409));
    assert.equal((await b.status(VM1.uuid)).state, 'running');
    await answers(VM1);
  },
);

scenario(
  'an agent whose store is gone fences its guest within self_fence_after; its report says so',
  ['hosts'],
  async () => {
    const c = await agentOf('ks-h3');
    const h3 = h(3);
    await boot('ks-h3', VM3);
    await answers(VM3);
    // the FUSE client of ks-h3's store dies: every write there fails with ENOTCONN from now on
    await kill(h3.pidFile.fuse, 'glusterfs');
    const t0 = Date.now();
    await waitFor(
      `${VM3.name} to be fenced`,
      async () => (await c.status(VM3.uuid)).state !== 'running',
      (TUNING.selfFenceAfter + TUNING.leaseInterval + 10) * 1000,
      100,
    );
    const fenceMs = Date.now() - t0;
    const log = readFileSync(join(h3.dir, 'agent', 'agent.out'), 'utf8');
    const decidedMs = Number(/"time":(\d+),[^\n]*"msg":"SELF-FENCING/.exec(log)?.[1]) - t0;
    figures['self-fence after the store died'] =
      `decided after ${(decidedMs / 1000).toFixed(1)} s, guest destroyed after ${(fenceMs / 1000).toFixed(1)} s ` +
      `(self_fence_after = ${TUNING.selfFenceAfter} s, lease_interval = ${TUNING.leaseInterval} s)`;
    // the last renewal was at most one lease_interval before the kill; destroying a QEMU takes a second or two
    const lo = (TUNING.selfFenceAfter - TUNING.leaseInterval - 0.5) * 1000;
    const hi = (TUNING.selfFenceAfter + TUNING.leaseInterval + 3) * 1000;
    assert.ok(fenceMs >= lo && fenceMs <= hi, `fenced after ${fenceMs} ms, expected ${lo}..${hi}`);
    assert.equal((await c.status(VM3.uuid)).state, 'shutoff');
    assert.match(
      log,
      new RegExp(`"uuid":"${VM3.uuid}"[^\\n]*"msg":"fenced: domain destroyed"`),
      'the agent destroyed it',
    );
    const seen = await report('ks-h3', 'fenced', (v) => v.inventory.fenced === true);
    assert.equal(seen.stores[0].state, 'error');
    assert.equal(seen.domains.find((d) => d.uuid === VM3.uuid)?.state, 'shutoff');
    assert.notEqual((await fab('ping', ['-n', '-c', '1', '-W', '1', VM3.ip])).code, 0, 'the guest is gone');
  },
);

scenario("a killed host's lease counter stops advancing in its peers' reports", ['hosts'], async () => {
  for (const x of labHosts(STATE_DIR))
    assert.ok(livePidFrom(x.pidFile.agent) !== null, `the agent of ${x.name} still runs`);
  const ofH2 = async () => (await observations()).filter((o) => o.subject === 'ks-h2');
  // first, ks-h1 does see ks-h2 renewing
  const first = (await ofH2()).find((o) => o.observer === 'ks-h1');
  assert.ok(first, `ks-h1 observes ks-h2: ${JSON.stringify(await observations())}`);
  await waitFor(
    "ks-h2's counter to advance as ks-h1 sees it",
    async () => ((await ofH2()).find((o) => o.observer === 'ks-h1')?.counter ?? 0) > first.counter,
    5000,
    250,
  );

  const h2 = h(2);
  for (const link of ['mgmt0', 'ext0']) await run('ip', ['-n', h2.netns, 'link', 'set', link, 'down']);
  await kill(h2.pidFile.agent, 'host-agent/main.js');
  await kill(h2.pidFile.libvirtd, 'libvirtd');
  // a renewal in flight may still land, and be read and reported
  await sleep((2 * TUNING.leaseInterval + 2 * TUNING.heartbeatInterval) * 1000);
  const a = await ofH2();
  await sleep(4000);
  const b = await ofH2();
  assert.deepEqual(a.map((o) => o.observer).sort(), ['ks-h1', 'ks-h3'], 'both peers report on ks-h2');
  for (const o of b) {
    const was = a.find((x) => x.observer === o.observer) as Observation;
    assert.equal(o.counter, was.counter, `${o.observer} sees ks-h2's counter frozen`);
    assert.ok(o.reportedAt > was.reportedAt, `${o.observer} keeps reporting`);
    assert.ok(Math.abs(o.changedAt - was.changedAt) < 1000, `${o.observer}: last change stays in the past`);
  }
  const v = await hostView('ks-h2');
  assert.ok((v.last_report_age_s ?? 0) > 4, `ks-h2 stopped reporting (${v.last_report_age_s} s)`);
  figures["ks-h2's lease as its peers see it"] = b
    .map(
      (o) =>
        `${o.observer}: counter ${o.counter}, unchanged for ${((Date.now() - o.changedAt) / 1000).toFixed(1)} s`,
    )
    .join('; ');
});
