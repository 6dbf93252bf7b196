/**
 * Running the lab's external commands (always execFile with an argument array, never a shell string) and
 * handling the processes it starts by their pid files.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program; resolves with its exit code and output, rejects only when it cannot be started. */
export function tryRun(file: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args as string[],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') return reject(err); // ENOENT...
        const code = err ? (typeof err.code === 'number' ? err.code : 124) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs a program and returns its stdout; a non-zero exit is an error that quotes the command and stderr. */
export async function run(file: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const r = await tryRun(file, args, timeoutMs);
  if (r.code !== 0) {
    const detail = (r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n');
    throw new Error(`${file} ${args.join(' ')} failed (exit ${r.code}): ${detail}`);
  }
  return r.stdout;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until check() is truthy; throws `what` after timeoutMs. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs: number,
  everyMs = 100,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Whether a process exists and is not a zombie (an exited daemon lingers as one until it is reaped). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function readPid(file: string): number | null {
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 1 ? pid : null;
}

/** The live pid in a pid file, or null. */
export function livePidFrom(file: string): number | null {
  const pid = readPid(file);
  return pid !== null && pidAlive(pid) ? pid : null;
}

/** The program a process runs (argv[0] and argv[1] joined), to check a pid still is what its file says. */
export function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 2).join(' ');
  } catch {
    return '';
  }
}

/**
 * Stops the process named by a pid file: SIGTERM, then SIGKILL after graceMs. `expect` guards against a stale
 * file whose pid now belongs to someone else: the process's command line must contain it. Removes the file.
 */
export async function stopByPidFile(file: string, expect: string, graceMs = 5000): Promise<boolean> {
  const pid = livePidFrom(file);
  let stopped = false;
  if (pid !== null && commandOf(pid).includes(expect)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const deadline = Date.now() + graceMs;
    while (pidAlive(pid) && Date.now() < deadline) await sleep(50);
    if (pidAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      while (pidAlive(pid) && Date.now() < deadline + 2000) await sleep(50);
    }
    stopped = true;
  }
  rmSync(file, { force: true });
  return stopped;
}
