/** Transactions for Neutron writes: retried when a concurrent writer won a unique key or a deadlock. */
import type { Knex } from 'knex';
import { isDuplicateKey } from '../../db/columns.js';

export const isSqlite = (db: Knex): boolean => /sqlite/i.test(String(db.client.config.client));

const isDeadlock = (err: unknown): boolean => {
  const e = err as { code?: string; errno?: number };
  return e?.code === 'ER_LOCK_DEADLOCK' || e?.code === 'ER_LOCK_WAIT_TIMEOUT' || e?.code === 'SQLITE_BUSY';
};

/**
 * Runs `work` in a transaction (READ COMMITTED on MariaDB, so a retry and every locking step see the latest
 * commits), retrying it from scratch up to `attempts` times when it fails on a duplicate key or a deadlock.
 * `retryable` narrows which duplicate keys are races (e.g. an automatically chosen address) rather than the
 * caller's own fault (a requested address already taken): return false to let the error through.
 */
export async function withRetry<T>(
  db: Knex,
  work: (trx: Knex.Transaction, attempt: number) => Promise<T>,
  opts: { attempts?: number; retryable?: (err: unknown) => boolean } = {},
): Promise<T> {
  const attempts = opts.attempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(
        (trx) => work(trx, attempt),
        isSqlite(db) ? undefined : { isolationLevel: 'read committed' },
      );
    } catch (err) {
      const race = isDeadlock(err) || (isDuplicateKey(err) && (opts.retryable?.(err) ?? true));
      if (!race || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
    }
  }
}

/** SELECT ... FOR UPDATE of one row on MariaDB (SQLite serializes write transactions already). */
export async function lockRow(trx: Knex, table: string, where: Record<string, unknown>): Promise<void> {
  if (!isSqlite(trx)) await trx(table).where(where).forUpdate().first();
}
