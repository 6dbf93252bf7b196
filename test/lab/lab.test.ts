/**
 * The lab, for real: `kvmstack lab up --hosts N` through the CLI, then every host's libvirtd, the shared
 * GlusterFS store, the tiny guest booted by the host agent's libvirt driver from an overlay on that store
 * (ping + HTTP from the fabric), and `kvmstack lab down` leaving nothing behind.
 * Needs root, libvirt, QEMU and GlusterFS (tools/install-deps.sh); skips without them.
 * KVMSTACK_LAB_HOSTS (default 3) sets the number of hosts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, copyFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/common/config/load.js';
import { ensureTinyImage, tinyImagePath } from '../../tools/image/tiny.js';
import { tryRun } from '../../src/common/exec.js';
import { livePidFrom, readPid } from '../../src/common/pidfile.js';
import { sleep, waitFor } from '../../tools/lab/exec.js';
import { hostPath, inHost, storeMounted } from '../../tools/lab/host.js';
import { labDown, labHosts, labStatus, readLabState, type LabStatus } from '../../tools/lab/lab.js';
import { labNamespaces } from '../../tools/lab/network.js';
import { AGENT_MAIN, CLI_MAIN, REPO_ROOT } from '../../tools/cli/daemons.js';
import { startAgents, startApi } from '../../tools/lab/services.js';
import {
  DEFAULT_API_PORT,
  FAB_NS,
  GLUSTER_NODE,
  ROOT_LINK,
  defaultStateDir,
  labPaths,
} from '../../tools/lab/topology.js';
import { labUnavailable } from '../support/lab.js';
import { staticGuestConfigDrive } from '../support/guest.js';

const HOSTS = Number(process.env.KVMSTACK_LAB_HOSTS ?? 3);
const STATE_DIR = defaultStateDir();
const paths = labPaths(STATE_DIR);

const skip = labUnavailable();

function cli(args: string[], timeoutMs = 240_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(
      process.execPath,
      [CLI_MAIN, ...args],
      { timeout: timeoutMs, encoding: 'utf8' },
      (err, stdout, stderr) =>
        res({ code: err ? (typeof err.code === 'number' ? err.code : 124) : 0, stdout, stderr }),
    );
  });
}

/** Every pid the lab's pid files name (daemons, QEMUs, gluster children), gathered before `down`. */
function labPids(): number[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const f = join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.name.endsWith('.pid')) files.push(f);
    }
  };
  walk(paths.hostsDir);
  walk(paths.gluster);
  return files.map(readPid).filter((p): p is number => p !== null);
}

let upMs = 0;
let status: LabStatus;

before(async () => {
  if (skip) return;
  const t0 = Date.now();
  const up = await cli(['lab', 'up', '--hosts', String(HOSTS), '--no-api']);
  upMs = Date.now() - t0;
  assert.equal(up.code, 0, `lab up failed:\n${up.stdout}\n${up.stderr}`);
  console.log(`lab up --hosts ${HOSTS}: ${(upMs / 1000).toFixed(1)} s\n${up.stdout}`);
  status = await labStatus(STATE_DIR);
});

// On any failure the lab still goes; `down` is idempotent, so this is harmless after the down test.
after(async () => {
  if (!skip) await labDown({ stateDir: STATE_DIR });
});

test('lab up builds every host, the fabric and the gluster volume', { skip: skip ?? false }, () => {
  assert.ok(status.up, `lab status is not healthy:\n${JSON.stringify(status, null, 2)}`);
  assert.equal(status.hosts.length, HOSTS);
  for (const ns of [FAB_NS, 'ks-cli', ...status.hosts.map((h) => h.name)])
    assert.ok(status.namespaces.includes(ns), ns);
  assert.equal(status.volume, 'Started');
  assert.ok(status.hostsEntry);
  assert.ok(upMs < 120_000, `lab up took ${upMs} ms`);
});

test('lab status answers from another process', { skip: skip ?? false }, async () => {
  const r = await cli(['lab', 'status', '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal((JSON.parse(r.stdout) as LabStatus).up, true);
});

test("every host's libvirtd answers from the root namespace over TCP", { skip: skip ?? false }, async () => {
  const uuids = new Set<string>();
  for (const h of labHosts(STATE_DIR)) {
    const name = await tryRun('virsh', ['-c', h.libvirtUri, 'hostname']);
    assert.equal(name.code, 0, name.stderr);
    assert.equal(name.stdout.trim(), h.name);
    const version = await tryRun('virsh', ['-c', h.libvirtUri, 'version']);
    assert.match(version.stdout, /Running hypervisor: QEMU/);
    const caps = await tryRun('virsh', ['-c', h.libvirtUri, 'capabilities']);
    uuids.add(/<uuid>([^<]+)<\/uuid>/.exec(caps.stdout)?.[1] ?? '');
  }
  assert.equal(uuids.size, HOSTS, 'every host has its own host UUID (migrations need it)');
});

test(
  'the gluster volume is mounted on every host, shared, and not in the root namespace',
  { skip: skip ?? false },
  async () => {
    const hosts = labHosts(STATE_DIR);
    for (const h of hosts) assert.ok(storeMounted(h, paths), `store not mounted on ${h.name}`);
    const token = `written on ${hosts[0].name} at ${Date.now()}`;
    writeFileSync(hostPath(hosts[0], join(paths.store, 'probe.txt')), token);
    for (const h of hosts.slice(1)) {
      assert.equal(readFileSync(hostPath(h, join(paths.store, 'probe.txt')), 'utf8'), token);
      assert.equal((await inHost(h, 'cat', [join(paths.store, 'probe.txt')])).trim(), token);
    }
    assert.ok(
      !existsSync(join(paths.store, 'probe.txt')),
      'the root namespace sees only the empty mount point',
    );
  },
);

test(
  'the tiny guest boots on host 1 from an overlay on the store and answers ping and HTTP',
  { skip: skip ?? false },
  async () => {
    const [h1] = labHosts(STATE_DIR);
    // the image is built once into the default data dir and reused (7 s the first time)
    const image = await ensureTinyImage({ out: tinyImagePath(loadConfig({ env: {} }).DEFAULT.data_dir) });
    const base = join(paths.store, 'images', 'tiny.qcow2');
    mkdirSync(hostPath(h1, join(paths.store, 'images')), { recursive: true });
    copyFileSync(image.path, hostPath(h1, base));

    const uuid = '5e0c0c2a-1111-4222-8333-000000000050';
    const ip = '10.99.0.50';
    const dir = join(paths.store, 'instances', uuid);
    const spec = {
      uuid,
      name: 'ks-vm1',
      vcpus: 1,
      memoryMb: 256,
      disks: [
        {
          target: 'vda',
          path: join(dir, 'disk.qcow2'),
          format: 'qcow2',
          backingPath: base,
          backingFormat: 'qcow2',
        },
      ],
      nics: [{ mac: '52:54:00:99:00:50', bridge: 'br0' }],
      configDrive: staticGuestConfigDrive({
        uuid,
        name: 'ks-vm1',
        mac: '52:54:00:99:00:50',
        ip,
        gateway: '10.99.0.1',
      }),
      consoleLog: join(dir, 'console.log'),
    };
    const specFile = join(h1.dir, 'vm1-spec.json');
    writeFileSync(specFile, JSON.stringify(spec));
    const t0 = Date.now();
    // the host agent's driver, run inside host 1 (where the store is mounted), as the agent will run it
    const out = await inHost(h1, process.execPath, [
      resolve(REPO_ROOT, 'dist/test/lab/driver-boot.js'),
      ...['--spec', specFile, '--state-dir', join(h1.dir, 'agent')],
    ]);
    assert.equal((JSON.parse(out) as { state: string }).state, 'running');
    assert.ok(existsSync(hostPath(h1, join(dir, 'disk.qcow2'))), 'the overlay is on the store');
    const info = JSON.parse(
      await inHost(h1, 'qemu-img', ['info', '--output=json', '-U', join(dir, 'disk.qcow2')]),
    ) as {
      'backing-filename': string;
    };
    assert.equal(info['backing-filename'], base);

    const marker = await waitFor(
      'the guest marker on its console',
      () => {
        const log = hostPath(h1, spec.consoleLog);
        return existsSync(log) ? /KVMSTACK-GUEST-READY .*/.exec(readFileSync(log, 'latin1'))?.[0] : undefined;
      },
      90_000,
      200,
    );
    console.log(`guest ready ${((Date.now() - t0) / 1000).toFixed(1)} s after define: ${marker}`);
    assert.match(marker, new RegExp(`ip=${ip.replace(/\./g, '\\.')} hostname=ks-vm1 source=configdrive`));

    const ping = await tryRun('ip', ['netns', 'exec', FAB_NS, 'ping', '-c', '2', '-W', '2', ip]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    let page = '';
    for (let i = 0; i < 10 && !page.includes('hostname=ks-vm1'); i++) {
      page = (await tryRun('ip', ['netns', 'exec', FAB_NS, 'curl', '-s', '-m', '3', `http://${ip}/`])).stdout;
      if (!page.includes('hostname=ks-vm1')) await sleep(500);
    }
    assert.match(page, /hostname=ks-vm1/);
  },
);

test(
  'a lab API answers inside every host, and every host agent joins it',
  { skip: skip ?? false },
  async (t) => {
    const hosts = labHosts(STATE_DIR);
    // what `lab up --api` does, after the guest test: a running agent reconciles away domains it does not know
    const api = await startApi(paths, DEFAULT_API_PORT);
    for (const h of hosts) {
      const health = await inHost(h, 'curl', [
        '-s',
        '-m',
        '5',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `${api.url}/healthcheck`,
      ]);
      assert.equal(health, '200', `the API from ${h.name}`);
    }
    if (!existsSync(AGENT_MAIN)) return t.skip(`${AGENT_MAIN} is not built`);
    const started = await startAgents(hosts, api, paths, (s) => console.log(s));
    assert.deepEqual(
      started,
      hosts.map((h) => h.name),
    );
    for (const h of hosts) {
      // the agent keeps its enrollment in <state_dir>/agent-state.json
      const stateFile = join(h.dir, 'agent', 'agent-state.json');
      await waitFor(
        `the agent of ${h.name} to enroll`,
        () =>
          existsSync(stateFile) &&
          (JSON.parse(readFileSync(stateFile, 'utf8')) as { hostId: string | null }).hostId,
        30_000,
        200,
      );
    }
  },
);

test('lab down leaves nothing behind', { skip: skip ?? false }, async () => {
  const hosts = labHosts(STATE_DIR);
  const pids = [
    ...labPids(),
    ...[join(paths.api, 'kvmstack-api.pid')].map(readPid).filter((p): p is number => p !== null),
  ];
  assert.ok(pids.length >= 5 * HOSTS, `expected the lab's pid files, found ${pids.length}`);
  const t0 = Date.now();
  const down = await cli(['lab', 'down']);
  assert.equal(down.code, 0, down.stdout + down.stderr);
  console.log(`lab down: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  assert.deepEqual(await labNamespaces(), []);
  assert.notEqual((await tryRun('ip', ['link', 'show', ROOT_LINK])).code, 0, `${ROOT_LINK} is gone`);
  // exited daemons may linger a moment as zombies until reaped: wait for the real exit
  for (const pid of pids) {
    await waitFor(
      `pid ${pid} to exit`,
      () => {
        try {
          return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
        } catch {
          return true;
        }
      },
      5000,
    );
  }
  for (const h of hosts) assert.equal(livePidFrom(h.pidFile.anchor), null);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  assert.ok(!mounts.includes(STATE_DIR), 'no mount of the lab in the root namespace');
  assert.ok(!readFileSync('/etc/hosts', 'utf8').includes(GLUSTER_NODE), 'the /etc/hosts entry is removed');
  assert.equal(readLabState(STATE_DIR), null);
  assert.ok(!existsSync(paths.hostsDir) && !existsSync(paths.gluster) && !existsSync(paths.store));

  const again = await cli(['lab', 'down']);
  assert.equal(again.code, 0, 'down is idempotent');
});
