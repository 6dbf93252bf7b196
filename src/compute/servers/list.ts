/**
 * GET /servers and /servers/detail: Nova's filters, sorting and paging (servers.py _get_servers). Filters a
 * project member may use apply to its own servers; admins may add all_tenants, project_id, host, deleted.
 * Regular-expression filters (name, ip) are matched here, not in SQL, so SQLite and MariaDB answer alike.
 */
import type { Knex } from 'knex';
import type { AuthContext } from '../../common/context.js';
import { BadRequest } from '../../common/errors.js';
import { fetchPage, parsePageRequest } from '../../common/paging.js';
import type { Microversion } from '../../common/microversion.js';
import { serversWithIp } from '../../network/compute-ports.js';
import { boolFromNova } from '../parameter-types.js';
import { isAdmin } from '../policy.js';
import { serverFromRow, type ServerRow } from './model.js';
import { STATUS_TO_VM_STATE } from './view.js';

/** Nova's sort keys → our columns (the ones kvmstack stores; others sort as created_at would). */
const SORT_KEYS: Record<string, string> = {
  access_ip_v4: 'access_ip_v4',
  access_ip_v6: 'access_ip_v6',
  availability_zone: 'availability_zone',
  config_drive: 'config_drive',
  created_at: 'created_at',
  display_description: 'description',
  display_name: 'name',
  hostname: 'hostname',
  image_ref: 'image_id',
  key_name: 'key_name',
  launch_index: 'launch_index',
  launched_at: 'launched_at',
  locked_by: 'locked_by',
  power_state: 'power_state',
  progress: 'progress',
  project_id: 'project_id',
  task_state: 'task_state',
  terminated_at: 'terminated_at',
  updated_at: 'updated_at',
  user_id: 'user_id',
  uuid: 'uuid',
  vm_state: 'vm_state',
  host: 'host_id',
  node: 'host_id',
};
const ADMIN_SORT_KEYS = new Set(['host', 'node']);

const one = (v: unknown): string | undefined =>
  Array.isArray(v) ? String(v[v.length - 1]) : v === undefined ? undefined : String(v);

/** ISO 8601 only (Nova's format 'date-time'), as 2011-01-24T17:08Z or with seconds, fraction and offset. */
const ISO_TIME = /^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?([zZ]|[+-]\d\d:?\d\d)?)?$/;

function parseTime(name: string, v: string): number {
  const ms = ISO_TIME.test(v)
    ? Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) || !v.includes('T') ? v : `${v}Z`)
    : NaN;
  if (Number.isNaN(ms))
    throw new BadRequest(
      `Invalid input for query parameters ${name}. Value: ${v}. '${v}' is not a 'date-time'`,
    );
  return ms;
}

function regex(name: string, v: string): RegExp {
  try {
    return new RegExp(v);
  } catch {
    throw new BadRequest(`Invalid regular expression for ${name}: ${v}`);
  }
}

export interface ListResult {
  servers: ServerRow[];
  hasMore: boolean;
  limit: number;
}

export async function listServers(
  db: Knex,
  auth: AuthContext,
  mv: Microversion,
  query: Record<string, unknown>,
  maxLimit: number,
): Promise<ListResult> {
  const admin = isAdmin(auth);
  const q = db('servers').select('servers.*');
  const allTenants =
    admin &&
    query.all_tenants !== undefined &&
    (one(query.all_tenants) === '' || boolFromNova(one(query.all_tenants)));
  const projectFilter = one(query.project_id) ?? one(query.tenant_id);
  // As Nova (lp:1185290): without all_tenants the caller's own project, whatever tenant_id/project_id say
  if (!allTenants) q.where('servers.project_id', auth.projectId ?? '');
  else if (projectFilter) q.where('servers.project_id', projectFilter);

  const changesSince = one(query['changes-since']);
  const changesBefore = mv.atLeast('2.66') ? one(query['changes-before']) : undefined;
  const deleted = admin && one(query.deleted) !== undefined ? boolFromNova(one(query.deleted)) : false;
  // changes-since shows deleted servers too, as Nova's (a client syncing a cache needs to see them go)
  if (deleted) q.whereNotNull('servers.deleted_at');
  else if (changesSince === undefined && changesBefore === undefined) q.whereNull('servers.deleted_at');
  if (changesSince !== undefined)
    q.where('servers.updated_at', '>=', parseTime('changes-since', changesSince));
  if (changesBefore !== undefined)
    q.where('servers.updated_at', '<=', parseTime('changes-before', changesBefore));
  if (
    changesSince !== undefined &&
    changesBefore !== undefined &&
    parseTime('changes-since', changesSince) > parseTime('changes-before', changesBefore)
  )
    throw new BadRequest('The value of changes-since must be less than or equal to changes-before.');

  const status = one(query.status);
  if (status !== undefined) {
    const s = STATUS_TO_VM_STATE[status.toUpperCase()];
    // Nova answers a status it does not know with an empty list
    if (!s) return { servers: [], hasMore: false, limit: 0 };
    if (s.vmStates.includes('deleted')) q.whereNotNull('servers.deleted_at');
    q.whereIn('servers.vm_state', s.vmStates);
    if (s.taskStates) q.whereIn('servers.task_state', s.taskStates);
  }
  const image = one(query.image);
  if (image !== undefined) q.where('servers.image_id', image.split('/').pop() ?? image);
  const flavor = one(query.flavor);
  if (flavor !== undefined)
    q.where('servers.flavor', 'like', `%"id":${JSON.stringify(flavor.split('/').pop())}%`);
  const reservation = one(query.reservation_id);
  if (reservation !== undefined) q.where('servers.reservation_id', reservation);
  const keyName = one(query.key_name);
  if (keyName !== undefined) q.where('servers.key_name', keyName);
  const userId = one(query.user_id);
  if (userId !== undefined) q.where('servers.user_id', userId);
  const az = one(query.availability_zone);
  if (az !== undefined) q.where('servers.availability_zone', az);
  if (mv.atLeast('2.73') && one(query.locked) !== undefined)
    q.where('servers.locked', boolFromNova(one(query.locked)));
  const host = admin ? (one(query.host) ?? one(query.node)) : undefined;
  if (host !== undefined) {
    const h = await db('hosts').where({ hostname: host }).first('id');
    q.where('servers.host_id', h ? Number(h.id) : -1);
  }
  if (mv.atLeast('2.26')) {
    const tagFilter = (name: string) => (one(query[name]) ?? '').split(',').filter(Boolean);
    for (const t of tagFilter('tags'))
      q.whereExists((e) =>
        e
          .select(db.raw('1'))
          .from('server_tags')
          .whereRaw('server_tags.server_uuid = servers.uuid')
          .where('server_tags.tag', t),
      );
    const any = tagFilter('tags-any');
    if (any.length)
      q.whereExists((e) =>
        e
          .select(db.raw('1'))
          .from('server_tags')
          .whereRaw('server_tags.server_uuid = servers.uuid')
          .whereIn('server_tags.tag', any),
      );
    const notTags = tagFilter('not-tags');
    if (notTags.length)
      q.whereRaw(
        `(select count(*) from server_tags where server_tags.server_uuid = servers.uuid and server_tags.tag in (${notTags.map(() => '?').join(',')})) < ?`,
        [...notTags, notTags.length],
      );
    const notAny = tagFilter('not-tags-any');
    if (notAny.length)
      q.whereNotExists((e) =>
        e
          .select(db.raw('1'))
          .from('server_tags')
          .whereRaw('server_tags.server_uuid = servers.uuid')
          .whereIn('server_tags.tag', notAny),
      );
  }

  // Regular-expression filters narrow to a set of uuids before paging.
  const name = one(query.name);
  const ip = one(query.ip);
  const description = mv.atLeast('2.19') ? one(query.description) : undefined;
  if (name !== undefined || ip !== undefined || description !== undefined) {
    let keep: Set<string> | null = null;
    const candidates = await q
      .clone()
      .clearSelect()
      .select('servers.uuid', 'servers.name', 'servers.description');
    if (name !== undefined) {
      const re = regex('name', name);
      keep = new Set(candidates.filter((r) => re.test(String(r.name))).map((r) => String(r.uuid)));
    }
    if (description !== undefined) {
      const re = regex('description', description);
      const m = new Set(
        candidates.filter((r) => re.test(String(r.description ?? ''))).map((r) => String(r.uuid)),
      );
      keep = keep ? new Set([...keep].filter((u) => m.has(u))) : m;
    }
    if (ip !== undefined) {
      const withIp = await serversWithIp(db, regex('ip', ip));
      keep = keep ? new Set([...keep].filter((u) => withIp.has(u))) : withIp;
    }
    q.whereIn('servers.uuid', [...(keep ?? [])]);
  }

  const sortKeys = [query.sort_key].flat().filter((k): k is string => typeof k === 'string');
  const sortDirs = [query.sort_dir].flat().filter((k): k is string => typeof k === 'string');
  for (const k of sortKeys) {
    if (!(k in SORT_KEYS) || (ADMIN_SORT_KEYS.has(k) && !admin))
      throw new BadRequest(`Invalid input for query parameters sort_key. Value: ${k}.`);
  }
  for (const d of sortDirs)
    if (d !== 'asc' && d !== 'desc')
      throw new BadRequest(`Invalid input for query parameters sort_dir. Value: ${d}.`);
  const sortKey = SORT_KEYS[sortKeys[0] ?? 'created_at'];
  const direction = (sortDirs[0] ?? 'desc') as 'asc' | 'desc';
  const page = parsePageRequest({ limit: one(query.limit), marker: one(query.marker) }, maxLimit);
  const { rows, hasMore } = await fetchPage<Record<string, unknown>>(q, 'servers', page, {
    sortKey,
    direction,
    idColumn: 'uuid',
  });
  return { servers: rows.map(serverFromRow), hasMore, limit: page.limit };
}
