/**
 * Lease file I/O, run in a worker thread: a hung mount blocks this thread, never the agent's event loop.
 * Writes are made durable (fsync) and atomic (rename), so a reader never sees half a lease.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  statfsSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';

export interface LeaseRequest {
  id: number;
  op: 'write' | 'readAll';
  mount: string;
  record?: { host_id: string; counter: number; written_at: number };
}

export const leaseDir = (mount: string): string => join(mount, '.kvmstack', 'leases');

/** Writes the lease, then measures the store: both touch the mount, so both belong in this thread. */
function write(
  mount: string,
  record: NonNullable<LeaseRequest['record']>,
): { totalBytes: number; freeBytes: number } {
  const dir = leaseDir(mount);
  mkdirSync(dir, { recursive: true });
  const final = join(dir, `${record.host_id}.lease`);
  const tmp = `${final}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, JSON.stringify(record));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, final);
  const st = statfsSync(mount);
  return { totalBytes: st.blocks * st.bsize, freeBytes: st.bavail * st.bsize };
}

function readAll(mount: string): unknown[] {
  const dir = leaseDir(mount);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.lease'));
  } catch {
    return [];
  }
  const out: unknown[] = [];
  for (const n of names) {
    try {
      // As a Buffer: readFileSync(f, 'utf8') takes Node 20's native fast path, which aborts the whole agent
      // when close() fails (seen on the lab's GlusterFS store, where peers rename over their leases each round).
      out.push(JSON.parse(readFileSync(join(dir, n)).toString('utf8')));
    } catch {
      // a lease being replaced, or garbage: skip it this round
    }
  }
  return out;
}

parentPort?.on('message', (req: LeaseRequest) => {
  try {
    const result =
      req.op === 'write'
        ? write(req.mount, req.record as NonNullable<LeaseRequest['record']>)
        : readAll(req.mount);
    parentPort?.postMessage({ id: req.id, ok: true, result });
  } catch (err) {
    parentPort?.postMessage({ id: req.id, ok: false, error: (err as Error).message });
  }
});
