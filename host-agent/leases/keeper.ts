/**
 * Storage leases (design §5). Every lease_interval the agent writes its counter to a lease file on every
 * shared store and reads every other host's. Two things come out of it:
 * - the bypass report: for each peer, the last counter seen and how long ago it last changed — a host cut off
 *   from the API but alive is still seen renewing by its peers;
 * - self-fencing: after self_fence_after without a successful renewal the agent destroys its own domains, since
 *   the cluster will soon restart them elsewhere.
 * The clock and the file I/O are injected, so this is tested deterministically.
 */
export interface LeaseRecord {
  host_id: string;
  counter: number;
  /** Writer's clock, informational only: peers judge liveness by counter changes on their own clock. */
  written_at: number;
}

export interface LeaseIo {
  /** Writes and syncs this host's lease on one store, and says how big the store is (if it can); must reject
   * (not hang) after its timeout. */
  write(storeMount: string, record: LeaseRecord): Promise<StoreCapacity | void>;
  /** Reads every host's lease on one store. */
  readAll(storeMount: string): Promise<LeaseRecord[]>;
}

export interface StoreCapacity {
  totalBytes: number;
  freeBytes: number;
}

export interface PeerObservation {
  host_id: string;
  counter: number;
  changed_ms_ago: number;
}

export interface LeaseState {
  counter: number;
  /** When a renewal last succeeded on every store; null before the first. */
  lastRenewalAt: number | null;
  /** Stores whose last write failed, with the error. */
  failing: Record<string, string>;
  /** Size of each store, as measured at its last successful renewal. */
  capacity: Record<string, StoreCapacity>;
  fenced: boolean;
}

export class LeaseKeeper {
  private counter: number;
  private lastRenewalAt: number | null = null;
  private startedAt: number;
  private failing: Record<string, string> = {};
  private capacity: Record<string, StoreCapacity> = {};
  private fenced = false;
  private peers = new Map<string, { counter: number; changedAt: number }>();

  constructor(
    private readonly hostId: string,
    private readonly stores: string[],
    private readonly io: LeaseIo,
    private readonly now: () => number,
    private readonly selfFenceAfterMs: number,
    /** Called once when the agent must fence itself; resolves when its domains are destroyed. */
    private readonly onFence: (reason: string) => Promise<void>,
    /** Counters only ever grow, also across restarts: start from the time so a restart never goes back. */
    startCounter = Date.now(),
  ) {
    this.counter = startCounter;
    this.startedAt = now();
  }

  /** One round: renew on every store, read every peer, then decide about fencing. */
  async tick(): Promise<void> {
    this.counter += 1;
    const record: LeaseRecord = { host_id: this.hostId, counter: this.counter, written_at: this.now() };
    const results = await Promise.allSettled(this.stores.map((s) => this.io.write(s, record)));
    this.failing = {};
    results.forEach((r, i) => {
      if (r.status === 'rejected')
        this.failing[this.stores[i]] = String((r.reason as Error)?.message ?? r.reason);
      else if (r.value) this.capacity[this.stores[i]] = r.value;
    });
    if (Object.keys(this.failing).length === 0 && this.stores.length > 0) {
      this.lastRenewalAt = this.now();
      this.fenced = false;
    }
    await this.observePeers();
    await this.checkFence();
  }

  private async observePeers(): Promise<void> {
    const reads = await Promise.allSettled(this.stores.map((s) => this.io.readAll(s)));
    const now = this.now();
    for (const r of reads) {
      if (r.status !== 'fulfilled') continue;
      for (const rec of r.value) {
        if (rec.host_id === this.hostId) continue;
        const seen = this.peers.get(rec.host_id);
        if (!seen) this.peers.set(rec.host_id, { counter: rec.counter, changedAt: now });
        else if (rec.counter > seen.counter)
          this.peers.set(rec.host_id, { counter: rec.counter, changedAt: now });
      }
    }
  }

  private async checkFence(): Promise<void> {
    if (this.fenced || this.stores.length === 0) return;
    const since = this.lastRenewalAt ?? this.startedAt;
    const silentFor = this.now() - since;
    if (silentFor < this.selfFenceAfterMs) return;
    this.fenced = true;
    const stores = Object.entries(this.failing)
      .map(([s, e]) => `${s}: ${e}`)
      .join('; ');
    await this.onFence(
      `no storage-lease renewal for ${Math.round(silentFor / 1000)} s (${stores || 'no successful write yet'})`,
    );
  }

  /** The bypass report sent with every heartbeat. */
  peerReport(): PeerObservation[] {
    const now = this.now();
    return [...this.peers].map(([host_id, p]) => ({
      host_id,
      counter: p.counter,
      changed_ms_ago: Math.max(0, now - p.changedAt),
    }));
  }

  state(): LeaseState {
    return {
      counter: this.counter,
      lastRenewalAt: this.lastRenewalAt,
      failing: { ...this.failing },
      capacity: { ...this.capacity },
      fenced: this.fenced,
    };
  }
}
