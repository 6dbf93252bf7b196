/** Server groups as the servers code uses them: the group a boot names, and its membership. */
import type { Knex } from 'knex';
import type { Config } from '../../common/config/options.js';
import type { AuthContext } from '../../common/context.js';
import { BadRequest, OverQuota } from '../../common/errors.js';
import { fromJson } from '../../db/columns.js';
import { isAdmin } from '../policy.js';
import { computeLimits } from '../quotas/service.js';

export interface ServerGroupForBoot {
  uuid: string;
  policy: string;
  rules: Record<string, unknown>;
}

/** The group of a boot's `group` hint: 400 as Nova's when it is missing or another project's. */
export async function getGroupForBoot(
  db: Knex,
  auth: AuthContext,
  groupUuid: string,
): Promise<ServerGroupForBoot> {
  const row = await db('server_groups').where({ uuid: groupUuid }).first();
  if (!row || (row.project_id !== auth.projectId && !isAdmin(auth)))
    throw new BadRequest(
      `Invalid server group ${groupUuid}: Instance group ${groupUuid} could not be found.`,
    );
  return { uuid: String(row.uuid), policy: String(row.policy), rules: fromJson(row.rules, {}) };
}

/** Adds servers to a group within [compute] quota_server_group_members (Nova counts the group's members). */
export async function addGroupMembers(
  trx: Knex,
  cfg: Config,
  groupUuid: string,
  serverUuids: string[],
): Promise<void> {
  const group = await trx('server_groups').where({ uuid: groupUuid }).first('project_id');
  if (!group) throw new BadRequest(`Invalid server group ${groupUuid}`);
  const limit = (await computeLimits(trx, cfg, String(group.project_id))).server_group_members;
  const [{ n }] = await trx('server_group_members as m')
    .join('servers as s', 's.uuid', 'm.server_uuid')
    .where('m.group_uuid', groupUuid)
    .whereNull('s.deleted_at')
    .count({ n: '*' });
  if (limit >= 0 && Number(n) + serverUuids.length > limit)
    throw new OverQuota(
      `Quota exceeded, too many servers in group: Requested ${serverUuids.length}, but already used ${Number(n)} of ${limit} server_group_members`,
    );
  await trx('server_group_members').insert(
    serverUuids.map((s) => ({ group_uuid: groupUuid, server_uuid: s })),
  );
}
