/**
 * Nova's quotas: defaults from [compute] quota_*, per-project (and per-user) overrides in compute_quotas,
 * usage counted from the rows themselves (servers not deleted, server groups, key pairs) as Nova's
 * counting quota driver does, so nothing can drift. One resolver for every check and view.
 */
import type { Knex } from 'knex';
import type { Config } from '../../common/config/options.js';
import { OverQuota } from '../../common/errors.js';

export const COMPUTE_RESOURCES = [
  'instances',
  'cores',
  'ram',
  'metadata_items',
  'injected_files',
  'injected_file_content_bytes',
  'injected_file_path_length',
  'key_pairs',
  'server_groups',
  'server_group_members',
] as const;
export type ComputeResource = (typeof COMPUTE_RESOURCES)[number];

/** The configured defaults (Nova's quota class "default"). */
export function defaultLimits(cfg: Config): Record<ComputeResource, number> {
  const c = cfg.compute;
  return {
    instances: c.quota_instances,
    cores: c.quota_cores,
    ram: c.quota_ram,
    metadata_items: c.quota_metadata_items,
    injected_files: c.quota_injected_files,
    injected_file_content_bytes: c.quota_injected_file_content_bytes,
    injected_file_path_length: c.quota_injected_file_path_length,
    key_pairs: c.quota_key_pairs,
    server_groups: c.quota_server_groups,
    server_group_members: c.quota_server_group_members,
  };
}

/** A project's limits (a user's, when userId is given: user overrides win over the project's). */
export async function computeLimits(
  db: Knex,
  cfg: Config,
  projectId: string,
  userId?: string,
): Promise<Record<ComputeResource, number>> {
  const limits = defaultLimits(cfg);
  const rows = await db('compute_quotas')
    .where({ project_id: projectId })
    .whereIn('user_id', userId ? ['', userId] : [''])
    .orderBy('user_id'); // '' (the project's) first, the user's after: the user's win
  for (const r of rows) {
    const key = String(r.resource) as ComputeResource;
    if (key in limits) limits[key] = Number(r.hard_limit);
  }
  return limits;
}

export interface ServerUsage {
  instances: number;
  cores: number;
  ram: number;
}

/** What a project's servers use now (deleted servers do not count). */
export async function serverUsage(db: Knex, projectId: string): Promise<ServerUsage> {
  const [row] = await db('servers')
    .where({ project_id: projectId })
    .whereNull('deleted_at')
    .select(
      db.raw('count(*) as n'),
      db.raw('coalesce(sum(vcpus), 0) as cores'),
      db.raw('coalesce(sum(memory_mb), 0) as ram'),
    );
  return { instances: Number(row.n), cores: Number(row.cores), ram: Number(row.ram) };
}

/** Nova's OverQuota text for the resources a request exceeds: "Quota exceeded for cores, ram: Requested ..." */
function overQuota(
  over: (keyof ServerUsage)[],
  req: ServerUsage,
  used: ServerUsage,
  lim: ServerUsage,
): OverQuota {
  const r = over[0];
  return new OverQuota(
    `Quota exceeded for ${over.join(', ')}: Requested ${req[r]}, but already used ${used[r]} of ${lim[r]} ${r}`,
  );
}

/** Throws 403 overLimit when usage + delta would exceed a limit (delta 0: is the project within its limits?). */
export async function checkServerQuota(
  trx: Knex,
  cfg: Config,
  projectId: string,
  delta: ServerUsage,
): Promise<void> {
  const limits = await computeLimits(trx, cfg, projectId);
  const used = await serverUsage(trx, projectId);
  const keys: (keyof ServerUsage)[] = ['instances', 'cores', 'ram'];
  const over = keys.filter((k) => limits[k] >= 0 && used[k] + delta[k] > limits[k]);
  if (over.length) throw overQuota(over, delta, used, limits);
}

/**
 * How many of min..max servers of this size the project may still create (Nova's
 * _check_num_instances_quota: max shrinks to what fits; fewer than min is 403 overLimit).
 */
export async function maxInstancesAllowed(
  db: Knex,
  cfg: Config,
  projectId: string,
  per: { cores: number; ram: number },
  min: number,
  max: number,
): Promise<number> {
  const limits = await computeLimits(db, cfg, projectId);
  const used = await serverUsage(db, projectId);
  const room = (limit: number, usedNow: number, each: number) =>
    limit < 0 || each === 0 ? Infinity : Math.floor((limit - usedNow) / each);
  const fits = Math.min(
    room(limits.instances, used.instances, 1),
    room(limits.cores, used.cores, per.cores),
    room(limits.ram, used.ram, per.ram),
  );
  if (fits >= min) return Math.min(max, fits);
  const want: ServerUsage = { instances: min, cores: per.cores * min, ram: per.ram * min };
  const keys: (keyof ServerUsage)[] = ['instances', 'cores', 'ram'];
  const over = keys.filter((k) => limits[k] >= 0 && used[k] + want[k] > limits[k]);
  throw overQuota(over.length ? over : ['instances'], want, used, limits);
}
