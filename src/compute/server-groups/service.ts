/**
 * Nova server groups (objects/instance_group.py): a named affinity policy for a project's servers. Members
 * are rows of server_group_members; a deleted server stays a row until its delete task removes it, so every
 * read shows only members whose server is not deleted. Creates are counted against [compute]
 * quota_server_groups under the project's quota lock, so racing creates never pass the limit.
 */
import type { Knex } from 'knex';
import type { Config } from '../../common/config/options.js';
import type { AuthContext } from '../../common/context.js';
import { BadRequest, Forbidden, NotFound, OverQuota } from '../../common/errors.js';
import { newUuid } from '../../common/ids.js';
import { fromJson, toJson } from '../../db/columns.js';
import { isSqlite, withRetry } from '../../db/transactions.js';
import { isAdmin } from '../policy.js';
import { computeLimits, lockQuota, serverGroupCount } from '../quotas/service.js';

export type GroupPolicy = 'affinity' | 'anti-affinity' | 'soft-affinity' | 'soft-anti-affinity';

export interface ServerGroup {
  uuid: string;
  projectId: string;
  userId: string;
  name: string;
  policy: GroupPolicy;
  rules: { max_server_per_host?: number };
  createdAt: number;
  /** Servers not deleted, in the order they joined. */
  members: string[];
}

const notFound = (uuid: string): NotFound => new NotFound(`Instance group ${uuid} could not be found.`);

function fromRow(r: Record<string, unknown>, members: string[]): ServerGroup {
  return {
    uuid: String(r.uuid),
    projectId: String(r.project_id),
    userId: String(r.user_id),
    name: String(r.name),
    policy: String(r.policy) as GroupPolicy,
    rules: fromJson(r.rules, {}),
    createdAt: Number(r.created_at),
    members,
  };
}

/** The members of these groups whose servers are not deleted, per group. */
async function liveMembers(db: Knex, groupUuids: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(groupUuids.map((g) => [g, []]));
  if (!groupUuids.length) return out;
  const rows = await db('server_group_members as m')
    .join('servers as s', 's.uuid', 'm.server_uuid')
    .whereIn('m.group_uuid', groupUuids)
    .whereNull('s.deleted_at')
    .orderBy([{ column: 's.created_at' }, { column: 's.launch_index' }, { column: 's.uuid' }])
    .select('m.group_uuid', 'm.server_uuid');
  for (const r of rows) out.get(String(r.group_uuid))?.push(String(r.server_uuid));
  return out;
}

export async function getServerGroup(db: Knex, uuid: string): Promise<ServerGroup> {
  const row = await db('server_groups').where({ uuid }).first();
  if (!row) throw notFound(uuid);
  return fromRow(row, (await liveMembers(db, [uuid])).get(uuid) ?? []);
}

/** A project's groups (every project's when projectId is null), oldest first, then offset and limit. */
export async function listServerGroups(
  db: Knex,
  projectId: string | null,
  page: { offset: number; limit: number },
): Promise<ServerGroup[]> {
  const q = db('server_groups').orderBy([{ column: 'created_at' }, { column: 'uuid' }]);
  if (projectId !== null) q.where({ project_id: projectId });
  const rows = await q.offset(page.offset).limit(page.limit);
  const members = await liveMembers(
    db,
    rows.map((r) => String(r.uuid)),
  );
  return rows.map((r) => fromRow(r, members.get(String(r.uuid)) ?? []));
}

export interface CreateServerGroup {
  projectId: string;
  userId: string;
  name: string;
  policy: GroupPolicy;
  rules: { max_server_per_host?: number };
}

/**
 * Creates a group within the project's (and the user's) server_groups quota: 403 "Quota exceeded, too many
 * server groups." as Nova's (a plain forbidden fault: Nova raises HTTPForbidden here).
 */
export async function createServerGroup(
  db: Knex,
  cfg: Config,
  c: CreateServerGroup,
  now: number,
): Promise<ServerGroup> {
  const uuid = newUuid();
  await withRetry(db, async (trx) => {
    await lockQuota(trx, c.projectId, 'server_groups');
    const project = (await computeLimits(trx, cfg, c.projectId)).server_groups;
    const user = (await computeLimits(trx, cfg, c.projectId, c.userId)).server_groups;
    const over = (limit: number, used: number) => limit >= 0 && used + 1 > limit;
    if (
      over(project, await serverGroupCount(trx, c.projectId)) ||
      over(user, await serverGroupCount(trx, c.projectId, c.userId))
    )
      throw new Forbidden('Quota exceeded, too many server groups.');
    await trx('server_groups').insert({
      uuid,
      project_id: c.projectId,
      user_id: c.userId,
      name: c.name,
      policy: c.policy,
      rules: toJson(c.rules),
      created_at: now,
    });
  });
  return getServerGroup(db, uuid);
}

export async function deleteServerGroup(db: Knex, uuid: string): Promise<void> {
  // members go with the group (ON DELETE CASCADE); their servers stay
  const n = await db('server_groups').where({ uuid }).delete();
  if (n === 0) throw notFound(uuid);
}

export interface ServerGroupForBoot {
  uuid: string;
  policy: string;
  rules: Record<string, unknown>;
}

/**
 * The group a boot names in its `group` scheduler hint: 400 with Nova's InstanceGroupNotFound text when it
 * does not exist, and the same for another project's group (admins excepted), so a uuid reveals nothing.
 */
export async function getGroupForBoot(
  trx: Knex,
  auth: AuthContext,
  groupUuid: string,
): Promise<ServerGroupForBoot> {
  const row = await trx('server_groups').where({ uuid: groupUuid }).first();
  if (!row || (row.project_id !== auth.projectId && !isAdmin(auth)))
    throw new BadRequest(`Instance group ${groupUuid} could not be found.`);
  return { uuid: String(row.uuid), policy: String(row.policy), rules: fromJson(row.rules, {}) };
}

/**
 * Adds servers (already inserted in this transaction) to a group within [compute] quota_server_group_members,
 * counted as Nova does: the group's live members that belong to the servers' user. The group row is locked
 * first, so two boots into one group count one after the other. Over the limit: 403 overLimit with Nova's
 * "Quota exceeded, too many servers in group"; a group deleted meanwhile: 400 as getGroupForBoot.
 */
export async function addGroupMembers(
  trx: Knex,
  cfg: Config,
  groupUuid: string,
  serverUuids: string[],
): Promise<void> {
  if (!serverUuids.length) return;
  const gq = trx('server_groups').where({ uuid: groupUuid });
  if (!isSqlite(trx)) gq.forUpdate();
  const group = await gq.first('project_id');
  if (!group) throw new BadRequest(`Instance group ${groupUuid} could not be found.`);
  const projectId = String(group.project_id);
  const owners = await trx('servers').whereIn('uuid', serverUuids).distinct('user_id');
  const userId = owners.length === 1 ? String(owners[0].user_id) : undefined;
  const limit = (await computeLimits(trx, cfg, projectId, userId)).server_group_members;
  if (limit >= 0) {
    // a locking read sees the latest members even in a transaction whose snapshot is older
    const memberRows = trx('server_group_members').where({ group_uuid: groupUuid });
    if (!isSqlite(trx)) memberRows.forUpdate();
    const uuids = (await memberRows.select('server_uuid')).map((r) => String(r.server_uuid));
    let used = 0;
    if (uuids.length) {
      const q = trx('servers').whereIn('uuid', uuids).whereNull('deleted_at');
      if (userId) q.where({ user_id: userId });
      used = Number((await q.count({ n: '*' }))[0].n);
    }
    if (used + serverUuids.length > limit) throw new OverQuota('Quota exceeded, too many servers in group');
  }
  await trx('server_group_members').insert(
    serverUuids.map((s) => ({ group_uuid: groupUuid, server_uuid: s })),
  );
}
