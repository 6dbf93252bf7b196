import type { Knex } from 'knex';
import type { AuthContext } from '../../common/context.js';

export interface RevocationEvent {
  id?: number;
  audit_id?: string | null;
  user_id?: string | null;
  project_id?: string | null;
  domain_id?: string | null;
  application_credential_id?: string | null;
  /** Tokens issued at or before this time (ms) are revoked if the other fields match. */
  issued_before: number;
  created_at: number;
}

/**
 * Token revocations, as Keystone's revocation events: every field set on an event must match the token.
 * Validation reads only the in-memory list; a timer loads events written by other API processes
 * (`[token] revocation_refresh_interval`), and this process's own revocations apply at once.
 */
export class RevocationList {
  private events: RevocationEvent[] = [];
  private lastId = 0;
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly db: Knex,
    private readonly now: () => number,
    /** Longest token lifetime (ms): older events can no longer match a live token. */
    private readonly horizonMs: number,
  ) {}

  async start(intervalMs: number, onError: (err: unknown) => void): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => this.refresh().catch(onError), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Loads events newer than the last seen, and forgets those past the horizon. */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const rows = (await this.db('revocation_events')
          .where('id', '>', this.lastId)
          .orderBy('id')) as RevocationEvent[];
        for (const row of rows) {
          this.lastId = Math.max(this.lastId, Number(row.id));
          if (!this.events.some((e) => e.id === row.id)) this.events.push(normalise(row));
        }
        const cutoff = this.now() - this.horizonMs;
        this.events = this.events.filter((e) => e.created_at >= cutoff);
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** Records a revocation in the database and applies it here immediately. */
  async revoke(
    event: Omit<RevocationEvent, 'created_at' | 'issued_before'> & { issued_before?: number },
    trx?: Knex,
  ): Promise<void> {
    const now = this.now();
    const row = { ...event, issued_before: event.issued_before ?? now, created_at: now };
    const [id] = await (trx ?? this.db)('revocation_events').insert(row);
    this.events.push(normalise({ ...row, id: Number(id) }));
  }

  /** Deletes events past the horizon from the database (housekeeping). */
  async purge(): Promise<number> {
    return this.db('revocation_events')
      .where('created_at', '<', this.now() - this.horizonMs)
      .delete();
  }

  isRevoked(t: AuthContext): boolean {
    return this.events.some((e) => matches(e, t));
  }

  get size(): number {
    return this.events.length;
  }
}

function normalise(row: RevocationEvent): RevocationEvent {
  return {
    ...row,
    id: Number(row.id),
    issued_before: Number(row.issued_before),
    created_at: Number(row.created_at),
  };
}

function matches(e: RevocationEvent, t: AuthContext): boolean {
  if (t.issuedAtMs > e.issued_before) return false;
  if (e.audit_id && !t.auditIds.includes(e.audit_id)) return false;
  if (e.user_id && e.user_id !== t.userId) return false;
  if (e.project_id && e.project_id !== t.projectId) return false;
  if (e.application_credential_id && e.application_credential_id !== t.applicationCredentialId) return false;
  if (e.domain_id && ![t.userDomainId, t.projectDomainId, t.domainId].includes(e.domain_id)) return false;
  return true;
}
