/** Transactions that survive races: retried from scratch on deadlocks, lock timeouts and racing inserts. */
import type { Knex } from 'knex';
import { isDuplicateKey } from './columns.js';

export const isSqlite = (db: Knex): boolean => /sqlite/i.test(String(db.client.config.client));

/** A deadlock or lock wait timeout (MariaDB), or a busy database (SQLite): the transaction may be retried. */
export const isDeadlock = (err: unknown): boolean => {
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
