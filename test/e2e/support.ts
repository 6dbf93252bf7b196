/**
 * End-to-end support: a kvmstack all-in-one started through the real CLI (`kvmstack up`) as a separate
 * process in a temporary directory on a free port, and helpers that drive the real Debian clients
 * (`openstack`, openstacksdk) against it. Every child process is started with execFile and an argument array.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidAlive } from '../../src/common/pidfile.js';

/** The repository root (this file runs from dist/test/e2e/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI_MAIN = join(REPO_ROOT, 'dist', 'tools', 'cli', 'main.js');

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Env = Record<string, string>;

/** Runs a program with an argument array (no shell); never throws for a non-zero exit. */
export function exec(
  file: string,
  args: readonly string[],
  opts: { env?: Env; timeoutMs?: number; cwd?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      file,
      args as string[],
      {
        env: opts.env ?? cleanEnv(),
        cwd: opts.cwd,
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 32 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') return reject(err); // ENOENT and the like
        const code = err ? (typeof err.code === 'number' ? err.code : err.killed ? 124 : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

/**
 * The environment of this process without anything that would steer the clients or kvmstack elsewhere
 * (OS_*, a clouds.yaml choice, KVMSTACK_* options), plus the given variables.
 */
export function cleanEnv(extra: Env = {}): Env {
  const env: Env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('OS_') || k.startsWith('KVMSTACK_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '0.0.0.0', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePromise(port));
    });
  });
}

/** Parses an openrc written by `kvmstack up` (export NAME=value lines, values optionally single-quoted). */
export function parseOpenrc(text: string): Env {
  const env: Env = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2];
    if (value.startsWith("'") && value.endsWith("'")) value = value.slice(1, -1).replace(/'\\''/g, "'");
    env[m[1]] = value;
  }
  return env;
}

/** Alive and not a zombie: a stopped daemon lingers as one until PID 1 reaps it. */
export const isAlive = pidAlive;

/** Settings that make the API cheap to test: bcrypt at its lowest cost. */
export const FAST_ENV: Env = { KVMSTACK_IDENTITY_PASSWORD_HASH_ROUNDS: '4' };

/** The verbs whose output `openstack` can format with -f json. */
const FORMATTABLE = new Set(['list', 'show', 'create', 'issue']);

export class OpenStackCliError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly result: ExecResult,
  ) {
    super(
      `openstack ${args.join(' ')} exited ${result.code}\n--- stderr ---\n${result.stderr}\n--- stdout ---\n${result.stdout}`,
    );
  }
}

export interface Kvmstack {
  /** Everything of this cloud lives here; removed by stop(). */
  dir: string;
  configFile: string;
  dataDir: string;
  port: number;
  /** The public base URL clients use (from the openrc `up` wrote, without /identity/v3). */
  url: string;
  /** The API on loopback, for direct HTTP checks. */
  localUrl: string;
  adminPassword: string;
  /** Output of the first `kvmstack up`. */
  upOutput: string;
  /** The environment for the openstack CLI as the admin: OS_AUTH_URL, OS_USERNAME, … and nothing else of OS_*. */
  env: Env;
  /** Runs `kvmstack --config FILE ...args` (the CLI, as a separate process). */
  cli(args: readonly string[], extraEnv?: Env): Promise<ExecResult>;
  /**
   * Runs `openstack ...args` (adding `-f json` to list/show/create/issue commands) and returns the parsed JSON,
   * or the trimmed standard output for commands that print no table. Throws OpenStackCliError on a non-zero exit.
   * `env` replaces the admin environment (it is not merged), so that other credentials are used alone.
   */
  run<T = unknown>(args: readonly string[], env?: Env): Promise<T>;
  /** As run() but returns the exit code and both outputs, never throwing: for the commands expected to fail. */
  attempt(args: readonly string[], env?: Env): Promise<ExecResult>;
  /** The pid in the API's pid file, or null. */
  apiPid(): number | null;
  /** Stops the API (CLI `stop`, then the pid file's process by force if still alive) and removes the directory. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** The admin password given through KVMSTACK_BOOTSTRAP_ADMIN_PASSWORD; null: let `up` generate one. */
  adminPassword?: string | null;
  /** Keep the directory on stop() (for inspection). Also kept when KVMSTACK_E2E_KEEP is set. */
  keep?: boolean;
  /** `up --api-only` (default): the identity tests need no compute host. false: the full all-in-one. */
  apiOnly?: boolean;
}

export function withFormat(args: readonly string[]): string[] {
  const out = [...args];
  if (out.includes('-f') || out.includes('--format')) return out;
  const words: string[] = [];
  for (let i = 0; i < out.length; i++) {
    const a = out[i];
    if (words.length === 0 && a.startsWith('--os-')) {
      if (!a.includes('=')) i++; // a global option and its value, before the command
      continue;
    }
    if (a.startsWith('-')) break;
    words.push(a);
  }
  if (words.some((w) => FORMATTABLE.has(w))) out.push('-f', 'json');
  return out;
}

/** Every started cloud's pid lookup: a last resort at exit if a test run dies before its after() hooks. */
const started = new Set<() => number | null>();
process.once('exit', () => {
  for (const pidOf of started) {
    const pid = pidOf();
    if (pid) process.kill(pid, 'SIGTERM');
  }
});

/** Starts a kvmstack all-in-one with `kvmstack --config DIR/kvmstack.conf up --data-dir DIR/data --port PORT`. */
export async function startKvmstack(opts: StartOptions = {}): Promise<Kvmstack> {
  const dir = mkdtempSync(join(tmpdir(), 'kvmstack-e2e-'));
  chmodSync(dir, 0o711); // as /var/lib is: QEMU (libvirt's user) walks through to the VMs' disks
  const configFile = join(dir, 'kvmstack.conf');
  const dataDir = join(dir, 'data');
  const pidFile = join(dataDir, 'kvmstack-api.pid');
  const port = await freePort();
  const given =
    opts.adminPassword === undefined ? `e2e-${Math.random().toString(36).slice(2)}-Pw` : opts.adminPassword;
  const upEnv = cleanEnv({ ...FAST_ENV, ...(given ? { KVMSTACK_BOOTSTRAP_ADMIN_PASSWORD: given } : {}) });

  const cli = (args: readonly string[], extraEnv: Env = {}) =>
    exec(process.execPath, [CLI_MAIN, '--config', configFile, ...args], {
      env: { ...upEnv, ...extraEnv },
      timeoutMs: 90_000,
    });

  const apiPid = (): number | null => {
    if (!existsSync(pidFile)) return null;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : null;
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    started.delete(apiPid);
    const pid = apiPid();
    if (pid) {
      await cli(['stop']).catch(() => undefined);
      const deadline = Date.now() + 5000;
      while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    if (!opts.keep && !process.env.KVMSTACK_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  };

  started.add(apiPid);
  const up = await cli([
    'up',
    '--data-dir',
    dataDir,
    '--port',
    String(port),
    ...(opts.apiOnly === false ? [] : ['--api-only']),
  ]);
  if (up.code !== 0) {
    const log = join(dataDir, 'log', 'kvmstack-api.log');
    const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-4000) : '(no log)';
    await stop();
    throw new Error(`kvmstack up exited ${up.code}\n${up.stdout}\n${up.stderr}\n--- API log ---\n${tail}`);
  }
  const openrc = parseOpenrc(readFileSync(join(dataDir, 'openrc'), 'utf8'));
  const adminPassword = openrc.OS_PASSWORD;
  const url = openrc.OS_AUTH_URL.replace(/\/identity\/v3\/?$/, '');
  const env: Env = {
    OS_AUTH_URL: `${url}/identity/v3`,
    OS_USERNAME: openrc.OS_USERNAME,
    OS_PASSWORD: adminPassword,
    OS_PROJECT_NAME: openrc.OS_PROJECT_NAME,
    OS_USER_DOMAIN_NAME: openrc.OS_USER_DOMAIN_NAME,
    OS_PROJECT_DOMAIN_NAME: openrc.OS_PROJECT_DOMAIN_NAME,
    OS_IDENTITY_API_VERSION: '3',
    OS_REGION_NAME: openrc.OS_REGION_NAME,
  };

  const attempt = (args: readonly string[], runEnv: Env = env) =>
    exec('openstack', withFormat(args), { env: cleanEnv(runEnv) });
  const run = async <T = unknown>(args: readonly string[], runEnv: Env = env): Promise<T> => {
    const full = withFormat(args);
    const res = await exec('openstack', full, { env: cleanEnv(runEnv) });
    if (res.code !== 0) throw new OpenStackCliError(full, res);
    const out = res.stdout.trim();
    if (full[full.indexOf('-f') + 1] === 'json') {
      try {
        return JSON.parse(out) as T;
      } catch {
        throw new OpenStackCliError(full, { ...res, stderr: `${res.stderr}\n(output is not JSON)` });
      }
    }
    return out as T;
  };

  return {
    dir,
    configFile,
    dataDir,
    port,
    url,
    localUrl: `http://127.0.0.1:${port}`,
    adminPassword,
    upOutput: up.stdout,
    env,
    cli,
    run,
    attempt,
    apiPid,
    stop,
  };
}

/** The python3 that has openstacksdk (Debian's python3-openstacksdk lives in /usr/bin/python3, not a pyenv one). */
export async function pythonWithSdk(): Promise<string> {
  const candidates = [process.env.KVMSTACK_E2E_PYTHON, '/usr/bin/python3', 'python3'].filter(
    (c): c is string => !!c,
  );
  for (const py of candidates) {
    const res = await exec(py, ['-c', 'import openstack'], { env: cleanEnv() }).catch(() => null);
    if (res && res.code === 0) return py;
  }
  throw new Error(
    `no python3 with openstacksdk among ${candidates.join(', ')}: install python3-openstacksdk (tools/install-deps.sh test)`,
  );
}

/** POST /identity/v3/auth/tokens with a password; returns the X-Subject-Token. */
export async function issueToken(
  url: string,
  user: { name: string; password: string; project?: string },
): Promise<string> {
  const res = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: user.name, domain: { id: 'default' }, password: user.password } },
        },
        ...(user.project ? { scope: { project: { name: user.project, domain: { id: 'default' } } } } : {}),
      },
    }),
  });
  if (res.status !== 201)
    throw new Error(`token issue for ${user.name}: HTTP ${res.status} ${await res.text()}`);
  return res.headers.get('x-subject-token') as string;
}

/** A server as `openstack server show -f json` prints it (addresses: a string or a map, by client version). */
export interface CliServer {
  id: string;
  name: string;
  status: string;
  addresses: string | Record<string, string[]>;
  fault?: unknown;
  [k: string]: unknown;
}

/**
 * Polls `show` until the server has the status wanted (ERROR ends it early); fails with the last status and
 * the server's fault. Returns the server as last shown.
 */
export async function waitServerStatus(
  show: (name: string) => Promise<CliServer>,
  name: string,
  want: string,
  timeoutMs: number,
): Promise<CliServer> {
  const deadline = Date.now() + timeoutMs;
  let s = await show(name);
  while (s.status !== want && s.status !== 'ERROR' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    s = await show(name);
  }
  if (s.status !== want)
    throw new Error(`${name}: wanted ${want}, is ${s.status} ${JSON.stringify(s.fault ?? '')}`);
  return s;
}
