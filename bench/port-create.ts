/**
 * Port creation under concurrency: a real API process (`kvmstack up --api-only`, its own process) on SQLite, or
 * MariaDB with KVMSTACK_BENCH_DB=mariadb; one network with a /20 subnet; N keep-alive clients (default 20) each
 * creating ports one after another for --duration seconds (default 10). Prints ports/s, latency percentiles
 * (nearest rank over every request) and whether any address or MAC was handed out twice (read back from the
 * database). Figures only, never pass/fail.
 *
 *   node dist/bench/port-create.js [--clients 20] [--duration 10] [--no-port-security]
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { openDatabase } from '../src/db/connection.js';
import { createTestDatabase, type TestDatabase } from '../test/support/databases.js';
import { percentile as pct } from './support/stats.js';

const run = promisify(execFile);
const CLI_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../tools/cli/main.js');

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

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function call(
  base: string,
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
): Promise<{ status: number; headers: Record<string, unknown>; body: Record<string, unknown> }> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((ok, fail) => {
    const req = request(
      `${base}${path}`,
      {
        method,
        agent,
        headers: {
          'Content-Type': 'application/json',
          ...(token ? { 'X-Auth-Token': token } : {}),
          ...(data ? { 'Content-Length': Buffer.byteLength(data) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          ok({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
          }),
        );
      },
    );
    req.once('error', fail);
    req.end(data);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '20' },
      duration: { type: 'string', default: '10' },
      'no-port-security': { type: 'boolean', default: false },
    },
  });
  const clients = Number(values.clients);
  const durationMs = Number(values.duration) * 1000;
  const backend = process.env.KVMSTACK_BENCH_DB === 'mariadb' ? 'mariadb' : 'sqlite';
  const work = mkdtempSync(join(tmpdir(), 'kvmstack-bench-ports-'));
  const dataDir = join(work, 'data');
  const configFile = join(work, 'kvmstack.conf');
  const password = randomBytes(12).toString('hex');
  const env = {
    ...process.env,
    KVMSTACK_BOOTSTRAP_ADMIN_PASSWORD: password,
    KVMSTACK_IDENTITY_PASSWORD_HASH_ROUNDS: '4',
  };
  let database: TestDatabase | null = null;
  let started = false;
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    if (backend === 'mariadb') database = await createTestDatabase('mariadb');
    const dbUrl = database?.url ?? `sqlite://${join(dataDir, 'kvmstack.sqlite')}`;
    writeFileSync(
      configFile,
      [
        '[DEFAULT]',
        `data_dir = ${dataDir}`,
        `log_file = ${join(dataDir, 'log', 'kvmstack-api.log')}`,
        'log_level = warn',
        '[api]',
        'listen = 127.0.0.1',
        `port = ${port}`,
        `public_url = ${base}`,
        '[database]',
        `connection = ${dbUrl}`,
        '',
      ].join('\n'),
    );
    started = true;
    await run(
      process.execPath,
      [CLI_MAIN, '--config', configFile, 'up', '--data-dir', dataDir, '--port', String(port), '--api-only'],
      {
        env,
        timeout: 120_000,
      },
    );
    const auth = await call(base, 'POST', '/identity/v3/auth/tokens', null, {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { name: 'Default' }, password } },
        },
        scope: { project: { name: 'admin', domain: { name: 'Default' } } },
      },
    });
    const token = auth.headers['x-subject-token'] as string;
    const projectId = ((auth.body.token as Record<string, unknown>).project as { id: string }).id;
    await call(base, 'PUT', `/networking/v2.0/quotas/${projectId}`, token, { quota: { port: -1 } });
    const net = (await call(base, 'POST', '/networking/v2.0/networks', token, { network: { name: 'bench' } }))
      .body.network as { id: string };
    const sub = await call(base, 'POST', '/networking/v2.0/subnets', token, {
      subnet: { network_id: net.id, ip_version: 4, cidr: '10.128.0.0/20' },
    });
    if (sub.status !== 201) throw new Error(`subnet: ${sub.status} ${JSON.stringify(sub.body)}`);
    const portBody = values['no-port-security']
      ? { port: { network_id: net.id, port_security_enabled: false } }
      : { port: { network_id: net.id } };

    // 1 s warm-up (not measured), then the measured window.
    const latencies: number[] = [];
    const failures = new Map<string, number>();
    const addresses: string[] = [];
    let measuring = false;
    let exhaustedAt = 0;
    const deadline = { warm: Date.now() + 1000, end: 0 };
    const worker = async () => {
      for (;;) {
        const now = Date.now();
        if (deadline.end && now >= deadline.end) return;
        const t0 = process.hrtime.bigint();
        const res = await call(base, 'POST', '/networking/v2.0/ports', token, portBody);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (res.status === 201) {
          const ips = (res.body.port as { fixed_ips: { ip_address: string }[] }).fixed_ips;
          addresses.push(...ips.map((f) => f.ip_address));
          if (measuring) latencies.push(ms);
        } else {
          const type = (res.body.NeutronError as { type?: string } | undefined)?.type ?? '';
          if (type === 'IpAddressGenerationFailure') {
            // The /20 is full: the measured window ends here (the rate is the rate until then).
            if (!exhaustedAt) exhaustedAt = Date.now();
            deadline.end = exhaustedAt;
            return;
          }
          const key = `${res.status} ${type}`;
          failures.set(key, (failures.get(key) ?? 0) + 1);
        }
      }
    };
    const workers = Array.from({ length: clients }, () => worker());
    await new Promise((r) => setTimeout(r, deadline.warm - Date.now()));
    measuring = true;
    const t0 = Date.now();
    deadline.end = t0 + durationMs;
    await Promise.all(workers);
    const elapsed = ((exhaustedAt || Date.now()) - t0) / 1000;

    const db = openDatabase(dbUrl, 1);
    const dupIps = await db('ip_allocations')
      .select('ip_address')
      .count({ n: '*' })
      .groupBy('network_id', 'ip_address')
      .having(db.raw('count(*) > 1'));
    const dupMacs = await db('ports')
      .select('mac_address')
      .count({ n: '*' })
      .groupBy('network_id', 'mac_address')
      .having(db.raw('count(*) > 1'));
    const total = Number(
      ((await db('ip_allocations').count({ n: '*' }).first()) as { n: number | string }).n,
    );
    await db.destroy();

    latencies.sort((a, b) => a - b);
    console.log(
      `port create bench [${backend}] ${clients} clients, ${elapsed.toFixed(1)} s measured, ${cpus().length} CPUs`,
    );
    if (exhaustedAt)
      console.log(
        `  the /20 (4093 addresses) was exhausted after ${elapsed.toFixed(1)} s: window ended there`,
      );
    console.log(`  port security: ${values['no-port-security'] ? 'off' : 'on (default security group)'}`);
    console.log(
      `  ports created in window: ${latencies.length}  → ${(latencies.length / elapsed).toFixed(1)} ports/s`,
    );
    console.log(
      `  latency ms: p50 ${pct(latencies, 50)?.toFixed(1)}  p90 ${pct(latencies, 90)?.toFixed(1)}  p99 ${pct(latencies, 99)?.toFixed(1)}  max ${latencies.at(-1)?.toFixed(1)}`,
    );
    console.log(
      `  failures: ${failures.size ? [...failures].map(([k, v]) => `${k} x${v}`).join(', ') : 'none'}`,
    );
    console.log(
      `  addresses: ${total} allocated in the database, ${new Set(addresses).size} distinct of ${addresses.length} answered; ` +
        `duplicate addresses in DB: ${dupIps.length}, duplicate MACs: ${dupMacs.length} → ${dupIps.length || dupMacs.length || new Set(addresses).size !== addresses.length ? 'DUPLICATES FOUND' : 'no address given twice'}`,
    );
  } finally {
    if (started)
      await run(process.execPath, [CLI_MAIN, '--config', configFile, 'stop'], { env, timeout: 60_000 }).catch(
        (e: Error) => console.error(`stop failed: ${e.message}`),
      );
    await database?.drop();
    rmSync(work, { recursive: true, force: true });
    agent.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
