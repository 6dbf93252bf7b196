/**
 * Nova's quotas (nova/quota.py DbQuotaDriver with counted usage): the limit of a resource is the user's
 * override, else the project's, else the "default" quota class, else the [compute] quota_* option; usage is
 * counted from the rows themselves (servers not deleted, server groups), so nothing can drift. This file is
 * the one resolver every check and view uses.
 *
 * compute_quotas holds every override: project rows have user_id '', user rows the user's id, quota class
 * rows (os-quota-class-sets) put the class name in project_id and CLASS_ROW in user_id, and LOCK_ROW rows
 * serialize creates against a project's quota on MariaDB (SQLite has one writer anyway).
 */
import type { Knex } from 'knex';
import type { Config } from '../../common/config/options.js';
import { BadRequest, OverQuota } from '../../common/errors.js';
import { isSqlite } from '../../db/transactions.js';

/** Nova's quota resources (QUOTAS.resources, sorted as Nova lists them). */
export const QUOTA_RESOURCES = [
  'cores',
  'fixed_ips',
  'floating_ips',
  'injected_file_content_bytes',
  'injected_file_path_bytes',
  'injected_files',
  'instances',
  'key_pairs',
  'metadata_items',
  'ram',
  'security_group_rules',
  'security_groups',
  'server_group_members',
  'server_groups',
] as const;
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];
export type Limits = Record<QuotaResource, number>;

/** user_id of quota class rows and of lock rows: Keystone ids never start with '#'. */
export const CLASS_ROW = '#class';
const LOCK_ROW = '#lock';

/** The [compute] quota_* options; the nova-network resources are -1 as Nova's (AbsoluteResource without flag). */
export function configuredDefaults(cfg: Config): Limits {
  const c = cfg.compute;
  return {
    cores: c.quota_cores,
    fixed_ips: -1,
    floating_ips: -1,
    injected_file_content_bytes: c.quota_injected_file_content_bytes,
    injected_file_path_bytes: c.quota_injected_file_path_length,
    injected_files: c.quota_injected_files,
    instances: c.quota_instances,
    key_pairs: c.quota_key_pairs,
    metadata_items: c.quota_metadata_items,
    ram: c.quota_ram,
    security_group_rules: -1,
    security_groups: -1,
    server_group_members: c.quota_server_group_members,
    server_groups: c.quota_server_groups,
  };
}

const isResource = (k: string): k is QuotaResource => (QUOTA_RESOURCES as readonly string[]).includes(k);

function overlay(base: Limits, rows: { resource: unknown; hard_limit: unknown }[]): Limits {
  const out = { ...base };
  for (const r of rows) {
    const k = String(r.resource);
    if (isResource(k)) out[k] = Number(r.hard_limit);
  }
  return out;
}

/** A quota class: its rows over the options (Nova's get_class_quotas). */
export async function classLimits(db: Knex, cfg: Config, className: string): Promise<Limits> {
  const rows = await db('compute_quotas').where({ project_id: className, user_id: CLASS_ROW });
  return overlay(configuredDefaults(cfg), rows);
}

/** Nova's get_defaults: the "default" quota class over the options. */
export const defaultLimits = (db: Knex, cfg: Config): Promise<Limits> => classLimits(db, cfg, 'default');

/** The overrides stored for a project ('' ) or one of its users. */
export async function storedLimits(db: Knex, projectId: string, userId: string): Promise<Partial<Limits>> {
  const rows = await db('compute_quotas').where({ project_id: projectId, user_id: userId });
  const out: Partial<Limits> = {};
  for (const r of rows)
    if (isResource(String(r.resource))) out[r.resource as QuotaResource] = Number(r.hard_limit);
  return out;
}

/**
 * The limits of a project, or of one of its users (the user's overrides over the project's): what every quota
 * check and view reads. Negative means unlimited.
 */
export async function computeLimits(
  db: Knex,
  cfg: Config,
  projectId: string,
  userId?: string,
): Promise<Limits> {
  const rows = await db('compute_quotas')
    .where({ project_id: projectId })
    .whereIn('user_id', userId ? ['', userId] : [''])
    .select('user_id', 'resource', 'hard_limit');
  const project = rows.filter((r) => r.user_id === '');
  const user = rows.filter((r) => r.user_id !== '');
  return overlay(overlay(await defaultLimits(db, cfg), project), user);
}

export interface ServerUsage {
  instances: number;
  cores: number;
  ram: number;
}

/** What a project's (or one user's) servers use now: servers not deleted count, whatever their state. */
export async function serverUsage(db: Knex, projectId: string, userId?: string): Promise<ServerUsage> {
  const q = db('servers').where({ project_id: projectId }).whereNull('deleted_at');
  if (userId) q.where({ user_id: userId });
  const [row] = await q.select(
    db.raw('count(*) as n'),
    db.raw('coalesce(sum(vcpus), 0) as cores'),
    db.raw('coalesce(sum(memory_mb), 0) as ram'),
  );
  return { instances: Number(row.n), cores: Number(row.cores), ram: Number(row.ram) };
}

export async function serverGroupCount(db: Knex, projectId: string, userId?: string): Promise<number> {
  const q = db('server_groups').where({ project_id: projectId });
  if (userId) q.where({ user_id: userId });
  const [row] = await q.count({ n: '*' });
  return Number(row.n);
}

/**
 * Nova's _get_usages for the quota-set detail and the limits view: instances, cores, ram and server groups
 * are counted (per user when a user is given); key_pairs and server_group_members are per-user resources
 * whose usage Nova always shows as 0; the rest are not countable (0).
 */
export async function quotaUsage(db: Knex, projectId: string, userId?: string): Promise<Limits> {
  const servers = await serverUsage(db, projectId, userId);
  const usage = Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, 0])) as Limits;
  Object.assign(usage, servers);
  usage.server_groups = await serverGroupCount(db, projectId, userId);
  return usage;
}

/**
 * Serializes creates against one project's quota for one resource until the transaction ends: a lock row
 * (MariaDB); SQLite's single connection already runs one transaction at a time.
 */
export async function lockQuota(trx: Knex, projectId: string, resource: string): Promise<void> {
  if (isSqlite(trx)) return;
  const key = { project_id: projectId, user_id: LOCK_ROW, resource };
  const lock = () => trx('compute_quotas').where(key).forUpdate().first();
  if (!(await lock())) {
    // insert only when missing: INSERT IGNORE on an existing row takes a shared lock two creates would both
    // try to upgrade (a deadlock on every concurrent create)
    await trx('compute_quotas')
      .insert({ ...key, hard_limit: 0 })
      .onConflict(['project_id', 'user_id', 'resource'])
      .ignore();
    await lock();
  }
}

const SERVER_KEYS = ['cores', 'instances', 'ram'] as const; // Nova sorts the resources it names

/** nova.exception.TooManyInstances: "Quota exceeded for cores, ram: Requested 4, 2048, but already used ..." */
function tooManyInstances(
  over: (keyof ServerUsage)[],
  requested: Record<keyof ServerUsage, number | string>,
  used: ServerUsage,
  limits: Limits,
): OverQuota {
  const list = (f: (k: keyof ServerUsage) => unknown) => over.map((k) => String(f(k))).join(', ');
  const overs = over.join(', ');
  return new OverQuota(
    `Quota exceeded for ${overs}: Requested ${list((k) => requested[k])}, but already used ` +
      `${list((k) => used[k])} of ${list((k) => limits[k])} ${overs}`,
  );
}

const exceeds = (limit: number, total: number): boolean => limit >= 0 && total > limit;

/**
 * The scopes a server create is counted in: the project, and the user when the user has limits of its own
 * for instances, cores or ram (Nova's DbQuotaDriver: a user without them is bound by the project's alone).
 */
async function serverScopes(
  trx: Knex,
  cfg: Config,
  projectId: string,
  userId: string | null,
): Promise<{ limits: Limits; used: ServerUsage }[]> {
  const scopes = [
    { limits: await computeLimits(trx, cfg, projectId), used: await serverUsage(trx, projectId) },
  ];
  if (userId) {
    const own = await storedLimits(trx, projectId, userId);
    if (SERVER_KEYS.some((k) => own[k] !== undefined))
      scopes.push({
        limits: await computeLimits(trx, cfg, projectId, userId),
        used: await serverUsage(trx, projectId, userId),
      });
  }
  return scopes;
}

/**
 * Throws 403 overLimit (Nova's TooManyInstances text) when the project's (or the user's) servers plus `delta`
 * would exceed its instances, cores or ram limit. A delta of zeros checks that both are within their
 * limits: the recheck after an insert (Nova's recheck_quota).
 */
export async function checkServerQuota(
  trx: Knex,
  cfg: Config,
  projectId: string,
  userId: string | null,
  delta: ServerUsage,
): Promise<void> {
  for (const { limits, used } of await serverScopes(trx, cfg, projectId, userId)) {
    const over = SERVER_KEYS.filter((k) => exceeds(limits[k], used[k] + delta[k]));
    if (over.length) throw tooManyInstances(over, delta, used, limits);
  }
}

/**
 * How many of min..max servers of this size fit in the project's quota and the user's (Nova's
 * check_num_instances_quota): max shrinks to what fits; when even min does not fit, 403 overLimit naming
 * what is exceeded, with the request as Nova writes it ("2-5" instances for a range, the cores and ram of
 * max servers).
 */
export async function maxInstancesAllowed(
  trx: Knex,
  cfg: Config,
  projectId: string,
  userId: string | null,
  perInstance: { cores: number; ram: number },
  min: number,
  max: number,
): Promise<number> {
  const want: ServerUsage = { instances: max, cores: max * perInstance.cores, ram: max * perInstance.ram };
  let allowed = max;
  for (const { limits, used } of await serverScopes(trx, cfg, projectId, userId)) {
    const over = SERVER_KEYS.filter((k) => exceeds(limits[k], used[k] + want[k]));
    if (!over.length) continue;
    // headroom per resource; an unlimited one never constrains (Nova's get_headroom)
    const room = (k: keyof ServerUsage, each: number): number =>
      limits[k] < 0 || each === 0 ? Infinity : Math.floor((limits[k] - used[k]) / each);
    const fits = Math.min(
      room('instances', 1),
      room('cores', perInstance.cores),
      room('ram', perInstance.ram),
    );
    if (fits > 0 && fits >= min) {
      allowed = Math.min(allowed, fits);
      continue;
    }
    const requested = {
      instances: min === max ? String(min) : `${min}-${max}`,
      cores: want.cores,
      ram: want.ram,
    };
    throw tooManyInstances(over, requested, used, limits);
  }
  return allowed;
}

/** A resource's limit with its usage, as the quota-set detail shows it (reserved is always 0 in Nova). */
export interface QuotaDetail {
  limit: number;
  in_use: number;
  reserved: number;
}

/** GET os-quota-sets/{project}[/detail][?user_id=]: the limits, with usage when asked. */
export async function quotaDetails(
  db: Knex,
  cfg: Config,
  projectId: string,
  userId?: string,
): Promise<Record<QuotaResource, QuotaDetail>> {
  const limits = await computeLimits(db, cfg, projectId, userId);
  const usage = await quotaUsage(db, projectId, userId);
  const out = {} as Record<QuotaResource, QuotaDetail>;
  for (const r of QUOTA_RESOURCES) out[r] = { limit: limits[r], in_use: usage[r], reserved: 0 };
  return out;
}

const unlimited = (v: number): boolean => v <= -1;
const sumQuota = (a: number, b: number): number => (unlimited(a) || unlimited(b) ? -1 : a + b);
const subQuota = (a: number, b: number): number => (unlimited(a) || unlimited(b) ? -1 : a - b);
const inf = (v: number): number => (v === -1 ? Infinity : v);

/**
 * Nova's get_settable_quotas: a project's limit may not go below its usage nor below what its users' own
 * limits add up to; a user's may not go below the user's usage nor above what the project has not given to
 * other users.
 */
async function settable(
  trx: Knex,
  cfg: Config,
  projectId: string,
  userId: string | null,
): Promise<Record<QuotaResource, { minimum: number; maximum: number }>> {
  const project = await computeLimits(trx, cfg, projectId);
  const userRows = await trx('compute_quotas')
    .where({ project_id: projectId })
    .whereNot('user_id', '')
    .whereNot('user_id', 'like', '#%')
    .select('resource', 'hard_limit');
  const remains = { ...project };
  for (const r of userRows)
    if (isResource(String(r.resource))) remains[r.resource as QuotaResource] -= Number(r.hard_limit);
  const out = {} as Record<QuotaResource, { minimum: number; maximum: number }>;
  if (userId) {
    const mine = await storedLimits(trx, projectId, userId);
    const usage = await quotaUsage(trx, projectId, userId);
    for (const r of QUOTA_RESOURCES)
      out[r] = { minimum: usage[r], maximum: sumQuota(remains[r], mine[r] ?? 0) };
  } else {
    const usage = await quotaUsage(trx, projectId);
    for (const r of QUOTA_RESOURCES)
      out[r] = { minimum: Math.max(subQuota(project[r], remains[r]), usage[r]), maximum: -1 };
  }
  return out;
}

/** PUT os-quota-sets/{project}[?user_id=]: every value is checked before any is written (Nova's two passes). */
export async function updateQuotas(
  db: Knex,
  cfg: Config,
  projectId: string,
  userId: string | null,
  values: [QuotaResource, number][],
  force: boolean,
): Promise<void> {
  await db.transaction(async (trx) => {
    await lockQuota(trx, projectId, 'quota_sets');
    if (!force) {
      const range = await settable(trx, cfg, projectId, userId);
      for (const [resource, limit] of values) {
        const { minimum, maximum } = range[resource];
        if (inf(limit) < inf(minimum))
          throw new BadRequest(
            `Quota limit ${limit} for ${resource} must be greater than or equal to already used and reserved ${minimum}.`,
          );
        if (inf(limit) > inf(maximum))
          throw new BadRequest(
            `Quota limit ${limit} for ${resource} must be less than or equal to ${maximum}.`,
          );
      }
    }
    for (const [resource, limit] of values)
      await upsert(trx, { project_id: projectId, user_id: userId ?? '', resource, hard_limit: limit });
  });
}

const upsert = (
  trx: Knex,
  row: { project_id: string; user_id: string; resource: string; hard_limit: number },
): Promise<unknown> =>
  trx('compute_quotas').insert(row).onConflict(['project_id', 'user_id', 'resource']).merge(['hard_limit']);

/** DELETE os-quota-sets/{project}: the project's and its users' overrides go; with a user, that user's only. */
export async function deleteQuotas(db: Knex, projectId: string, userId: string | null): Promise<void> {
  const q = db('compute_quotas').where({ project_id: projectId });
  if (userId) q.where({ user_id: userId });
  else q.whereNot('user_id', 'like', '#%');
  await q.delete();
}

/** PUT os-quota-class-sets/{class}: Nova stores each value as given (no usage check: a class has none). */
export async function updateClassQuotas(
  db: Knex,
  className: string,
  values: [QuotaResource, number][],
): Promise<void> {
  await db.transaction(async (trx) => {
    for (const [resource, limit] of values)
      await upsert(trx, { project_id: className, user_id: CLASS_ROW, resource, hard_limit: limit });
  });
}
