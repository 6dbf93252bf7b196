import type { Knex } from 'knex';
import { NotFound } from '../../common/errors.js';
import { expandImplied, getRole, type Role } from '../roles/service.js';
import type { RevocationList } from '../tokens/revocation.js';

export type ActorKind = 'user' | 'group';
export type TargetKind = 'project' | 'domain';

export interface Grant {
  actor: ActorKind;
  actorId: string;
  target: TargetKind;
  targetId: string;
  roleId: string;
}

const typeOf = (actor: ActorKind, target: TargetKind) =>
  `${actor === 'user' ? 'User' : 'Group'}${target === 'project' ? 'Project' : 'Domain'}`;

function grantFromRow(r: Record<string, unknown>): Grant {
  const type = String(r.type);
  return {
    actor: type.startsWith('User') ? 'user' : 'group',
    actorId: String(r.actor_id),
    target: type.endsWith('Project') ? 'project' : 'domain',
    targetId: String(r.target_id),
    roleId: String(r.role_id),
  };
}

async function requireExists(db: Knex, table: string, id: string, what: string): Promise<void> {
  if (!(await db(table).where({ id }).first())) throw new NotFound(`Could not find ${what}: ${id}.`);
}

async function requireParts(db: Knex, g: Grant): Promise<void> {
  await requireExists(db, g.actor === 'user' ? 'users' : 'groups', g.actorId, g.actor);
  await requireExists(db, g.target === 'project' ? 'projects' : 'domains', g.targetId, g.target);
  await getRole(db, g.roleId);
}

/** PUT a grant: idempotent, as Keystone's. */
export async function addGrant(db: Knex, g: Grant): Promise<void> {
  await db.transaction(async (trx) => {
    await requireParts(trx, g);
    const row = { type: typeOf(g.actor, g.target), actor_id: g.actorId, target_id: g.targetId, role_id: g.roleId };
    if (!(await trx('role_assignments').where(row).first())) await trx('role_assignments').insert(row);
  });
}

export async function checkGrant(db: Knex, g: Grant): Promise<void> {
  await requireParts(db, g);
  const row = { type: typeOf(g.actor, g.target), actor_id: g.actorId, target_id: g.targetId, role_id: g.roleId };
  if (!(await db('role_assignments').where(row).first())) {
    throw new NotFound(`Could not find role assignment with role: ${g.roleId}, ${g.actor}: ${g.actorId}, ${g.target}: ${g.targetId}.`);
  }
}

/** Removing a grant revokes the tokens it backed (the user's, or every group member's, on that target). */
export async function removeGrant(db: Knex, revocations: RevocationList, g: Grant): Promise<void> {
  await db.transaction(async (trx) => {
    await checkGrant(trx, g);
    await trx('role_assignments')
      .where({ type: typeOf(g.actor, g.target), actor_id: g.actorId, target_id: g.targetId, role_id: g.roleId })
      .delete();
    const userIds =
      g.actor === 'user' ? [g.actorId] : (await trx('group_members').where({ group_id: g.actorId })).map((m) => String(m.user_id));
    for (const userId of userIds) {
      await revocations.revoke(g.target === 'project' ? { user_id: userId, project_id: g.targetId } : { user_id: userId, domain_id: g.targetId }, trx);
    }
  });
}

export async function listGrantRoles(db: Knex, actor: ActorKind, actorId: string, target: TargetKind, targetId: string): Promise<Role[]> {
  await requireExists(db, actor === 'user' ? 'users' : 'groups', actorId, actor);
  await requireExists(db, target === 'project' ? 'projects' : 'domains', targetId, target);
  const rows = await db('role_assignments')
    .join('roles', 'roles.id', 'role_assignments.role_id')
    .where({ type: typeOf(actor, target), actor_id: actorId, target_id: targetId })
    .select('roles.*')
    .orderBy('roles.name');
  return rows.map((r) => ({ id: String(r.id), name: String(r.name), description: r.description ?? null, extra: {} }));
}

async function groupIdsOf(db: Knex, userId: string): Promise<string[]> {
  return (await db('group_members').where({ user_id: userId })).map((m) => String(m.group_id));
}

/** The roles a user holds on a target, directly or through groups, with implied roles added. */
export async function effectiveRoles(db: Knex, userId: string, target: TargetKind, targetId: string): Promise<Role[]> {
  const groups = await groupIdsOf(db, userId);
  const t = target === 'project' ? 'Project' : 'Domain';
  const rows = await db('role_assignments')
    .where({ target_id: targetId })
    .andWhere((q) => {
      q.where({ type: `User${t}`, actor_id: userId });
      if (groups.length) q.orWhere((q2) => q2.where('type', `Group${t}`).whereIn('actor_id', groups));
    })
    .distinct('role_id');
  return expandImplied(db, rows.map((r) => String(r.role_id)));
}

/** Ids of the projects (or domains) on which a user holds any role, directly or through groups. */
export async function userTargetIds(db: Knex, userId: string, target: TargetKind): Promise<string[]> {
  const groups = await groupIdsOf(db, userId);
  const t = target === 'project' ? 'Project' : 'Domain';
  const rows = await db('role_assignments')
    .where((q) => {
      q.where({ type: `User${t}`, actor_id: userId });
      if (groups.length) q.orWhere((q2) => q2.where('type', `Group${t}`).whereIn('actor_id', groups));
    })
    .distinct('target_id');
  return rows.map((r) => String(r.target_id));
}

export const userProjectIds = (db: Knex, userId: string) => userTargetIds(db, userId, 'project');

export interface AssignmentFilter {
  userId?: string;
  groupId?: string;
  projectId?: string;
  domainId?: string;
  roleId?: string;
  /** Expand group assignments into one per member (Keystone's ?effective). */
  effective?: boolean;
}

export interface Assignment extends Grant {
  /** The group an effective assignment came through. */
  viaGroupId?: string;
}

/** GET /v3/role_assignments. */
export async function listAssignments(db: Knex, f: AssignmentFilter): Promise<Assignment[]> {
  const q = db('role_assignments');
  if (f.projectId) q.where({ target_id: f.projectId }).whereIn('type', ['UserProject', 'GroupProject']);
  if (f.domainId) q.where({ target_id: f.domainId }).whereIn('type', ['UserDomain', 'GroupDomain']);
  if (f.roleId) q.where({ role_id: f.roleId });
  if (f.groupId) q.where({ actor_id: f.groupId }).whereIn('type', ['GroupProject', 'GroupDomain']);
  let grants: Assignment[] = (await q).map(grantFromRow);
  if (f.effective) {
    const expanded: Assignment[] = [];
    for (const g of grants) {
      if (g.actor === 'user') expanded.push(g);
      else {
        for (const m of await db('group_members').where({ group_id: g.actorId })) {
          expanded.push({ ...g, actor: 'user', actorId: String(m.user_id), viaGroupId: g.actorId });
        }
      }
    }
    grants = expanded;
  }
  // Without ?effective, Keystone lists only the user's direct assignments for user.id.
  if (f.userId) grants = grants.filter((g) => g.actor === 'user' && g.actorId === f.userId);
  return grants;
}
