import { Worker } from 'node:worker_threads';
import type { LeaseIo, LeaseRecord, StoreCapacity } from './keeper.js';

const WORKER_FILE = new URL('./io-worker.js', import.meta.url);
/** Workers stuck in a hung mount are abandoned; past this many, I/O fails at once instead of piling up threads. */
const MAX_ABANDONED = 4;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * LeaseIo over a worker thread with a hard timeout per request. A request that times out rejects, and its
 * worker is abandoned (a thread blocked in a FUSE or NFS syscall cannot be interrupted) and replaced.
 */
export class WorkerLeaseIo implements LeaseIo {
  private worker: Worker | null = null;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private abandoned = 0;

  constructor(private readonly timeoutMs: number) {}

  write(storeMount: string, record: LeaseRecord): Promise<StoreCapacity> {
    return this.request('write', storeMount, record) as Promise<StoreCapacity>;
  }

  readAll(storeMount: string): Promise<LeaseRecord[]> {
    return this.request('readAll', storeMount) as Promise<LeaseRecord[]>;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('lease I/O closed'));
    }
    this.pending.clear();
    if (w) await w.terminate();
  }

  private request(op: 'write' | 'readAll', mount: string, record?: LeaseRecord): Promise<unknown> {
    if (this.abandoned >= MAX_ABANDONED) {
      return Promise.reject(
        new Error(`lease I/O unavailable: ${this.abandoned} workers are stuck in the store`),
      );
    }
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.abandon(worker);
        reject(new Error(`lease ${op} on ${mount} took longer than ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      worker.postMessage({ id, op, mount, record });
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_FILE);
    w.unref();
    w.on('message', (msg: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return; // answered after its timeout
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(msg.error));
    });
    w.on('error', () => this.abandon(w));
    this.worker = w;
    return w;
  }

  private abandon(w: Worker): void {
    if (this.worker !== w) return;
    this.worker = null;
    this.abandoned += 1;
    // Requests still queued on the stuck worker fail now rather than at their own timeouts.
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error('lease I/O worker abandoned (store not answering)'));
      this.pending.delete(id);
    }
    w.once('exit', () => {
      this.abandoned -= 1;
    });
    void w.terminate().catch(() => undefined);
  }
}
