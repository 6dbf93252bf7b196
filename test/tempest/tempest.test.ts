/**
 * Tempest 33's identity, image, network and compute tests against a real kvmstack (compute on one fake-driver host agent): `kvmstack up` on a fresh data directory (SQLite, or
 * MariaDB with KVMSTACK_TEMPEST_DB=mariadb), a generated tempest.conf, then `tempest run` on the tests listed
 * in claimed-tests.txt. Fails if any test that ran failed, if a claimed test did not pass, or if nothing passed.
 * KVMSTACK_TEMPEST_KEEP=1 keeps the temporary directory (tempest.conf, tempest.log, the API log) for debugging.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { tempestConf } from './tempest-conf.js';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = join(ROOT, 'dist/tools/cli/main.js');
/** KVMSTACK_TEMPEST_CLAIMS: another list (to explore which tests pass before claiming them). */
const CLAIMED = process.env.KVMSTACK_TEMPEST_CLAIMS ?? join(ROOT, 'test/tempest/claimed-tests.txt');
const BACKEND = process.env.KVMSTACK_TEMPEST_DB === 'mariadb' ? 'mariadb' : 'sqlite';
const MINUTE = 60_000;

interface TestResult {
  id: string;
  status: string;
}

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => ok(port));
    });
  });
}

/** The claimed regexes: one per line, '#' starts a comment (as stestr reads an include list). */
function readClaims(file: string): RegExp[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.split('#')[0].trim())
    .filter((l) => l !== '')
    .map((l) => new RegExp(l));
}

/** subunit2csv output: "test,status,start_time,stop_time", fields quoted when they hold a comma. */
function parseSubunitCsv(text: string): TestResult[] {
  const rows: string[][] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const fields: string[] = [];
    let cur = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted && c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') {
        quoted = !quoted;
      } else if (c === ',' && !quoted) {
        fields.push(cur);
        cur = '';
      } else {
        cur += c;
      }
    }
    fields.push(cur);
    rows.push(fields);
  }
  const [header, ...body] = rows;
  assert.deepEqual(
    header?.slice(0, 2),
    ['test', 'status'],
    `unexpected subunit2csv output:\n${text.slice(0, 2000)}`,
  );
  return body.map(([id, status]) => ({ id, status }));
}

/** Runs a command, collecting its output; never rejects on a non-zero exit (the caller judges). */
function runCollect(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<{ code: number | null; output: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      fail(
        new Error(`${cmd} could not be started: ${err.message} (Tempest is the Debian package "tempest")`),
      );
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      ok({ code, output });
    });
  });
}

/** A token of the admin, scoped to the admin project (the harness acts as the operator). */
async function adminToken(url: string, password: string): Promise<string> {
  const auth = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { id: 'default' }, password } },
        },
        scope: { project: { name: 'admin', domain: { id: 'default' } } },
      },
    }),
  });
  assert.equal(auth.status, 201, await auth.text());
  return auth.headers.get('x-subject-token') as string;
}

/**
 * What a deployment has and Tempest expects to find: an external network with a subnet (Tempest's
 * public_network_id), made by the admin as an operator would.
 */
async function createPublicNetwork(url: string, password: string): Promise<string> {
  const token = await adminToken(url, password);
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}/networking/v2.0/${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Auth-Token': token },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    assert.equal(res.status, 201, text);
    return JSON.parse(text) as Record<string, { id: string }>;
  };
  const { network } = await post('networks', {
    network: {
      name: 'public',
      'router:external': true,
      'provider:network_type': 'flat',
      'provider:physical_network': 'public',
    },
  });
  await post('subnets', {
    subnet: { network_id: network.id, cidr: '172.24.4.0/24', ip_version: 4, enable_dhcp: false },
  });
  return network.id;
}

/**
 * One compute host for Tempest: a host agent on the fake hypervisor driver. Tempest boots dozens of servers;
 * real TCG guests would take CI's whole budget, and the same API flows boot real guests in test/e2e and
 * test/lab. Its store is the API's image store, as on a real host.
 */
function startFakeAgent(work: string, url: string, secret: string, store: string): ChildProcess {
  const dir = join(work, 'agent');
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'agent.conf');
  writeFileSync(
    conf,
    [
      '[agent]',
      `api_url = ${url}`,
      `enrollment_secret = ${secret}`,
      'hostname = tempest-host',
      'host_ip = 127.0.0.1',
      'rpc_listen = 127.0.0.1',
      'rpc_port = 0',
      `state_dir = ${dir}`,
      `log_file = ${join(dir, 'agent.log')}`,
      'driver = fake',
      '[store local]',
      'type = dir',
      `mount = ${store}`,
      '',
    ].join('\n'),
  );
  return spawn(process.execPath, [join(ROOT, 'dist/host-agent/main.js'), '--config', conf], {
    stdio: 'ignore',
  });
}

/** Two images (small qcow2s), two flavors and a shared network for the compute tests; waits for the host. */
async function prepareCompute(url: string, password: string, work: string) {
  const token = await adminToken(url, password);
  const call = async (method: string, path: string, body?: unknown, type = 'application/json') => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { 'Content-Type': type, 'X-Auth-Token': token },
      body:
        body === undefined
          ? undefined
          : type === 'application/json'
            ? JSON.stringify(body)
            : (body as Buffer),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as Record<string, Record<string, string>>) : {};
  };
  const deadline = Date.now() + 2 * MINUTE;
  for (;;) {
    const hv = await call('GET', '/compute/v2.1/os-hypervisors/detail');
    const up = (hv.hypervisors as unknown as { state: string }[]).some((h) => h.state === 'up');
    if (up) break;
    assert.ok(Date.now() < deadline, 'the fake compute host did not join');
    await new Promise((r) => setTimeout(r, 500));
  }
  const file = join(work, 'image.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '64M']);
  const images: string[] = [];
  for (const name of ['tempest-image', 'tempest-image-alt']) {
    const img = (await call('POST', '/image/v2/images', {
      name,
      disk_format: 'qcow2',
      container_format: 'bare',
      visibility: 'public',
    })) as unknown as { id: string };
    await call('PUT', `/image/v2/images/${img.id}/file`, readFileSync(file), 'application/octet-stream');
    images.push(img.id);
  }
  const flavors: string[] = [];
  for (const [name, ram] of [
    ['tempest-flavor', 128],
    ['tempest-flavor-alt', 192],
  ] as const) {
    const f = await call('POST', '/compute/v2.1/flavors', { flavor: { name, ram, vcpus: 1, disk: 1 } });
    flavors.push(f.flavor.id);
  }
  const { network } = await call('POST', '/networking/v2.0/networks', {
    network: { name: 'tempest-net', shared: true },
  });
  await call('POST', '/networking/v2.0/subnets', {
    subnet: { network_id: network.id, cidr: '10.200.0.0/16', ip_version: 4 },
  });
  return {
    imageRef: images[0],
    imageRefAlt: images[1],
    flavorRef: flavors[0],
    flavorRefAlt: flavors[1],
    network: 'tempest-net',
  };
}

describe(`Tempest identity, image, network and compute tests [${BACKEND}]`, { timeout: 30 * MINUTE }, () => {
  const work = mkdtempSync(join(tmpdir(), 'kvmstack-tempest-'));
  const configFile = join(work, 'kvmstack.conf');
  const dataDir = join(work, 'data');
  const password = randomBytes(12).toString('hex');
  let database: TestDatabase | null = null;
  let url = '';
  let started = false;
  const enrollmentSecret = randomBytes(16).toString('hex');
  let agent: ChildProcess | null = null;
  const cliEnv = {
    ...process.env,
    KVMSTACK_BOOTSTRAP_ADMIN_PASSWORD: password,
    KVMSTACK_IDENTITY_PASSWORD_HASH_ROUNDS: '4',
  };

  before(async () => {
    assert.ok(existsSync(CLI), `${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    if (BACKEND === 'mariadb') database = await createTestDatabase('mariadb');
    writeFileSync(
      configFile,
      [
        '[DEFAULT]',
        `data_dir = ${dataDir}`,
        `log_file = ${join(dataDir, 'log', 'kvmstack-api.log')}`,
        '[api]',
        'listen = 127.0.0.1',
        `port = ${port}`,
        `public_url = ${url}`,
        '[identity]',
        'password_hash_rounds = 4',
        '[cluster]',
        `enrollment_secret = ${enrollmentSecret}`,
        ...(database ? ['[database]', `connection = ${database.url}`] : []),
        '',
      ].join('\n'),
    );
    started = true; // from here on, `stop` must run even if `up` fails half-way
    await run(
      process.execPath,
      [CLI, '--config', configFile, 'up', '--data-dir', dataDir, '--port', String(port), '--api-only'],
      {
        env: cliEnv,
        timeout: 2 * MINUTE,
      },
    );
    agent = startFakeAgent(work, url, enrollmentSecret, join(dataDir, 'stores', 'local'));
  });

  after(async () => {
    if (agent && agent.exitCode === null) agent.kill('SIGTERM');
    if (started) {
      await run(process.execPath, [CLI, '--config', configFile, 'stop'], {
        env: cliEnv,
        timeout: MINUTE,
      }).catch((err: Error) => console.error(`stopping the API failed: ${err.message}`));
    }
    await database?.drop();
    if (process.env.KVMSTACK_TEMPEST_KEEP) console.log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  });

  it('passes every claimed test', async () => {
    const publicNetworkId = await createPublicNetwork(url, password);
    const compute = await prepareCompute(url, password, work);
    const runDir = join(work, 'run');
    mkdirSync(runDir);
    const conf = join(work, 'tempest.conf');
    writeFileSync(
      conf,
      tempestConf({
        url,
        adminPassword: password,
        logFile: join(work, 'tempest.log'),
        lockPath: join(work, 'locks'),
        publicNetworkId,
        compute,
      }),
    );

    const tempest = await runCollect(
      'tempest',
      ['run', '--config-file', conf, '--concurrency', '2', '--include-list', CLAIMED],
      {
        cwd: runDir,
        timeoutMs: 25 * MINUTE,
      },
    );
    // Both exit 1 when a test failed: the CSV itself is the result (an empty stream yields no rows, 0 passed).
    const csv = await runCollect('bash', ['-c', 'stestr last --subunit | subunit2csv'], {
      cwd: runDir,
      timeoutMs: MINUTE,
    });
    const results = parseSubunitCsv(csv.output.slice(csv.output.indexOf('test,status')));

    // subunit2csv says success, skip, xfail, failure, uxsuccess...: anything but a pass or a skip is a failure.
    const passed = results.filter((r) => r.status === 'success' || r.status === 'xfail');
    const skipped = results.filter((r) => r.status === 'skip');
    const failed = results.filter((r) => !passed.includes(r) && !skipped.includes(r));
    console.log(`tempest: ${passed.length} passed, ${failed.length} failed, ${skipped.length} skipped`);

    const claims = readClaims(CLAIMED);
    const unmet = claims.filter((re) => !passed.some((r) => re.test(r.id)));
    const problems = [
      ...failed.map((r) => `FAILED  ${r.id}`),
      ...unmet.map((re) => `CLAIMED BUT NOT PASSED (skipped or not run)  ${re.source}`),
    ];
    const details = `\n${problems.join('\n')}\n--- tempest run (exit ${tempest.code}), last part ---\n${tempest.output.slice(-30000)}`;
    assert.ok(passed.length > 0, `no Tempest test passed${details}`);
    assert.deepEqual(problems, [], `Tempest claimed tests did not all pass${details}`);
    assert.equal(tempest.code, 0, `tempest run exited ${tempest.code}${details}`);
  });
});
