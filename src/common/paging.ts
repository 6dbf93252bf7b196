import type { Knex } from 'knex';
import { BadRequest } from './errors.js';

export interface PageRequest {
  limit: number;
  marker: string | null;
}

/**
 * Reads `limit` and `marker` as Nova and Cinder do: limit a non-negative integer, capped at maxLimit
 * ([api] max_limit in Nova's osapi_max_limit); marker the id of the last item of the previous page.
 */
export function parsePageRequest(query: Record<string, unknown>, maxLimit: number): PageRequest {
  let limit = maxLimit;
  if (query.limit !== undefined) {
    const text = String(query.limit);
    if (!/^\d+$/.test(text)) throw new BadRequest(`limit param must be an integer`);
    limit = Math.min(Number(text), maxLimit);
  }
  const marker = query.marker === undefined ? null : String(query.marker);
  return { limit, marker };
}

/**
 * One page of an ordered query: rows after the marker row in (sortKey, id) order. An unknown marker is a 400,
 * as Nova's "marker [x] not found". Returns one extra row's worth of knowledge: whether a next page exists.
 */
export async function fetchPage<T extends Record<string, unknown>>(
  query: Knex.QueryBuilder,
  table: string,
  page: PageRequest,
  opts: { sortKey?: string; direction?: 'asc' | 'desc'; idColumn?: string } = {},
): Promise<{ rows: T[]; hasMore: boolean }> {
  const id = opts.idColumn ?? 'id';
  const sortKey = opts.sortKey ?? id;
  const dir = opts.direction ?? 'asc';
  const cmp = dir === 'asc' ? '>' : '<';
  if (page.marker !== null) {
    const markerRow = await query
      .clone()
      .clearSelect()
      .clearOrder()
      .select(`${table}.${sortKey} as k`)
      .where(`${table}.${id}`, page.marker)
      .first();
    if (!markerRow) throw new BadRequest(`marker [${page.marker}] not found`);
    const k = (markerRow as { k: unknown }).k;
    query.where((q) => {
      q.where(`${table}.${sortKey}`, cmp, k as Knex.Value).orWhere((q2) =>
        q2
          .where(`${table}.${sortKey}`, k as Knex.Value)
          .andWhere(`${table}.${id}`, cmp, page.marker as string),
      );
    });
  }
  if (page.limit === 0) return { rows: [], hasMore: false };
  const rows = (await query
    .orderBy([
      { column: `${table}.${sortKey}`, order: dir },
      { column: `${table}.${id}`, order: dir },
    ])
    .limit(page.limit + 1)) as T[];
  return { rows: rows.slice(0, page.limit), hasMore: rows.length > page.limit };
}

/** Nova's `<collection>_links`: a `next` link carrying the last id as marker, only when a next page exists. */
export function nextLinks(
  requestUrl: URL,
  lastId: string | null,
  hasMore: boolean,
  limit: number,
): { rel: 'next'; href: string }[] {
  if (!hasMore || lastId === null) return [];
  const next = new URL(requestUrl.toString());
  next.searchParams.set('limit', String(limit));
  next.searchParams.set('marker', lastId);
  return [{ rel: 'next', href: next.toString() }];
}
