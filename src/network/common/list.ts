/**
 * Neutron list requests, for every collection (networks, subnets, ports, security groups, ...):
 *
 * - filters: `?attr=v` on any attribute of the view; repeated (`?id=a&id=b`) means OR; booleans as
 *   True/False/true/false/1/0; an attribute holding a list matches when it contains a value; unknown keys are
 *   ignored (we do not claim the filter-validation extension); custom filters (ports' `fixed_ips=ip_address=X`)
 *   come from the ListSpec; tags filters `tags`, `tags-any`, `not-tags`, `not-tags-any` (comma separated);
 * - `fields=` (repeatable): only those attributes are returned, as Neutron (not even `id` unless asked);
 * - `sort_key`/`sort_dir` (repeatable, same count; `id` added last as tie-breaker);
 * - `limit`/`marker`/`page_reverse` with `<collection>_links` (rel next/previous) exactly as Neutron's
 *   get_pagination_links. An unknown marker is the resource's 404.
 *
 * Use: `const req = parseListRequest(ctx, spec)`; optionally `narrow(query, req, {name: 'networks.name'})` to
 * let SQL pre-select on plain columns; build the full views of the visible rows; `ctx.body = await
 * listResponse(ctx, spec, req, views, fetchMarker)`.
 */
import type { Knex } from 'knex';
import type { ApiError } from '../../common/errors.js';
import type { Ctx } from '../../common/context.js';
import { badRequest } from './errors.js';

export type View = Record<string, unknown>;

export interface ListSpec {
  /** The collection key of the response: 'networks', 'security_groups'. */
  collection: string;
  /** Attributes accepted as sort_key. */
  sortKeys: readonly string[];
  /** 404 for a marker that does not exist (for the caller). */
  notFound: (id: string) => ApiError;
  /** Filters that are not plain attribute comparisons: key → does the item match one of these values. */
  customFilters?: Record<string, (item: View, values: string[]) => boolean>;
}

export interface ListRequest {
  filters: Map<string, string[]>;
  tags: { all: string[]; any: string[]; notAll: string[]; notAny: string[] };
  fields: string[];
  sorts: [string, boolean][];
  limit: number | null;
  marker: string | null;
  pageReverse: boolean;
}

const RESERVED = new Set([
  'fields',
  'sort_key',
  'sort_dir',
  'limit',
  'marker',
  'page_reverse',
  'tags',
  'tags-any',
  'not-tags',
  'not-tags-any',
]);

function params(ctx: Ctx): URLSearchParams {
  return new URLSearchParams(ctx.querystring);
}

const nonEmpty = (vs: string[]): string[] => vs.filter((v) => v !== '');
const tagList = (q: URLSearchParams, key: string): string[] =>
  q.getAll(key).flatMap((v) => v.split(',').filter((t) => t !== ''));

export function parseListRequest(ctx: Ctx, spec: ListSpec): ListRequest {
  const q = params(ctx);
  const filters = new Map<string, string[]>();
  for (const key of new Set(q.keys())) {
    if (RESERVED.has(key)) continue;
    const values = nonEmpty(q.getAll(key));
    if (values.length) filters.set(key, values);
  }
  const sortKeys = nonEmpty(q.getAll('sort_key'));
  const sortDirs = nonEmpty(q.getAll('sort_dir'));
  if (sortKeys.length !== sortDirs.length)
    throw badRequest('The number of sort_keys and sort_dirs must be same');
  const badKeys = sortKeys.filter((k) => !spec.sortKeys.includes(k));
  if (badKeys.length) throw badRequest(`${pyList(badKeys)} is invalid attribute for sort_keys`);
  const badDirs = sortDirs.filter((d) => d !== 'asc' && d !== 'desc');
  if (badDirs.length)
    throw badRequest(`${pyList(badDirs)} is invalid value for sort_dirs, valid value is 'asc' and 'desc'`);
  const sorts: [string, boolean][] = sortKeys.map((k, i) => [k, sortDirs[i] === 'asc']);
  if (!sorts.some(([k]) => k === 'id')) sorts.push(['id', true]);

  const limitText = q.get('limit') ?? '0';
  if (!/^\s*\+?\d+\s*$/.test(limitText))
    throw badRequest(
      `Bad limit request: Limit must be an integer 0 or greater and not '${limitText}'.`,
      'BadRequest',
    );
  const limit = Number(limitText) || null;
  return {
    filters,
    tags: {
      all: tagList(q, 'tags'),
      any: tagList(q, 'tags-any'),
      notAll: tagList(q, 'not-tags'),
      notAny: tagList(q, 'not-tags-any'),
    },
    fields: nonEmpty(q.getAll('fields')),
    sorts,
    limit,
    marker: limit ? q.get('marker') || null : null,
    pageReverse: (q.get('page_reverse') ?? 'False').toLowerCase() === 'true',
  };
}

/** Python's repr of a list of strings, as Neutron's messages print them: ['a', 'b']. */
const pyList = (xs: string[]): string => `[${xs.map((x) => `'${x}'`).join(', ')}]`;

/**
 * Lets SQL pre-select on plain string columns (same result as the in-memory filter, fewer rows to render).
 * `columns` maps an attribute to its column; only exact string attributes belong here.
 */
export function narrow(query: Knex.QueryBuilder, req: ListRequest, columns: Record<string, string>): void {
  for (const [attr, column] of Object.entries(columns)) {
    const values = req.filters.get(attr);
    if (values) query.whereIn(column, values);
  }
}

/** Neutron's convert_to_boolean for filter values. */
export function parseBool(attr: string, v: string): boolean {
  if (/^(true|1)$/i.test(v)) return true;
  if (/^(false|0)$/i.test(v)) return false;
  throw badRequest(`Invalid input for ${attr}. Reason: '${v}' cannot be converted to boolean.`);
}

function matchesValue(attr: string, actual: unknown, wanted: string): boolean {
  if (typeof actual === 'boolean') return actual === parseBool(attr, wanted);
  if (typeof actual === 'number') return String(actual) === wanted.trim();
  if (typeof actual === 'string') return actual === wanted;
  if (Array.isArray(actual)) return actual.some((a) => typeof a !== 'object' && String(a) === wanted);
  return false; // null never matches a non-empty value
}

export function matchesFilters(item: View, req: ListRequest, spec: ListSpec): boolean {
  for (const [key, values] of req.filters) {
    const custom = spec.customFilters?.[key];
    if (custom) {
      if (!custom(item, values)) return false;
      continue;
    }
    if (!(key in item)) continue; // unknown attribute: ignored
    const actual = item[key];
    if (actual !== null && typeof actual === 'object' && !Array.isArray(actual)) continue; // dicts: not filters
    if (!values.some((v) => matchesValue(key, actual, v))) return false;
  }
  const { all, any, notAll, notAny } = req.tags;
  if (all.length || any.length || notAll.length || notAny.length) {
    const tags = new Set((item.tags as string[] | undefined) ?? []);
    if (all.length && !all.every((t) => tags.has(t))) return false;
    if (any.length && !any.some((t) => tags.has(t))) return false;
    if (notAll.length && notAll.every((t) => tags.has(t))) return false;
    if (notAny.length && notAny.some((t) => tags.has(t))) return false;
  }
  return true;
}

function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  const x = typeof a === 'boolean' ? Number(a) : a;
  const y = typeof b === 'boolean' ? Number(b) : b;
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  const s = String(x);
  const t = String(y);
  return s < t ? -1 : s > t ? 1 : 0;
}

export function comparator(sorts: [string, boolean][]): (a: View, b: View) => number {
  return (a, b) => {
    for (const [key, asc] of sorts) {
      const c = compareValues(a[key], b[key]);
      if (c) return asc ? c : -c;
    }
    return 0;
  };
}

/** Only the requested attributes (all when none requested). */
export function selectFields(item: View, fields: string[]): View {
  if (!fields.length) return item;
  const out: View = {};
  for (const f of fields) if (f in item) out[f] = item[f];
  return out;
}

/** `fields=` of a show request (GET /v2.0/networks/{id}?fields=name). */
export function showFields(ctx: Ctx): string[] {
  return nonEmpty(params(ctx).getAll('fields'));
}

/**
 * Filters, sorts, pages and trims the full views of every row the caller may see, and builds the body
 * `{<collection>: [...], <collection>_links?: [...]}`. `fetchMarker` loads the marker's view when the SQL
 * narrowing may have left it out (it must return null when the caller may not see it).
 */
export async function listResponse(
  ctx: Ctx,
  spec: ListSpec,
  req: ListRequest,
  views: View[],
  fetchMarker?: (id: string) => Promise<View | null>,
): Promise<Record<string, unknown>> {
  const cmp = comparator(req.sorts);
  let items = views.filter((v) => matchesFilters(v, req, spec)).sort(cmp);
  if (req.limit) {
    if (req.marker) {
      const marker =
        views.find((v) => v.id === req.marker) ?? (fetchMarker ? await fetchMarker(req.marker) : null);
      if (!marker) throw spec.notFound(req.marker);
      items = req.pageReverse
        ? items.filter((v) => cmp(v, marker) < 0).slice(-req.limit)
        : items.filter((v) => cmp(v, marker) > 0).slice(0, req.limit);
    } else {
      items = req.pageReverse ? items.slice(-req.limit) : items.slice(0, req.limit);
    }
  }
  const body: Record<string, unknown> = { [spec.collection]: items.map((v) => selectFields(v, req.fields)) };
  const links = paginationLinks(ctx, req, items);
  if (links.length) body[`${spec.collection}_links`] = links;
  return body;
}

/** neutron/api/api_common.py get_pagination_links. */
function paginationLinks(ctx: Ctx, req: ListRequest, items: View[]): { rel: string; href: string }[] {
  const limit = req.limit;
  if (!limit) return [];
  const base = `${ctx.deps.config.api.public_url}${ctx.path}`;
  const links: { rel: string; href: string }[] = [];
  const href = (marker: unknown, reverse: boolean): string => {
    const q = params(ctx);
    q.delete('marker');
    q.delete('page_reverse');
    if (marker !== undefined) q.set('marker', String(marker));
    if (reverse) q.set('page_reverse', 'True');
    return `${base}?${q.toString()}`;
  };
  if (!(items.length < limit && !req.pageReverse))
    links.push({ rel: 'next', href: href(items.at(-1)?.id, false) });
  if (!(items.length < limit && req.pageReverse))
    links.push({ rel: 'previous', href: href(items[0]?.id, true) });
  return links;
}
