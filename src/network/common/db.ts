/** Database helpers for Neutron: transactions retried on races, row locks, and reads by many ids. */
import type { Knex } from 'knex';

import { isSqlite } from '../../db/transactions.js';
export { isSqlite, withRetry } from '../../db/transactions.js';

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
