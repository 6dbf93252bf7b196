/**
 * External commands, for the agent, the lab and the CLI alike: always execFile with an argument array, never a
 * shell string built from input.
 */
import { execFile } from 'node:child_process';

/** A failed external command: its stderr is in the message because that is where the tools explain why. */
export class ExecError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    /** The exit code, or null when the command was killed (e.g. on timeout). */
    readonly exitCode: number | null,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

export interface RunOptions {
  /** Kill the command after this long (SIGKILL); default 60 s. */
  timeoutMs?: number;
  /** Written to the command's standard input, then closed (e.g. `nft -f -`). */
  input?: string;
}

/**
 * Runs a command with an argument array (never through a shell) and resolves with its stdout.
 * Rejects with an ExecError naming the command and carrying its stderr.
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const timeout = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const timedOut = err.killed === true && err.signal === 'SIGKILL';
        const why = timedOut ? `timed out after ${timeout} ms` : stderr.trim() || err.message;
        const code = typeof err.code === 'number' ? err.code : null;
        reject(new ExecError(`${cmd} ${args.join(' ')}: ${why}`, stderr, code, timedOut));
      },
    );
    if (opts.input !== undefined) {
      // A command that exits before reading its input makes the pipe fail (EPIPE): its exit status tells why.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(opts.input);
    }
  });
}

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
