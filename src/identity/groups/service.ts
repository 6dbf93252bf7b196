import type { Knex } from 'knex';
import { Conflict, NotFound } from '../../common/errors.js';
import { newHexId } from '../../common/ids.js';
import { isDuplicateKey } from '../../db/columns.js';
import { getUser, userFromRow, type User } from '../users/service.js';
import type { RevocationList } from '../tokens/revocation.js';

export interface Group {
  id: string;
  name: string;
  domainId: string;
  description: string;
}

const fromRow = (r: Record<string, unknown>): Group => ({
  id: String(r.id),
  name: String(r.name),
  domainId: String(r.domain_id),
  description: (r.description as string | null) ?? '',
});

export async function getGroup(db: Knex, id: string): Promise<Group> {
  const row = await db('groups').where({ id }).first();
  if (!row) throw new NotFound(`Could not find group: ${id}.`);
  return fromRow(row);
}

export async function listGroups(
  db: Knex,
  f: { name?: string; domainId?: string; userId?: string },
): Promise<Group[]> {
  const q = db('groups').select('groups.*').orderBy('groups.name');
  if (f.name !== undefined) q.where('groups.name', f.name);
  if (f.domainId !== undefined) q.where('groups.domain_id', f.domainId);
  if (f.userId !== undefined)
    q.join('group_members', 'group_members.group_id', 'groups.id').where('group_members.user_id', f.userId);
  return (await q).map(fromRow);
}

export async function createGroup(
  db: Knex,
  input: { name: string; domain_id?: string; description?: string | null },
  defaultDomainId: string,
): Promise<Group> {
  const domainId = input.domain_id ?? defaultDomainId;
  if (!(await db('domains').where({ id: domainId }).first()))
    throw new NotFound(`Could not find domain: ${domainId}.`);
  const row = {
    id: newHexId(),
    name: input.name,
    domain_id: domainId,
    description: input.description ?? '',
    extra: '{}',
  };
  try {
    await db('groups').insert(row);
  } catch (err) {
    if (isDuplicateKey(err))
      throw new Conflict(
        `Conflict occurred attempting to store group - Duplicate entry found with name ${input.name}.`,
      );
    throw err;
  }
  return fromRow(row);
}

export async function updateGroup(
  db: Knex,
  id: string,
  input: { name?: string; description?: string | null },
): Promise<Group> {
  await getGroup(db, id);
  const changes: Record<string, unknown> = {};
  if (input.name !== undefined) changes.name = input.name;
  if (input.description !== undefined) changes.description = input.description ?? '';
  if (Object.keys(changes).length) {
    try {
      await db('groups').where({ id }).update(changes);
    } catch (err) {
      if (isDuplicateKey(err))
        throw new Conflict(
          `Conflict occurred attempting to store group - Duplicate entry found with name ${input.name}.`,
        );
      throw err;
    }
  }
  return getGroup(db, id);
}

/** Deleting a group drops its grants, so its members' tokens that relied on them are revoked. */
export async function deleteGroup(db: Knex, revocations: RevocationList, id: string): Promise<void> {
  await db.transaction(async (trx) => {
    await getGroup(trx, id);
    const members = await trx('group_members').where({ group_id: id });
    await trx('role_assignments')
      .where({ actor_id: id })
      .whereIn('type', ['GroupProject', 'GroupDomain'])
      .delete();
    await trx('group_members').where({ group_id: id }).delete();
    await trx('groups').where({ id }).delete();
    for (const m of members) await revocations.revoke({ user_id: String(m.user_id) }, trx);
  });
}

export async function listMembers(db: Knex, groupId: string): Promise<User[]> {
  await getGroup(db, groupId);
  const rows = await db('users')
    .join('group_members', 'group_members.user_id', 'users.id')
    .where('group_members.group_id', groupId)
    .select('users.*')
    .orderBy('users.name');
  return rows.map(userFromRow);
}

export async function addMember(db: Knex, groupId: string, userId: string): Promise<void> {
  await getGroup(db, groupId);
  await getUser(db, userId);
  if (!(await db('group_members').where({ group_id: groupId, user_id: userId }).first())) {
    await db('group_members').insert({ group_id: groupId, user_id: userId });
  }
}

export async function checkMember(db: Knex, groupId: string, userId: string): Promise<void> {
  await getGroup(db, groupId);
  await getUser(db, userId);
  if (!(await db('group_members').where({ group_id: groupId, user_id: userId }).first())) {
    throw new NotFound(`User ${userId} is not a member of group ${groupId}.`);
  }
}

export async function removeMember(
  db: Knex,
  revocations: RevocationList,
  groupId: string,
  userId: string,
): Promise<void> {
  await checkMember(db, groupId, userId);
  await db.transaction(async (trx) => {
    await trx('group_members').where({ group_id: groupId, user_id: userId }).delete();
    await revocations.revoke({ user_id: userId }, trx);
  });
}
