/** Database helpers for Neutron: transactions retried on races, row locks, and reads by many ids. */
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

/** MariaDB and SQLite both cap the number of bound parameters: `whereIn` reads go 500 ids at a time. */
const CHUNK = 500;

/** Runs `load` on the ids 500 at a time and concatenates the results. */
export async function inChunks<T>(
  ids: readonly string[],
  load: (part: string[]) => Promise<T[]>,
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) out.push(...(await load(ids.slice(i, i + CHUNK))));
  return out;
}
