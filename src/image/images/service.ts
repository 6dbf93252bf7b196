/**
 * Glance v2 images: create, list, show, update (JSON patch), delete, data upload and download, tags and
 * deactivation. Rules and messages follow glance/api/v2/images.py, image_data.py and glance/domain.
 */
import { createReadStream, type ReadStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from '../../common/config/options.js';
import {
  ApiError,
  BadRequest,
  Conflict,
  Forbidden,
  NotFound,
  OverQuota,
  PayloadTooLarge,
} from '../../common/errors.js';
import { newUuid } from '../../common/ids.js';
import { parseIsoTime } from '../../common/time.js';
import { isDuplicateKey } from '../../db/columns.js';
import { denied, type Actor } from '../policy.js';
import { inspectImage } from './inspect.js';
import { hydrate, loadImage, ownsImage, visibleImage, type Image } from './model.js';
import type { Change } from './patch.js';
import { READONLY, RESERVED, RESERVED_NAMESPACE } from './patch.js';
import { validateImage } from './schemas.js';
import {
  absoluteImagePath,
  ClientGone,
  fileSize,
  publish,
  receiveToTemp,
  relativeImagePath,
  removeQuietly,
  strayFiles,
  tempPath,
} from './store.js';

export type { Image } from './model.js';

/** Glance's default quotas on one image (image_property_quota, image_tag_quota). */
export const MAX_PROPERTIES = 128;
export const MAX_TAGS = 128;
/** Glance's limit_param_default: the page size when the client gives no limit. */
export const DEFAULT_LIMIT = 25;
/** How often a running upload renews its heartbeat, and when a `saving` image counts as abandoned. */
export const UPLOAD_HEARTBEAT_MS = 10_000;
export const UPLOAD_STALE_MS = 60_000;

/** Glance's 410 for an image deleted while its data was uploading. */
export class Gone extends ApiError {
  readonly status = 410;
}

export interface ImageDeps {
  db: Knex;
  config: Config;
  now: () => number;
  log: Logger;
}

/** Attributes of the image itself (Glance's hasattr(image, name)); everything else is a string property. */
const BASE_WRITABLE = new Set([
  'name',
  'visibility',
  'protected',
  'os_hidden',
  'min_disk',
  'min_ram',
  'owner',
  'disk_format',
  'container_format',
  'tags',
]);
const NOT_CREATABLE = ['direct_url', 'self', 'file', 'schema', 'stores'];

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function tooManyProperties(n: number): OverQuota {
  return new OverQuota(
    `The limit has been exceeded on the number of allowed image properties. Attempted: ${n}, Maximum: ${MAX_PROPERTIES}`,
    413,
  );
}
function tooManyTags(n: number): OverQuota {
  return new OverQuota(
    `The limit has been exceeded on the number of allowed image tags. Attempted: ${n}, Maximum: ${MAX_TAGS}`,
    413,
  );
}
function checkNotNegative(param: string, value: unknown): void {
  if (typeof value === 'number' && value < 0) {
    throw new BadRequest(`Invalid value '${value}' for parameter '${param}': Cannot be a negative value`);
  }
}
function checkVisibility(actor: Actor, visibility: unknown): void {
  if (visibility === 'public' && !actor.admin) throw denied('publicize_image');
  if (visibility === 'community' && !actor.member) throw denied('communitize_image');
}

/** The columns a row update writes from an image. */
function columnsOf(image: Image): Record<string, unknown> {
  return {
    name: image.name,
    status: image.status,
    visibility: image.visibility,
    protected: image.protected,
    os_hidden: image.osHidden,
    owner: image.owner,
    disk_format: image.diskFormat,
    container_format: image.containerFormat,
    min_disk: image.minDisk,
    min_ram: image.minRam,
    updated_at: image.updatedAt,
  };
}

async function writeProperties(trx: Knex, id: string, image: Image): Promise<void> {
  await trx('image_properties').where({ image_id: id }).delete();
  const rows = Object.entries(image.properties).map(([name, value]) => ({ image_id: id, name, value }));
  if (rows.length) await trx('image_properties').insert(rows);
}
async function writeTags(trx: Knex, id: string, tags: string[]): Promise<void> {
  await trx('image_tags').where({ image_id: id }).delete();
  if (tags.length) await trx('image_tags').insert(tags.map((value) => ({ image_id: id, value })));
}

// ---------------------------------------------------------------------------------------------- create

export async function createImage(deps: ImageDeps, actor: Actor, body: unknown): Promise<Image> {
  const { db, config } = deps;
  if (!isObject(body)) {
    throw new BadRequest("Provided object does not match schema 'image': the body must be a JSON object");
  }
  for (const key of NOT_CREATABLE) {
    if (key in body) throw new Forbidden(`Attribute '${key}' is read-only.`);
  }
  validateImage(config, body);
  for (const key of Object.keys(body)) {
    if (READONLY.has(key) && key !== 'id') throw new Forbidden(`Attribute '${key}' is read-only.`);
  }
  const properties: Record<string, string> = {};
  for (const [key, value] of Object.entries(body)) {
    if (BASE_WRITABLE.has(key) || key === 'id') continue;
    if (key.length > 255) throw new BadRequest('Custom property should not be greater than 255 characters.');
    if (RESERVED.has(key) || key === 'locations' || key.startsWith(RESERVED_NAMESPACE)) {
      throw new Forbidden(`Attribute '${key}' is reserved.`);
    }
    if (value !== null) properties[key] = String(value);
  }
  const owner = body.owner === undefined ? actor.projectId : (body.owner as string | null);
  if (!actor.admin && owner !== actor.projectId) {
    throw new Forbidden(`You are not permitted to create images owned by '${String(owner)}'.`);
  }
  const visibility = (body.visibility as string | undefined) ?? 'shared';
  checkVisibility(actor, visibility);
  checkNotNegative('min_disk', body.min_disk);
  checkNotNegative('min_ram', body.min_ram);
  const tags = [...new Set((body.tags as string[] | undefined) ?? [])];
  if (Object.keys(properties).length > MAX_PROPERTIES) {
    throw tooManyProperties(Object.keys(properties).length);
  }
  if (tags.length > MAX_TAGS) throw tooManyTags(tags.length);

  const now = deps.now();
  const id = (body.id as string | undefined) ?? newUuid();
  const row = {
    id,
    name: (body.name as string | null | undefined) ?? null,
    status: 'queued',
    visibility,
    protected: (body.protected as boolean | undefined) ?? false,
    os_hidden: (body.os_hidden as boolean | undefined) ?? false,
    owner,
    disk_format: (body.disk_format as string | null | undefined) ?? null,
    container_format: (body.container_format as string | null | undefined) ?? null,
    min_disk: (body.min_disk as number | undefined) ?? 0,
    min_ram: (body.min_ram as number | undefined) ?? 0,
    created_at: now,
    updated_at: now,
  };
  try {
    await db.transaction(async (trx) => {
      await trx('images').insert(row);
      const props = Object.entries(properties).map(([name, value]) => ({ image_id: id, name, value }));
      if (props.length) await trx('image_properties').insert(props);
      if (tags.length) await trx('image_tags').insert(tags.map((value) => ({ image_id: id, value })));
    });
  } catch (err) {
    if (isDuplicateKey(err)) throw new Conflict(`Image with identifier ${id} already exists!`);
    throw err;
  }
  return (await loadImage(db, id)) as Image;
}

// ---------------------------------------------------------------------------------------------- list

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

// ---------------------------------------------------------------------------------------------- show

export async function showImage(deps: ImageDeps, actor: Actor, id: string): Promise<Image> {
  return visibleImage(deps.db, actor, id);
}

// ---------------------------------------------------------------------------------------------- update

function applyBase(actor: Actor, image: Image, key: string, value: unknown): void {
  switch (key) {
    case 'name':
      image.name = value as string | null;
      break;
    case 'visibility':
      image.visibility = value as string;
      break;
    case 'protected':
      image.protected = value as boolean;
      break;
    case 'os_hidden':
      image.osHidden = value as boolean;
      break;
    case 'min_disk':
      checkNotNegative('min_disk', value);
      image.minDisk = value as number;
      break;
    case 'min_ram':
      checkNotNegative('min_ram', value);
      image.minRam = value as number;
      break;
    case 'owner':
      image.owner = value as string | null;
      break;
    case 'disk_format':
    case 'container_format':
      if (image.status !== 'queued') {
        throw new Forbidden(`Attribute ${key} can be only replaced for a queued image.`);
      }
      if (key === 'disk_format') image.diskFormat = value as string | null;
      else image.containerFormat = value as string | null;
      break;
    case 'tags': {
      const tags = [...new Set(value as string[])];
      if (tags.length > MAX_TAGS) throw tooManyTags(tags.length);
      image.tags = tags;
      break;
    }
  }
  void actor;
}

/** Applies parsed JSON-patch changes in one transaction; the image is locked so concurrent patches serialize. */
export async function updateImage(
  deps: ImageDeps,
  actor: Actor,
  id: string,
  changes: Change[],
): Promise<Image> {
  const { db } = deps;
  await db.transaction(async (trx) => {
    const image = await visibleImage(trx, actor, id, { forUpdate: true });
    if (!ownsImage(actor, image)) throw denied('modify_image');
    if (changes.length === 0) return;
    for (const change of changes) {
      const key = change.path[0];
      if (key === 'locations') {
        const verb = change.op === 'remove' ? 'remove' : change.op === 'add' ? 'add' : 'update';
        throw new Forbidden(`It's not allowed to ${verb} locations if locations are invisible.`);
      }
      if (key === 'visibility') checkVisibility(actor, change.value);
      const base = BASE_WRITABLE.has(key);
      const exists = key in image.properties;
      if (change.op === 'replace') {
        if (key === 'owner' && !actor.admin) throw new Forbidden("Owner can't be updated by non admin.");
        if (base) applyBase(actor, image, key, change.value);
        else if (exists) image.properties[key] = String(change.value ?? '');
        else throw new Conflict(`Property ${key} does not exist.`);
      } else if (change.op === 'add') {
        if (change.draft === 4 && (base || exists)) throw new Conflict(`Property ${key} already present.`);
        if (key === 'owner' && !actor.admin) throw new Forbidden("Owner can't be updated by non admin.");
        if (base) applyBase(actor, image, key, change.value);
        else image.properties[key] = String(change.value ?? '');
      } else if (base) {
        throw new Forbidden(`Property ${key} may not be removed.`);
      } else if (exists) {
        delete image.properties[key];
      } else {
        throw new Conflict(`Property ${key} does not exist.`);
      }
    }
    const count = Object.keys(image.properties).length;
    if (count > MAX_PROPERTIES) throw tooManyProperties(count);
    image.updatedAt = deps.now();
    await trx('images').where({ id }).update(columnsOf(image));
    await writeProperties(trx, id, image);
    await writeTags(trx, id, image.tags);
  });
  return (await loadImage(db, id)) as Image;
}

// ---------------------------------------------------------------------------------------------- tags

export async function addTag(deps: ImageDeps, actor: Actor, id: string, tag: string): Promise<void> {
  validateImage(deps.config, { tags: [tag] });
  await deps.db.transaction(async (trx) => {
    const image = await visibleImage(trx, actor, id, { forUpdate: true, message: `Image ${id} not found.` });
    if (!ownsImage(actor, image)) throw new Forbidden(`Not allowed to update tags for image ${id}.`);
    if (image.tags.includes(tag)) return;
    if (image.tags.length + 1 > MAX_TAGS) throw tooManyTags(image.tags.length + 1);
    await trx('image_tags').insert({ image_id: id, value: tag });
    await trx('images').where({ id }).update({ updated_at: deps.now() });
  });
}

export async function removeTag(deps: ImageDeps, actor: Actor, id: string, tag: string): Promise<void> {
  await deps.db.transaction(async (trx) => {
    const image = await visibleImage(trx, actor, id, { forUpdate: true, message: `Image ${id} not found.` });
    if (!ownsImage(actor, image)) throw new Forbidden(`Not allowed to delete tags for image ${id}.`);
    if (!image.tags.includes(tag)) throw new NotFound('The resource could not be found.');
    await trx('image_tags').where({ image_id: id, value: tag }).delete();
    await trx('images').where({ id }).update({ updated_at: deps.now() });
  });
}

// ---------------------------------------------------------------------------------------------- actions

/** POST /v2/images/{id}/actions/deactivate and reactivate (Glance's Image.deactivate / reactivate). */
export async function setActivation(
  deps: ImageDeps,
  actor: Actor,
  id: string,
  action: 'deactivate' | 'reactivate',
): Promise<void> {
  await deps.db.transaction(async (trx) => {
    const image = await visibleImage(trx, actor, id, { forUpdate: true });
    if (!ownsImage(actor, image)) throw denied(action);
    const [from, to] = action === 'deactivate' ? ['active', 'deactivated'] : ['deactivated', 'active'];
    if (image.status === to) return;
    if (image.status !== from) {
      throw new Forbidden(`Not allowed to ${action} image in status '${image.status}'`);
    }
    await trx('images').where({ id }).update({ status: to, updated_at: deps.now() });
  });
}

// ---------------------------------------------------------------------------------------------- delete

/**
 * The VMs whose disks use an image as their backing file: the instances' specs name it by the store path
 * `<mount>/images/<id>`.
 */
export async function imageInUse(db: Knex, imageId: string): Promise<string[]> {
  const suffix = `/${relativeImagePath(imageId)}`;
  const rows = (await db('instances').select('uuid', 'spec').where('spec', 'like', `%${suffix}"%`)) as {
    uuid: string;
    spec: string;
  }[];
  return rows
    .filter((r) => {
      try {
        const spec = JSON.parse(r.spec) as { disks?: { backingPath?: string }[] };
        return (spec.disks ?? []).some(
          (d) => typeof d.backingPath === 'string' && d.backingPath.endsWith(suffix),
        );
      } catch {
        return false;
      }
    })
    .map((r) => r.uuid);
}

/**
 * Deletes an image: the row (with its properties, tags and members) in one transaction, then the file. A crash
 * in between leaves an orphan file that no row names — never a row without its file; strayImageFiles() finds it.
 */
export async function deleteImage(deps: ImageDeps, actor: Actor, id: string): Promise<void> {
  const { db, config, log } = deps;
  const image = await db.transaction(async (trx) => {
    const img = await visibleImage(trx, actor, id, {
      forUpdate: true,
      message: `Failed to find image ${id} to delete`,
    });
    if (!ownsImage(actor, img)) throw denied('delete_image');
    if (img.protected) throw new Forbidden(`Image ${id} is protected and cannot be deleted.`);
    const users = await imageInUse(trx, id);
    if (users.length) {
      throw new Conflict(
        `Image ${id} could not be deleted because it is in use: it backs the disks of server(s) ${users.join(', ')}`,
      );
    }
    await trx('image_members').where({ image_id: id }).delete();
    await trx('image_tags').where({ image_id: id }).delete();
    await trx('image_properties').where({ image_id: id }).delete();
    await trx('images').where({ id }).delete();
    return img;
  });
  if (image.location && image.store === config.image.store_name) {
    const path = absoluteImagePath(config.image.store_dir, image.location);
    await removeQuietly(path).catch((err: Error) =>
      log.error({ err, image_id: id, path }, 'image row deleted but its file could not be removed'),
    );
  }
}

/** Files on the store that no image row names, and abandoned upload temporaries: safe to remove. */
export async function strayImageFiles(deps: ImageDeps): Promise<string[]> {
  return strayFiles(
    deps.config.image.store_dir,
    async (id) => (await deps.db('images').where({ id }).first('id')) !== undefined,
    UPLOAD_STALE_MS,
    deps.now(),
  );
}

// ---------------------------------------------------------------------------------------------- data

/** Bytes the project's images already take on the store. */
async function storageUsed(db: Knex, owner: string | null, exceptId: string): Promise<number> {
  const row = (await db('images')
    .where({ owner })
    .whereIn('status', ['active', 'deactivated'])
    .whereNot({ id: exceptId })
    .sum({ used: 'size' })
    .first()) as { used: unknown } | undefined;
  return Number(row?.used ?? 0);
}

function quotaExceeded(size: number | string, remaining: number): PayloadTooLarge {
  return new PayloadTooLarge(
    `Image exceeds the storage quota: The size of the data ${size} will exceed the limit. ${remaining} bytes remaining.`,
  );
}
const tooLarge = () =>
  new PayloadTooLarge('The incoming image is too large: The provided image is too large.');

/** Glance's transition error for an upload to an image that is not queued. */
const transition = (from: string) =>
  new Conflict(`Image status transition from ${from} to saving is not allowed`);

/**
 * PUT /v2/images/{id}/file: queued → saving (a conditional UPDATE, so of two concurrent uploads one wins and the
 * other gets 409) → stream to a temporary file with md5/sha512 → inspect → rename → active. On any failure the
 * temporary file is removed and the image goes back to queued, as Glance's _restore does (v2 no longer uses
 * `killed`). `declaredLength` (Content-Length) over the cap or the remaining quota is refused before reading.
 */
export async function uploadImageData(
  deps: ImageDeps,
  actor: Actor,
  id: string,
  req: IncomingMessage,
  declaredLength: number | undefined,
): Promise<void> {
  const { db, config, log } = deps;
  const image = await visibleImage(db, actor, id);
  if (!ownsImage(actor, image)) throw new Forbidden(`Not allowed to upload image data for image ${id}`);
  const now = deps.now();
  const stale = image.status === 'saving' && (image.uploadId === null || isStale(image, now));
  if (image.status !== 'queued' && !stale) throw transition(image.status);
  const missing = ['disk_format', 'container_format'].filter((k) =>
    k === 'disk_format' ? !image.diskFormat : !image.containerFormat,
  );
  if (missing.length) {
    throw new BadRequest(
      `Propert${missing.length > 1 ? 'ies' : 'y'} ${missing.join(', ')} must be set prior to saving data.`,
    );
  }
  const cap = config.image.image_size_cap;
  const quota = config.image.project_storage_quota;
  const remaining = quota > 0 ? Math.max(0, quota - (await storageUsed(db, image.owner, id))) : Infinity;
  if (declaredLength !== undefined) {
    if (declaredLength > cap) throw tooLarge();
    if (declaredLength > remaining) throw quotaExceeded(declaredLength, remaining);
  }

  // queued (or abandoned saving) → saving, only if nobody else got there first
  const uploadId = newUuid();
  const claim = db('images')
    .where({ id })
    .update({ status: 'saving', upload_id: uploadId, upload_heartbeat_at: now, updated_at: now });
  const claimed = await claim.where((w) => {
    w.where('status', 'queued');
    if (stale) w.orWhere((s) => s.where('status', 'saving').where('upload_id', image.uploadId as string));
  });
  if (claimed === 0) {
    const current = await loadImage(db, id);
    if (!current) throw new NotFound(`No image found with ID ${id}`);
    throw transition(current.status);
  }
  if (stale && image.uploadId) await removeQuietly(tempPath(config.image.store_dir, id, image.uploadId));
  const heartbeat = setInterval(() => {
    db('images')
      .where({ id, upload_id: uploadId })
      .update({ upload_heartbeat_at: deps.now() })
      .catch((err: Error) => log.warn({ err, image_id: id }, 'upload heartbeat failed'));
  }, UPLOAD_HEARTBEAT_MS);
  heartbeat.unref();

  const restore = async () => {
    await db('images')
      .where({ id, upload_id: uploadId, status: 'saving' })
      .update({ status: 'queued', upload_id: null, upload_heartbeat_at: null, updated_at: deps.now() })
      .catch((err: Error) => log.error({ err, image_id: id }, 'could not restore the image to queued'));
  };
  const storeDir = config.image.store_dir;
  const relative = relativeImagePath(id);
  let published = false;
  try {
    const limit = Math.min(cap, remaining);
    const received = await receiveToTemp(req, storeDir, id, uploadId, limit, () =>
      limit === cap ? tooLarge() : quotaExceeded('of this upload', remaining),
    );
    try {
      if (declaredLength !== undefined && received.size !== declaredLength) {
        throw new BadRequest('The request body ended before the declared Content-Length.');
      }
      const { virtualSize } = await inspectImage(
        received.tempPath,
        image.diskFormat as string,
        received.head,
        received.size,
        config.image.inspect_timeout * 1000,
      );
      await publish(received.tempPath, storeDir, relative);
      published = true;
      // saving → active only for this upload; another process may have deleted the image meanwhile
      const done = await db.transaction(async (trx) => {
        if (quota > 0) {
          const used = await storageUsed(trx, image.owner, id);
          if (used + received.size > quota) throw quotaExceeded(received.size, Math.max(0, quota - used));
        }
        const updated: number = await trx('images')
          .where({ id, upload_id: uploadId, status: 'saving' })
          .update({
            status: 'active',
            size: received.size,
            virtual_size: virtualSize,
            checksum: received.md5,
            os_hash_algo: 'sha512',
            os_hash_value: received.sha512,
            store: config.image.store_name,
            location: relative,
            upload_id: null,
            upload_heartbeat_at: null,
            updated_at: deps.now(),
          });
        return updated;
      });
      if (done === 0) {
        await removeQuietly(absoluteImagePath(storeDir, relative));
        throw new Gone(
          `Image ${id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded.`,
        );
      }
    } catch (err) {
      if (published) await removeQuietly(absoluteImagePath(storeDir, relative)).catch(() => false);
      else await removeQuietly(received.tempPath).catch(() => false);
      throw err;
    }
  } catch (err) {
    await restore();
    if (err instanceof ClientGone) {
      throw new BadRequest('The client closed the connection before the image data was complete.');
    }
    throw err;
  } finally {
    clearInterval(heartbeat);
  }
}

/** A `saving` image whose upload stopped renewing its heartbeat: the process that ran it is gone. */
function isStale(image: Image, now: number): boolean {
  return image.uploadHeartbeatAt === null || now - image.uploadHeartbeatAt > UPLOAD_STALE_MS;
}

export interface ImageData {
  stream: ReadStream;
  size: number;
  checksum: string | null;
}

/**
 * GET /v2/images/{id}/file: the file as a stream, or null for an image without data (Glance answers 204 then).
 * A deactivated image is 403 for everyone but an admin.
 */
export async function openImageData(deps: ImageDeps, actor: Actor, id: string): Promise<ImageData | null> {
  const { db, config, log } = deps;
  const image = await visibleImage(db, actor, id);
  if (!actor.member) throw denied('download_image'); // Glance's download_image needs the member role
  if (image.status === 'deactivated' && !actor.admin) {
    throw new Forbidden('The requested image has been deactivated. Image data download is forbidden.');
  }
  if (!['active', 'deactivated'].includes(image.status) || !image.location) return null;
  const path = absoluteImagePath(config.image.store_dir, image.location);
  const size = await fileSize(path);
  if (size === null) {
    log.error({ image_id: id, path }, 'active image without its file on the store');
    return null;
  }
  return { stream: createReadStream(path), size, checksum: image.checksum };
}

/** Where an active image's data is, for the compute service: the store's name and the path inside it. */
export async function imageLocation(
  db: Knex,
  imageId: string,
): Promise<{
  store: string;
  relativePath: string;
  diskFormat: string;
  virtualSize: number | null;
  size: number;
} | null> {
  const image = await loadImage(db, imageId);
  if (!image || image.status !== 'active' || !image.store || !image.location) return null;
  return {
    store: image.store,
    relativePath: image.location,
    diskFormat: image.diskFormat as string,
    virtualSize: image.virtualSize,
    size: image.size as number,
  };
}
