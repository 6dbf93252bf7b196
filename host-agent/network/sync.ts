/**
 * The agent's network loop: every network_sync_interval it reports what it has realized (applied revision,
 * active ports, networks it cannot realize) and gets this host's HostNetworkState back; a new revision is
 * applied in full, and so is every RECHECK_EVERY-th round (a bridge deleted by hand comes back), while the
 * rounds between only attach new taps and recompute the active ports.
 */
import type { HostNetworkState, NetworkSyncReport } from '../../src/network/realization.js';
import type { ApplyResult, NetworkRealizer, RealizerLog } from './realizer.js';

export const RECHECK_EVERY = 5;

export interface NetworkSyncDeps {
  realizer: Pick<NetworkRealizer, 'apply'>;
  /** POST /kvmstack/v1/hosts/{host_id}/network. */
  exchange: (report: NetworkSyncReport) => Promise<HostNetworkState>;
  log: RealizerLog & { debug?(obj: object, msg: string): void };
}

export class NetworkSync {
  private appliedRevision: string | null = null;
  private last: ApplyResult | null = null;
  private rounds = 0;
  private lastError = '';
  /** Rounds run one at a time: the periodic one and one asked for by a VM's define never interleave. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: NetworkSyncDeps) {}

  report(): NetworkSyncReport {
    return {
      appliedRevision: this.appliedRevision,
      activePorts: this.last?.activePorts ?? [],
      unrealizable: this.last?.unrealizable ?? [],
    };
  }

  /** One round, after any round under way; never throws (a failing API or host is logged once per error). */
  tick(): Promise<ApplyResult | null> {
    const next = this.queue.then(() => this.round());
    this.queue = next;
    return next;
  }

  private async round(): Promise<ApplyResult | null> {
    try {
      const sent = this.report();
      const state = await this.d.exchange(sent);
      this.rounds += 1;
      const full =
        state.revision !== this.appliedRevision ||
        this.rounds % RECHECK_EVERY === 0 ||
        (this.last?.unrealizable.length ?? 0) > 0;
      const result = await this.d.realizer.apply(state, { full });
      if (result.changes.length)
        this.d.log.info({ revision: state.revision, changes: result.changes }, 'network changes applied');
      this.appliedRevision = state.revision;
      this.last = result;
      this.lastError = '';
      // tell the API at once when a port became active (or a network failed): it shows the port ACTIVE now
      if (!sameReport(sent, this.report())) await this.d.exchange(this.report());
      return result;
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.lastError) this.d.log.warn({ err: msg }, 'network sync failed');
      this.lastError = msg;
      return null;
    }
  }
}

function sameReport(a: NetworkSyncReport, b: NetworkSyncReport): boolean {
  const key = (r: NetworkSyncReport) =>
    JSON.stringify([r.activePorts, r.unrealizable.map((u) => [u.networkId, u.reason]).sort()]);
  return key(a) === key(b);
}
