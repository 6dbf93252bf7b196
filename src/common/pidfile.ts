/**
 * Processes started in the background and known by their pid files (the API, agents, lab daemons): never by
 * process name.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
