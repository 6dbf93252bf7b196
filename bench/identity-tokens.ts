/**
 * Keystone token benchmark: issue (password, token) and validation, on SQLite and on MariaDB, against a real
 * API process started with `kvmstack up` (its own process: the load generator does not share its event loop).
 *
 *   npm run bench                     # both backends, 8 clients, 5 s per scenario after a 1 s warm-up
 *   node dist/bench/identity-tokens.js --backends sqlite --duration 3 --json /tmp/now.json --compare /tmp/before.json
 *
 * Every scenario runs N keep-alive clients (http.Agent, one request in flight per client) for a fixed time and
 * reports throughput and latency percentiles (nearest rank, from every request of the measured window). The API
 * process's VmRSS is read at idle after start and after the load. The load generator runs on the same machine:
 * on a small host it takes CPU from the API process, so compare figures from the same host only.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import knexFactory, { type Knex } from 'knex';
import { openDatabase } from '../src/db/connection.js';

const CLI_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../tools/cli/main.js');
const MARIADB_USER = process.env.KVMSTACK_TEST_MARIADB_USER ?? 'kvmstack_test';
const MARIADB_PASSWORD = process.env.KVMSTACK_TEST_MARIADB_PASSWORD ?? 'kvmstack_test';
const MARIADB_HOST = process.env.KVMSTACK_TEST_MARIADB_HOST ?? '127.0.0.1';
const DEFAULT_BCRYPT_COST = 10;
/** The password scenario at the default cost runs this many times --duration. */
const PASSWORD_WINDOW = 1.6;
const CLK_TCK = 100; // Linux USER_HZ: the unit of utime/stime in /proc/<pid>/stat

type Backend = 'sqlite' | 'mariadb';

interface Options {
  backends: Backend[];
  concurrency: number;
  durationS: number;
  warmupS: number;
  json?: string;
  compare?: string;
}

interface ScenarioResult {
  backend: Backend;
  scenario: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  n: number;
  errors: number;
  /** CPU time of the API process during the window, as % of one core. */
  apiCpuPct: number | null;
  /** CPU time of this load generator, as % of one core. */
  benchCpuPct: number;
  /** CPU time of everything else on the host (MariaDB included), as % of one core. */
  restCpuPct: number | null;
}

interface RssResult {
  backend: Backend;
  idleKiB: number;
  afterLoadKiB: number;
}

interface Report {
  date: string;
  node: string;
  cpus: number;
  cpuModel: string;
  /** 1-minute load average when the bench started: other work on the host skews every figure. */
  loadAvgAtStart: number;
  concurrency: number;
  durationS: number;
  warmupS: number;
  results: ScenarioResult[];
  rss: RssResult[];
}

// ---------------------------------------------------------------------------------------------- arguments

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      backends: { type: 'string', default: 'sqlite,mariadb' },
      concurrency: { type: 'string', short: 'c', default: '8' },
      duration: { type: 'string', short: 'd', default: '5' },
      warmup: { type: 'string', default: '1' },
      json: { type: 'string' },
      compare: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(
      'usage: node dist/bench/identity-tokens.js [--backends sqlite,mariadb] [-c 8] [-d SECONDS] [--warmup SECONDS]\n' +
        '                                          [--json FILE] [--compare PREVIOUS.json]',
    );
    process.exit(0);
  }
  const backends = String(values.backends)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const b of backends) if (b !== 'sqlite' && b !== 'mariadb') throw new Error(`unknown backend "${b}"`);
  const num = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min)
      throw new Error(`--${name}: expected a number >= ${min}, got "${text}"`);
    return n;
  };
  return {
    backends: backends as Backend[],
    concurrency: Math.floor(num('concurrency', String(values.concurrency), 1)),
    durationS: num('duration', String(values.duration), 0.5),
    warmupS: num('warmup', String(values.warmup), 0),
    json: values.json,
    compare: values.compare,
  };
}

// ---------------------------------------------------------------------------------------------- processes

/** The environment for the CLI: no KVMSTACK_* from the caller's shell, so only the bench's config file counts. */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KVMSTACK_')) env[k] = v;
  return { ...env, ...extra };
}

function runCli(configFile: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      process.execPath,
      [CLI_MAIN, '--config', configFile, ...args],
      { env, timeout: 120_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`kvmstack ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
        else resolvePromise(stdout);
      },
    );
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePromise(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function vmRssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // fields 14 and 15 of proc(5)
  } catch {
    return null;
  }
}

/** One API instance brought up by `kvmstack up` in its own temp directory, with its own database. */
class Instance {
  readonly dir = mkdtempSync(join(tmpdir(), 'kvmstack-bench-'));
  readonly configFile = join(this.dir, 'kvmstack.conf');
  password = randomBytes(12).toString('base64url');
  readonly baseUrl: string;
  pid = 0;
  private running = false;

  constructor(
    readonly backend: Backend,
    readonly port: number,
    readonly dbUrl: string,
  ) {
    this.baseUrl = `http://127.0.0.1:${port}`;
  }

  writeConfig(bcryptCost: number): void {
    const dataDir = join(this.dir, 'data');
    writeFileSync(
      this.configFile,
      [
        '[DEFAULT]',
        `data_dir = ${dataDir}`,
        `log_file = ${dataDir}/log/kvmstack-api.log`,
        '',
        '[api]',
        'listen = 127.0.0.1',
        `port = ${this.port}`,
        `public_url = ${this.baseUrl}`,
        '',
        '[database]',
        `connection = ${this.dbUrl || `sqlite://${dataDir}/kvmstack.sqlite`}`,
        '',
        '[identity]',
        `password_hash_rounds = ${bcryptCost}`,
        '',
      ].join('\n'),
    );
  }

  /**
   * `kvmstack up` with a new admin password: bootstrap leaves an unchanged password alone, so a new one is what
   * makes it hash again, at the configured bcrypt cost.
   */
  async up(bcryptCost: number): Promise<void> {
    this.writeConfig(bcryptCost);
    this.password = randomBytes(12).toString('base64url');
    this.running = true;
    await runCli(
      this.configFile,
      ['up', '--api-only'],
      cliEnv({ KVMSTACK_BOOTSTRAP_ADMIN_PASSWORD: this.password }),
    );
    const pidFile = join(this.dir, 'data', 'kvmstack-api.pid');
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await sleep(50);
    this.pid = Number(readFileSync(pidFile, 'utf8').trim());
    const cost = await this.storedBcryptCost();
    if (cost !== bcryptCost)
      throw new Error(`the admin password hash has cost ${cost}, expected ${bcryptCost}`);
  }

  /** `kvmstack stop`; should the CLI itself fail, the API process this instance started is ended by its pid. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    try {
      await runCli(this.configFile, ['stop'], cliEnv({}));
    } catch (err) {
      console.error(`   ${(err as Error).message.split('\n')[0]}; ending API pid ${this.pid} directly`);
    }
    if (this.pid && alive(this.pid)) {
      process.kill(this.pid, 'SIGTERM');
      for (let i = 0; i < 100 && alive(this.pid); i++) await sleep(100);
      if (alive(this.pid)) process.kill(this.pid, 'SIGKILL');
    }
  }

  /** The cost field of the admin's stored bcrypt hash: what the password scenario really measures. */
  private async storedBcryptCost(): Promise<number> {
    const url = this.dbUrl || `sqlite://${join(this.dir, 'data', 'kvmstack.sqlite')}`;
    const db = openDatabase(url, 1);
    try {
      const row = (await db('users').where({ name: 'admin', domain_id: 'default' }).first()) as
        { password_hash?: string } | undefined;
      const m = /^\$2[aby]?\$(\d+)\$/.exec(row?.password_hash ?? '');
      if (!m) throw new Error('the admin user has no bcrypt password hash');
      return Number(m[1]);
    } finally {
      await db.destroy();
    }
  }

  removeDir(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function mariadbAdmin<T>(fn: (k: Knex) => Promise<T>): Promise<T> {
  const k = knexFactory({
    client: 'mysql2',
    connection: { host: MARIADB_HOST, user: MARIADB_USER, password: MARIADB_PASSWORD },
    pool: { min: 0, max: 1 },
  });
  try {
    return await fn(k);
  } finally {
    await k.destroy();
  }
}

// ---------------------------------------------------------------------------------------------- HTTP load

interface Req {
  method: 'GET' | 'HEAD' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Res {
  status: number;
  subjectToken?: string;
  body: string;
}

function send(agent: Agent, base: URL, req: Req, keepBody: boolean): Promise<Res> {
  return new Promise((resolvePromise, reject) => {
    const headers: Record<string, string | number> = { Accept: 'application/json', ...req.headers };
    if (req.body) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = req.body.length;
    }
    const r = request(
      { agent, host: base.hostname, port: base.port, method: req.method, path: req.path, headers },
      (res) => {
        const chunks: Buffer[] = [];
        const status = res.statusCode ?? 0;
        const keep = keepBody || status >= 400;
        res.on('data', (c: Buffer) => {
          if (keep) chunks.push(c);
        });
        res.on('end', () => {
          const subject = res.headers['x-subject-token'];
          resolvePromise({
            status,
            subjectToken: typeof subject === 'string' ? subject : undefined,
            body: keep ? Buffer.concat(chunks).toString() : '',
          });
        });
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

interface Scenario {
  name: string;
  /** The request for the i-th call; null when the scenario has run out of input. */
  next: (i: number) => Req | null;
  expect: number;
  /** Called with each measured response (e.g. to collect the issued tokens). */
  onResponse?: (res: Res) => void;
  /** Measured window in seconds (default --duration). */
  durationS?: number;
  /** Stop the warm-up after this many requests (for scenarios that consume their input). */
  warmupCount?: number;
}

interface Window {
  latenciesMs: number[];
  errors: number;
  elapsedS: number;
  firstError?: string;
}

/** N clients, each with one request in flight, until the deadline or the scenario's input runs out. */
async function drive(
  agent: Agent,
  base: URL,
  sc: Scenario,
  concurrency: number,
  seconds: number,
  measure: boolean,
  maxCount = Infinity,
): Promise<Window> {
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let i = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(seconds * 1e9));
  const client = async () => {
    while (process.hrtime.bigint() < deadline && i < maxCount) {
      const req = sc.next(i++);
      if (!req) return;
      const t0 = process.hrtime.bigint();
      let res: Res;
      try {
        res = await send(agent, base, req, false);
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
        continue;
      }
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (res.status !== sc.expect) {
        errors++;
        firstError ??= `HTTP ${res.status} ${res.body.slice(0, 200)}`;
        continue;
      }
      if (measure) {
        latenciesMs.push(ms);
        sc.onResponse?.(res);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  return { latenciesMs, errors, elapsedS, firstError };
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

async function runScenario(
  inst: Instance,
  agent: Agent,
  sc: Scenario,
  opts: Options,
  results: ScenarioResult[],
): Promise<ScenarioResult> {
  const base = new URL(inst.baseUrl);
  if (opts.warmupS > 0) {
    const w = await drive(agent, base, sc, opts.concurrency, opts.warmupS, false, sc.warmupCount);
    if (w.errors)
      throw new Error(
        `${inst.backend} ${sc.name}: ${w.errors} error(s) in the warm-up, first: ${w.firstError}`,
      );
  }
  const [cpu0, host0, self0] = [cpuSeconds(inst.pid), hostBusySeconds(), process.cpuUsage()];
  const w = await drive(agent, base, sc, opts.concurrency, sc.durationS ?? opts.durationS, true);
  const [cpu1, host1, self] = [cpuSeconds(inst.pid), hostBusySeconds(), process.cpuUsage(self0)];
  if (w.errors) throw new Error(`${inst.backend} ${sc.name}: ${w.errors} error(s), first: ${w.firstError}`);
  const sorted = Float64Array.from(w.latenciesMs).sort();
  const arr = Array.from(sorted);
  const result: ScenarioResult = {
    backend: inst.backend,
    scenario: sc.name,
    rps: w.latenciesMs.length / w.elapsedS,
    p50Ms: percentile(arr, 50),
    p99Ms: percentile(arr, 99),
    n: w.latenciesMs.length,
    errors: w.errors,
    apiCpuPct: null,
    benchCpuPct: ((self.user + self.system) / 1e6 / w.elapsedS) * 100,
    restCpuPct: null,
  };
  if (cpu0 !== null && cpu1 !== null) {
    result.apiCpuPct = ((cpu1 - cpu0) / w.elapsedS) * 100;
    if (host0 !== null && host1 !== null) {
      result.restCpuPct = Math.max(
        0,
        ((host1 - host0) / w.elapsedS) * 100 - result.apiCpuPct - result.benchCpuPct,
      );
    }
  }
  results.push(result);
  console.log(`   ${formatRow(result)}`);
  return result;
}

// ---------------------------------------------------------------------------------------------- scenarios

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const TOKENS = '/identity/v3/auth/tokens';
const PROJECT_BY_NAME = { project: { name: 'admin', domain: { name: 'Default' } } };

function passwordIssue(inst: Instance, cost: number, durationS?: number): Scenario {
  const body = json({
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: 'admin', domain: { name: 'Default' }, password: inst.password } },
      },
      scope: PROJECT_BY_NAME,
    },
  });
  const label = cost === DEFAULT_BCRYPT_COST ? `cost ${cost} (default)` : `cost ${cost} (reference only)`;
  return {
    name: `issue: password, bcrypt ${label}`,
    next: () => ({ method: 'POST', path: TOKENS, headers: {}, body }),
    expect: 201,
    durationS,
  };
}

async function issueToken(
  inst: Instance,
  agent: Agent,
  auth: unknown,
): Promise<{ token: string; projectId?: string }> {
  const res = await send(
    agent,
    new URL(inst.baseUrl),
    { method: 'POST', path: TOKENS, headers: {}, body: json({ auth }) },
    true,
  );
  if (res.status !== 201 || !res.subjectToken)
    throw new Error(`token issue failed: HTTP ${res.status} ${res.body}`);
  const body = JSON.parse(res.body) as { token: { project?: { id: string } } };
  return { token: res.subjectToken, projectId: body.token.project?.id };
}

async function benchBackend(
  backend: Backend,
  opts: Options,
  results: ScenarioResult[],
  rss: RssResult[],
): Promise<void> {
  let dbName = '';
  if (backend === 'mariadb') {
    dbName = `kvmstack_bench_${randomBytes(4).toString('hex')}`;
    await mariadbAdmin((k) =>
      k.raw(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`),
    ).catch((err: Error) => {
      throw new Error(`MariaDB is needed for the mariadb backend (bash tools/mariadb.sh): ${err.message}`);
    });
  }
  const dbUrl = dbName ? `mysql://${MARIADB_USER}:${MARIADB_PASSWORD}@${MARIADB_HOST}:3306/${dbName}` : '';
  const inst = new Instance(backend, await freePort(), dbUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const cleanup = async () => {
    agent.destroy();
    await inst.stop().catch((err: Error) => console.error(`   stop failed: ${err.message}`));
    inst.removeDir();
    if (dbName) await mariadbAdmin((k) => k.raw(`DROP DATABASE IF EXISTS \`${dbName}\``));
  };
  activeCleanups.add(cleanup);
  try {
    console.log(`\n== ${backend}: kvmstack up (bcrypt cost ${DEFAULT_BCRYPT_COST}) in ${inst.dir}`);
    await inst.up(DEFAULT_BCRYPT_COST);
    await sleep(1000);
    const idleKiB = vmRssKiB(inst.pid);
    console.log(`   API pid ${inst.pid}, VmRSS at idle ${(idleKiB / 1024).toFixed(1)} MiB`);

    const project = await issueToken(inst, agent, {
      identity: {
        methods: ['password'],
        password: { user: { name: 'admin', domain: { name: 'Default' }, password: inst.password } },
      },
      scope: PROJECT_BY_NAME,
    });
    const unscoped = await issueToken(inst, agent, {
      identity: {
        methods: ['password'],
        password: { user: { name: 'admin', domain: { name: 'Default' }, password: inst.password } },
      },
      scope: 'unscoped',
    });
    const subject = await issueToken(inst, agent, {
      identity: { methods: ['token'], token: { id: project.token } },
    });
    const authHeaders = { 'X-Auth-Token': project.token };

    // Few requests per second at the default cost: a longer window, for a p99 worth reading.
    await runScenario(
      inst,
      agent,
      passwordIssue(inst, DEFAULT_BCRYPT_COST, opts.durationS * PASSWORD_WINDOW),
      opts,
      results,
    );

    const fresh: string[] = [];
    const rescopeBody = json({
      auth: {
        identity: { methods: ['token'], token: { id: unscoped.token } },
        scope: { project: { id: project.projectId } },
      },
    });
    await runScenario(
      inst,
      agent,
      {
        name: 'issue: token (unscoped -> project rescope)',
        next: () => ({ method: 'POST', path: TOKENS, headers: {}, body: rescopeBody }),
        expect: 201,
        onResponse: (res) => {
          if (res.subjectToken && fresh.length < 100_000) fresh.push(res.subjectToken);
        },
      },
      opts,
      results,
    );

    const validate = (method: 'GET' | 'HEAD', token: string): Req => ({
      method,
      path: TOKENS,
      headers: { ...authHeaders, 'X-Subject-Token': token },
    });
    await runScenario(
      inst,
      agent,
      {
        name: 'validate: GET auth/tokens (cached subject)',
        next: () => validate('GET', subject.token),
        expect: 200,
      },
      opts,
      results,
    );
    // Each token issued by the rescope run, presented once as the subject: a signature check on every request.
    // The window ends early when they run out.
    await runScenario(
      inst,
      agent,
      {
        name: 'validate: GET auth/tokens (new subject each)',
        next: () => {
          const t = fresh.pop();
          return t ? validate('GET', t) : null;
        },
        expect: 200,
        warmupCount: Math.min(500, Math.floor(fresh.length / 5)),
      },
      opts,
      results,
    );
    await runScenario(
      inst,
      agent,
      {
        name: 'validate: HEAD auth/tokens (cached subject)',
        next: () => validate('HEAD', subject.token),
        expect: 200,
      },
      opts,
      results,
    );
    await runScenario(
      inst,
      agent,
      {
        name: 'authenticated GET auth/projects',
        next: () => ({ method: 'GET', path: '/identity/v3/auth/projects', headers: authHeaders }),
        expect: 200,
      },
      opts,
      results,
    );
    const afterLoadKiB = vmRssKiB(inst.pid);
    rss.push({ backend, idleKiB, afterLoadKiB });
    console.log(`   VmRSS after the load ${(afterLoadKiB / 1024).toFixed(1)} MiB`);

    console.log(`== ${backend}: kvmstack stop; up again with [identity] password_hash_rounds = 4`);
    await inst.stop();
    agent.destroy();
    const agent4 = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
    try {
      await inst.up(4);
      await runScenario(inst, agent4, passwordIssue(inst, 4), opts, results);
    } finally {
      agent4.destroy();
    }
  } finally {
    activeCleanups.delete(cleanup);
    await cleanup();
  }
}

// ---------------------------------------------------------------------------------------------- output

const COLS = { backend: 8, scenario: 46, rps: 9, p50: 9, p99: 9, n: 7, err: 4, cpu: 5 };

function header(): string {
  return [
    'backend'.padEnd(COLS.backend),
    'scenario'.padEnd(COLS.scenario),
    'req/s'.padStart(COLS.rps),
    'p50 ms'.padStart(COLS.p50),
    'p99 ms'.padStart(COLS.p99),
    'n'.padStart(COLS.n),
    'err'.padStart(COLS.err),
    'api'.padStart(COLS.cpu),
    'bench'.padStart(COLS.cpu),
    'rest'.padStart(COLS.cpu),
  ].join(' ');
}

function fmt(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${v.toFixed(0)}%`);

function formatRow(r: ScenarioResult): string {
  return [
    r.backend.padEnd(COLS.backend),
    r.scenario.padEnd(COLS.scenario),
    fmt(r.rps, 1).padStart(COLS.rps),
    fmt(r.p50Ms, 2).padStart(COLS.p50),
    fmt(r.p99Ms, 2).padStart(COLS.p99),
    String(r.n).padStart(COLS.n),
    String(r.errors).padStart(COLS.err),
    pct(r.apiCpuPct).padStart(COLS.cpu),
    pct(r.benchCpuPct).padStart(COLS.cpu),
    pct(r.restCpuPct).padStart(COLS.cpu),
  ].join(' ');
}

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

function printReport(report: Report): void {
  console.log(
    `\nkvmstack identity token bench, ${report.date}, node ${report.node}, ${report.cpus} CPU(s) (${report.cpuModel}), ` +
      `load average at start ${report.loadAvgAtStart.toFixed(2)}`,
  );
  console.log(
    `${report.concurrency} keep-alive clients, ${report.durationS} s per scenario (password at cost 10: ${report.durationS * PASSWORD_WINDOW} s) ` +
      `after ${report.warmupS} s of warm-up, load generator on the same host`,
  );
  console.log(
    'CPU during each window, % of one core: api = the API process, bench = this load generator, ' +
      'rest = everything else on the host (MariaDB included)',
  );
  console.log(header());
  for (const r of report.results) console.log(formatRow(r));
  console.log('\nAPI process VmRSS (bcrypt cost 10 instance)');
  console.log(
    `${'backend'.padEnd(COLS.backend)} ${'idle after start'.padStart(17)} ${'after the load'.padStart(15)}`,
  );
  for (const r of report.rss) {
    console.log(
      `${r.backend.padEnd(COLS.backend)} ${mib(r.idleKiB).padStart(17)} ${mib(r.afterLoadKiB).padStart(15)}`,
    );
  }
}

function ratio(now: number, before: number | undefined): string {
  if (before === undefined || !Number.isFinite(before) || before === 0 || !Number.isFinite(now)) return '-';
  return `x${(now / before).toFixed(2)}`;
}

function printComparison(report: Report, file: string): void {
  const before = JSON.parse(readFileSync(file, 'utf8')) as Report;
  console.log(
    `\nCompared with ${file} (${before.date}): now / before; req/s up is better, latency and RSS down are better`,
  );
  console.log(
    `${'backend'.padEnd(COLS.backend)} ${'scenario'.padEnd(COLS.scenario)} ${'req/s'.padStart(8)} ${'p50'.padStart(8)} ${'p99'.padStart(8)}`,
  );
  for (const r of report.results) {
    const b = before.results.find((x) => x.backend === r.backend && x.scenario === r.scenario);
    console.log(
      [
        r.backend.padEnd(COLS.backend),
        r.scenario.padEnd(COLS.scenario),
        ratio(r.rps, b?.rps).padStart(8),
        ratio(r.p50Ms, b?.p50Ms).padStart(8),
        ratio(r.p99Ms, b?.p99Ms).padStart(8),
      ].join(' '),
    );
  }
  for (const r of report.rss) {
    const b = before.rss.find((x) => x.backend === r.backend);
    console.log(
      `${r.backend.padEnd(COLS.backend)} VmRSS: idle ${ratio(r.idleKiB, b?.idleKiB)}, after the load ${ratio(r.afterLoadKiB, b?.afterLoadKiB)}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------- main

const activeCleanups = new Set<() => Promise<void>>();

async function main(): Promise<void> {
  const opts = parseOptions();
  if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: build first (npm run build)`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: cleaning up`);
      void Promise.allSettled([...activeCleanups].map((c) => c())).then(() => process.exit(130));
    });
  }
  const started = Date.now();
  const loadAvgAtStart = loadavg()[0];
  const results: ScenarioResult[] = [];
  const rss: RssResult[] = [];
  for (const backend of opts.backends) await benchBackend(backend, opts, results, rss);
  const report: Report = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    loadAvgAtStart,
    concurrency: opts.concurrency,
    durationS: opts.durationS,
    warmupS: opts.warmupS,
    results,
    rss,
  };
  printReport(report);
  if (opts.compare) printComparison(report, opts.compare);
  if (opts.json) {
    writeFileSync(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nwrote ${opts.json}`);
  }
  console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
