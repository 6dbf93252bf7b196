/** GET /v2/images: Glance's filters (incl. `in:` and size/date operators), both sort forms and marker paging. */
import type { Knex } from 'knex';
import { BadRequest } from '../../common/errors.js';
import { parseIsoTime } from '../../common/time.js';
import type { Actor } from '../policy.js';
import { hydrate, loadImage, type Image } from './model.js';
import type { ImageDeps } from './service.js';

/** Glance's limit_param_default: the page size when the client gives no limit. */
const DEFAULT_LIMIT = 25;
const SORT_KEYS = [
  'name',
  'status',
  'container_format',
  'disk_format',
  'size',
  'id',
  'created_at',
  'updated_at',
];
/** Filters on the image's own columns with Glance's "in:" / "eq:" operators. */
const OPERATOR_COLUMNS = new Set(['name', 'id', 'status', 'container_format', 'disk_format']);
/** Other image columns a filter compares for equality (Glance: hasattr(models.Image, key)). */
const EQUALITY_COLUMNS = new Set([
  'owner',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'size',
  'virtual_size',
  'min_disk',
  'min_ram',
]);
const INTEGER_COLUMNS = new Set(['size', 'virtual_size', 'min_disk', 'min_ram']);
const TIME_OPERATORS: Record<string, string> = { gt: '>', gte: '>=', lt: '<', lte: '<=', eq: '=', neq: '<>' };
const NOT_FILTERS = new Set(['limit', 'marker', 'sort', 'sort_key', 'sort_dir', 'member_status', 'tag']);

export interface ListResult {
  images: Image[];
  /** Glance's links, relative to the image endpoint as Glance writes them. */
  first: string;
  next: string | null;
}

/** Glance's split_filter_op: "in:a,b" / "eq:a" / "a" (an ISO time keeps its colons). */
function splitFilterOp(expression: string): [string, string] {
  const i = expression.indexOf(':');
  if (i < 0) return ['eq', expression];
  if (parseIsoTime(expression) !== null && /^\d{4}-\d\d-\d\d/.test(expression)) return ['eq', expression];
  return [expression.slice(0, i), expression.slice(i + 1)];
}

/** Glance's split_filter_value_for_quotes: commas separate values except inside double quotes. */
function splitInValues(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && text[i + 1] === '"') {
      cur += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  if (quoted) throw new BadRequest(`Invalid filter value ${text}. The quote is not closed.`);
  out.push(cur);
  return out;
}

function integerFilter(value: string): number {
  if (!/^-?\d+$/.test(value.trim()))
    throw new BadRequest('Unable to filter on a range with a non-numeric value.');
  return Number(value);
}

function boolFilter(name: string, value: string | undefined, fallback?: boolean): boolean | undefined {
  if (value === undefined) return fallback;
  const v = value.toLowerCase();
  if (v !== 'true' && v !== 'false') {
    throw new BadRequest(
      `Invalid value '${value}' for '${name}' filter. Valid values are 'true' or 'false'.`,
    );
  }
  return v === 'true';
}

interface SortSpec {
  key: string;
  dir: 'asc' | 'desc';
}

/** Glance's _get_sorting_params: `sort=k:dir,...` or repeated sort_key/sort_dir; created_at and id break ties. */
function sortOf(params: [string, string][]): SortSpec[] {
  const values = (k: string) => params.filter(([n]) => n === k).map(([, v]) => v.trim());
  const checkKey = (k: string) => {
    if (!SORT_KEYS.includes(k)) {
      throw new BadRequest(
        `Invalid sort key: ${k}. It must be one of the following: ${SORT_KEYS.join(', ')}.`,
      );
    }
    return k;
  };
  const checkDir = (d: string): 'asc' | 'desc' => {
    if (d !== 'asc' && d !== 'desc') throw new BadRequest(`Invalid sort direction: ${d}`);
    return d;
  };
  const keys: string[] = [];
  const dirs: ('asc' | 'desc')[] = [];
  const sort = values('sort');
  if (sort.length) {
    if (values('sort_key').length || values('sort_dir').length) {
      throw new BadRequest('Old and new sorting syntax cannot be combined');
    }
    for (const part of sort[sort.length - 1].split(',')) {
      const [k, d] = part.split(':');
      keys.push(checkKey(k.trim()));
      dirs.push(checkDir((d ?? 'desc').trim() || 'desc'));
    }
  } else {
    for (const k of values('sort_key')) keys.push(checkKey(k));
    for (const d of values('sort_dir')) dirs.push(checkDir(d));
    if (dirs.length > 1 && dirs.length !== keys.length) {
      throw new BadRequest('Number of sort dirs does not match the number of sort keys');
    }
  }
  if (keys.length === 0) keys.push('created_at');
  const fallbackDir = dirs.length === 1 ? dirs[0] : 'desc';
  const specs = keys.map((key, i) => ({ key, dir: dirs[i] ?? fallbackDir }));
  for (const key of ['created_at', 'id']) {
    if (!keys.includes(key)) specs.push({ key, dir: fallbackDir });
  }
  return specs;
}

/** Rows strictly after the marker in the sort order; NULL sorts first ascending on both SQLite and MariaDB. */
function afterMarker(q: Knex.QueryBuilder, sort: SortSpec[], marker: Record<string, unknown>): void {
  const col = (k: string) => `images.${k}`;
  q.where((outer) => {
    sort.forEach((s, i) => {
      outer.orWhere((branch) => {
        for (const prev of sort.slice(0, i)) {
          const v = marker[prev.key];
          if (v === null || v === undefined) branch.whereNull(col(prev.key));
          else branch.where(col(prev.key), v as Knex.Value);
        }
        const v = marker[s.key];
        if (s.dir === 'asc') {
          if (v === null || v === undefined) branch.whereNotNull(col(s.key));
          else branch.where(col(s.key), '>', v as Knex.Value);
        } else if (v === null || v === undefined) {
          branch.whereRaw('1 = 0');
        } else {
          branch.where((b) => b.where(col(s.key), '<', v as Knex.Value).orWhereNull(col(s.key)));
        }
      });
    });
  });
}

/** GET /v2/images with Glance's filters, visibility rules, sorting and marker paging. */
export async function listImages(
  deps: ImageDeps,
  actor: Actor,
  params: [string, string][],
): Promise<ListResult> {
  const { db } = deps;
  const get = (k: string) => {
    const all = params.filter(([n]) => n === k);
    return all.length ? all[all.length - 1][1] : undefined;
  };
  const limitText = get('limit');
  let limit = DEFAULT_LIMIT;
  if (limitText !== undefined) {
    if (!/^-?\d+$/.test(limitText.trim())) throw new BadRequest('limit param must be an integer');
    limit = Number(limitText);
    if (limit < 0) throw new BadRequest('limit param must be positive');
  }
  limit = Math.min(limit, deps.config.api.max_limit);
  const memberStatus = get('member_status') ?? 'accepted';
  if (!['pending', 'accepted', 'rejected', 'all'].includes(memberStatus)) {
    throw new BadRequest(`Invalid status: ${memberStatus}`);
  }
  const visibility = get('visibility');
  if (visibility !== undefined && !['community', 'public', 'private', 'shared', 'all'].includes(visibility)) {
    throw new BadRequest(`Invalid visibility value: ${visibility}`);
  }
  if (get('changes-since') !== undefined) {
    throw new BadRequest('The "changes-since" filter is no longer available on v2.');
  }
  const sort = sortOf(params);
  const q = db('images').select('images.*');

  // Which images the caller may list (glance/db/sqlalchemy/api.py _select_images_query).
  const project = actor.projectId;
  if (!actor.admin) {
    q.where((w) => {
      w.whereIn('images.visibility', ['public', 'community']);
      if (project !== null) {
        w.orWhere('images.owner', project).orWhere((s) =>
          s.where('images.visibility', 'shared').whereExists((m) => {
            m.select(db.raw('1'))
              .from('image_members')
              .whereRaw('image_members.image_id = images.id')
              .where('image_members.member', project);
            if (memberStatus !== 'all') m.where('image_members.status', memberStatus);
          }),
        );
      }
    });
  }
  if (visibility !== undefined) {
    if (visibility !== 'all') q.where('images.visibility', visibility);
  } else if (project === null) {
    q.whereNot('images.visibility', 'community');
  } else {
    // community images appear by default only to their owner, as in Glance
    q.where((w) => w.where('images.owner', project).orWhereNot('images.visibility', 'community'));
  }
  q.whereNot('images.status', 'killed');
  q.where('images.os_hidden', boolFilter('os_hidden', get('os_hidden'), false) as boolean);
  const prot = boolFilter('protected', get('protected'));
  if (prot !== undefined) q.where('images.protected', prot);

  for (const tag of params.filter(([n]) => n === 'tag').map(([, v]) => v.trim())) {
    q.whereExists((t) =>
      t
        .select(db.raw('1'))
        .from('image_tags')
        .whereRaw('image_tags.image_id = images.id')
        .where('image_tags.value', tag),
    );
  }
  const seen = new Set<string>();
  for (const [key] of params) {
    if (NOT_FILTERS.has(key) || ['visibility', 'os_hidden', 'protected'].includes(key)) continue;
    if (seen.has(key)) continue; // the last value wins, as webob's params.copy() does
    seen.add(key);
    const v = get(key) as string;
    if (key.endsWith('_min') || key.endsWith('_max')) {
      const column = key.slice(0, -4);
      if (!INTEGER_COLUMNS.has(column)) {
        throw new BadRequest(`Unable to filter by unknown operator '${key}'.`);
      }
      q.where(`images.${column}`, key.endsWith('_min') ? '>=' : '<=', integerFilter(v));
    } else if (key === 'created_at' || key === 'updated_at') {
      const [op, text] = splitFilterOp(v);
      const sql = TIME_OPERATORS[op];
      if (!sql) throw new BadRequest(`Unable to filter by unknown operator '${op}'.`);
      const at = parseIsoTime(text);
      if (at === null) {
        throw new BadRequest(`Bad "${key}" query filter format. Use ISO 8601 DateTime notation.`);
      }
      // Glance compares whole seconds: its times carry no fraction
      if (sql === '=') q.whereBetween(`images.${key}`, [at, at + 999]);
      else if (sql === '<>') q.whereNotBetween(`images.${key}`, [at, at + 999]);
      else if (sql === '>') q.where(`images.${key}`, '>', at + 999);
      else if (sql === '<=') q.where(`images.${key}`, '<=', at + 999);
      else q.where(`images.${key}`, sql, at);
    } else if (OPERATOR_COLUMNS.has(key)) {
      const [op, text] = splitFilterOp(v);
      if (op === 'in') q.whereIn(`images.${key}`, splitInValues(text));
      else if (op === 'eq') q.where(`images.${key}`, text);
      else throw new BadRequest(`Unable to filter by unknown operator '${op}'.`);
    } else if (EQUALITY_COLUMNS.has(key)) {
      q.where(`images.${key}`, INTEGER_COLUMNS.has(key) ? integerFilter(v) : v);
    } else {
      q.whereExists((p) =>
        p
          .select(db.raw('1'))
          .from('image_properties')
          .whereRaw('image_properties.image_id = images.id')
          .where('image_properties.name', key)
          .where('image_properties.value', v),
      );
    }
  }

  const marker = get('marker');
  if (marker !== undefined) {
    const markerRow = await loadImage(db, marker);
    if (!markerRow) throw new BadRequest(`No image found with ID ${marker}`);
    const values: Record<string, unknown> = {
      name: markerRow.name,
      status: markerRow.status,
      container_format: markerRow.containerFormat,
      disk_format: markerRow.diskFormat,
      size: markerRow.size,
      id: markerRow.id,
      created_at: markerRow.createdAt,
      updated_at: markerRow.updatedAt,
    };
    afterMarker(q, sort, values);
  }
  // NULLs sort first ascending and last descending on both engines, which afterMarker() relies on
  for (const s of sort) q.orderBy(`images.${s.key}`, s.dir);
  const rows = limit === 0 ? [] : ((await q.limit(limit + 1)) as Record<string, unknown>[]);
  const hasMore = rows.length > limit;
  const images = await hydrate(db, rows.slice(0, limit));

  const rest = params.filter(([k]) => k !== 'marker');
  const query = new URLSearchParams(rest).toString();
  const first = query ? `/v2/images?${query}` : '/v2/images';
  let next: string | null = null;
  if (hasMore && images.length) {
    next = `/v2/images?${new URLSearchParams([...rest, ['marker', images[images.length - 1].id]]).toString()}`;
  }
  return { images, first, next };
}
