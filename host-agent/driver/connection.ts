/**
 * One libvirt connection through @unraid/libvirt that heals itself. The binding never recovers a connection
 * whose libvirtd went away ("client socket is closed" forever, even after libvirtd is back), so a dead one is
 * replaced by a new Hypervisor on the next call, and the failed call is tried once more on it.
 */
import { Hypervisor } from '@unraid/libvirt';
import { isDeadConnection } from './errors.js';
import { DriverError } from './types.js';

interface Slot {
  hv: Hypervisor;
  /** Native calls not yet settled: closing under them would free the connection they use. */
  inflight: number;
  dead: boolean;
  closing: Promise<void> | null;
}

export class LibvirtConnection {
  private current: Slot | null = null;
  private opening: Promise<Slot> | null = null;
  private closed = false;

  constructor(
    readonly uri: string,
    /** A libvirt call that takes longer is reported as failed (its thread stays busy: libvirt has no cancel). */
    private readonly timeoutMs = 120_000,
  ) {}

  /**
   * Runs `fn` on a live connection. Domain objects must not escape `fn`: they belong to that connection.
   * Callers make their operations safe to repeat, since a call cut by a dying libvirtd may have happened.
   */
  async call<T>(what: string, fn: (hv: Hypervisor) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const slot = await this.slot();
      try {
        return await this.track(slot, what, fn(slot.hv));
      } catch (err) {
        if (!isDeadConnection(err)) throw err;
        this.retire(slot);
        if (attempt > 0) throw err;
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const slot = this.current;
    this.current = null;
    if (slot) {
      slot.dead = true;
      await this.closeIfIdle(slot);
    }
  }

  private async slot(): Promise<Slot> {
    if (this.closed) throw new DriverError(`libvirt connection to ${this.uri} is closed`);
    if (this.current && !this.current.dead) return this.current;
    this.opening ??= this.open().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  private async open(): Promise<Slot> {
    const hv = new Hypervisor({ uri: this.uri });
    // A failed open leaves no connection behind, so there is nothing to close.
    await withTimeout(hv.connectOpen(), this.timeoutMs, `connecting to ${this.uri}`);
    const slot: Slot = { hv, inflight: 0, dead: false, closing: null };
    this.current = slot;
    return slot;
  }

  private track<T>(slot: Slot, what: string, p: Promise<T>): Promise<T> {
    slot.inflight++;
    const settled = p.finally(() => {
      slot.inflight--;
      void this.closeIfIdle(slot);
    });
    return withTimeout(settled, this.timeoutMs, what);
  }

  private retire(slot: Slot): void {
    slot.dead = true;
    if (this.current === slot) this.current = null;
    void this.closeIfIdle(slot);
  }

  private closeIfIdle(slot: Slot): Promise<void> {
    if (!slot.dead || slot.inflight > 0) return Promise.resolve();
    slot.closing ??= slot.hv.connectClose().catch(() => undefined);
    return slot.closing;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DriverError(`${what}: libvirt did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  // The loser must not become an unhandled rejection.
  p.catch(() => undefined);
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
