import type { Knex } from 'knex';
import { Forbidden, NotFound } from '../../common/errors.js';
import {
  expandImplied,
  getRole,
  GLOBAL_ROLE_DOMAIN,
  roleFromRow,
  rolesImpliedBy,
  type Role,
} from '../roles/service.js';
import type { RevocationList } from '../tokens/revocation.js';

export type ActorKind = 'user' | 'group';
/** What a role is granted on; 'system' grants are stored with target id 'system', as Keystone's. */
export type TargetKind = 'project' | 'domain' | 'system';
export type ScopeKind = Exclude<TargetKind, 'system'>;
export const SYSTEM_TARGET = 'system';
const TARGET_SUFFIX: Record<TargetKind, string> = { project: 'Project', domain: 'Domain', system: 'System' };

export interface Grant {
  actor: ActorKind;
  actorId: string;
  target: TargetKind;
  targetId: string;
  roleId: string;
}

const typeOf = (actor: ActorKind, target: TargetKind) =>
  `${actor === 'user' ? 'User' : 'Group'}${TARGET_SUFFIX[target]}`;

function grantFromRow(r: Record<string, unknown>): Grant {
  const type = String(r.type);
  return {
    actor: type.startsWith('User') ? 'user' : 'group',
    actorId: String(r.actor_id),
    target: type.endsWith('Project') ? 'project' : type.endsWith('Domain') ? 'domain' : 'system',
    targetId: String(r.target_id),
    roleId: String(r.role_id),
  };
}

async function requireExists(db: Knex, table: string, id: string, what: string): Promise<void> {
  if (!(await db(table).where({ id }).first())) throw new NotFound(`Could not find ${what}: ${id}.`);
}

async function requireTarget(db: Knex, target: TargetKind, targetId: string): Promise<void> {
  if (target !== 'system')
    await requireExists(db, target === 'project' ? 'projects' : 'domains', targetId, target);
}

async function requireParts(db: Knex, g: Grant): Promise<Role> {
  await requireExists(db, g.actor === 'user' ? 'users' : 'groups', g.actorId, g.actor);
  await requireTarget(db, g.target, g.targetId);
  return getRole(db, g.roleId);
}

/** PUT a grant: idempotent, as Keystone's. */
export async function addGrant(db: Knex, g: Grant): Promise<void> {
  await db.transaction(async (trx) => {
    const role = await requireParts(trx, g);
    // As Keystone: a domain-specific role may be granted on a project of its own domain only.
    if (role.domainId && g.target === 'project') {
      const project = await trx('projects').where({ id: g.targetId }).first();
      if (String(project.domain_id) !== role.domainId) {
        throw new Forbidden(
          `Role ${role.id} is a domain-specific role that does not belong to the domain of project ${g.targetId}.`,
        );
      }
    }
    const row = {
      type: typeOf(g.actor, g.target),
      actor_id: g.actorId,
      target_id: g.targetId,
      role_id: g.roleId,
    };
    if (!(await trx('role_assignments').where(row).first())) await trx('role_assignments').insert(row);
  });
}

export async function checkGrant(db: Knex, g: Grant): Promise<void> {
  await requireParts(db, g);
  const row = {
    type: typeOf(g.actor, g.target),
    actor_id: g.actorId,
    target_id: g.targetId,
    role_id: g.roleId,
  };
  if (!(await db('role_assignments').where(row).first())) {
    throw new NotFound(
      `Could not find role assignment with role: ${g.roleId}, ${g.actor}: ${g.actorId}, ${g.target}: ${g.targetId}.`,
    );
  }
}

/** Removing a grant revokes the tokens it backed (the user's, or every group member's, on that target). */
export async function removeGrant(db: Knex, revocations: RevocationList, g: Grant): Promise<void> {
  await db.transaction(async (trx) => {
    await checkGrant(trx, g);
    await trx('role_assignments')
      .where({
        type: typeOf(g.actor, g.target),
        actor_id: g.actorId,
        target_id: g.targetId,
        role_id: g.roleId,
      })
      .delete();
    const userIds =
      g.actor === 'user'
        ? [g.actorId]
        : (await trx('group_members').where({ group_id: g.actorId })).map((m) => String(m.user_id));
    for (const userId of g.target === 'system' ? [] : userIds) {
      await revocations.revoke(
        g.target === 'project'
          ? { user_id: userId, project_id: g.targetId }
          : { user_id: userId, domain_id: g.targetId },
        trx,
      );
    }
  });
}

export async function listGrantRoles(
  db: Knex,
  actor: ActorKind,
  actorId: string,
  target: TargetKind,
  targetId: string,
): Promise<Role[]> {
  await requireExists(db, actor === 'user' ? 'users' : 'groups', actorId, actor);
  await requireTarget(db, target, targetId);
  const rows = await db('role_assignments')
    .join('roles', 'roles.id', 'role_assignments.role_id')
    .where({ type: typeOf(actor, target), actor_id: actorId, target_id: targetId })
    .select('roles.*')
    .orderBy('roles.name');
  return rows.map(roleFromRow);
}

async function groupIdsOf(db: Knex, userId: string): Promise<string[]> {
  return (await db('group_members').where({ user_id: userId })).map((m) => String(m.group_id));
}

/** The roles a user holds on a target, directly or through groups, with implied roles added. */
export async function effectiveRoles(
  db: Knex,
  userId: string,
  target: ScopeKind,
  targetId: string,
): Promise<Role[]> {
  const groups = await groupIdsOf(db, userId);
  const t = target === 'project' ? 'Project' : 'Domain';
  const rows = await db('role_assignments')
    .where({ target_id: targetId })
    .andWhere((q) => {
      q.where({ type: `User${t}`, actor_id: userId });
      if (groups.length) q.orWhere((q2) => q2.where('type', `Group${t}`).whereIn('actor_id', groups));
    })
    .distinct('role_id');
  return expandImplied(
    db,
    rows.map((r) => String(r.role_id)),
  );
}

/** Ids of the projects (or domains) on which a user holds any role, directly or through groups. */
export async function userTargetIds(db: Knex, userId: string, target: ScopeKind): Promise<string[]> {
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
  /** scope.system: only system grants. */
  system?: boolean;
  roleId?: string;
  /**
   * Keystone's ?effective: group grants become one per member, implied roles are added, and domain-specific
   * roles (which never reach a token) are left out.
   */
  effective?: boolean;
}

export interface Assignment extends Grant {
  /** The group an effective assignment came through. */
  viaGroupId?: string;
  /** The role an effective assignment was implied by. */
  priorRoleId?: string;
}

/** GET /v3/role_assignments. */
export async function listAssignments(db: Knex, f: AssignmentFilter): Promise<Assignment[]> {
  const q = db('role_assignments');
  if (f.projectId) q.where({ target_id: f.projectId }).whereIn('type', ['UserProject', 'GroupProject']);
  if (f.domainId) q.where({ target_id: f.domainId }).whereIn('type', ['UserDomain', 'GroupDomain']);
  if (f.system) q.whereIn('type', ['UserSystem', 'GroupSystem']);
  // With ?effective the role filter applies to the expanded list: an implied role matches too.
  if (f.roleId && !f.effective) q.where({ role_id: f.roleId });
  if (f.groupId)
    q.where({ actor_id: f.groupId }).whereIn('type', ['GroupProject', 'GroupDomain', 'GroupSystem']);
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
    const implied: Assignment[] = [];
    const impliedBy = new Map<string, string[]>();
    for (const g of expanded) {
      if (!impliedBy.has(g.roleId)) impliedBy.set(g.roleId, await rolesImpliedBy(db, g.roleId));
      for (const roleId of impliedBy.get(g.roleId) as string[])
        implied.push({ ...g, roleId, priorRoleId: g.roleId });
    }
    const all = [...expanded, ...implied];
    const roleIds = [...new Set(all.map((a) => a.roleId))];
    const global = new Set(
      roleIds.length
        ? (await db('roles').whereIn('id', roleIds).where('domain_id', GLOBAL_ROLE_DOMAIN).select('id')).map(
            (r) => String(r.id),
          )
        : [],
    );
    grants = all.filter((a) => global.has(a.roleId) && (!f.roleId || a.roleId === f.roleId));
  }
  // Without ?effective, Keystone lists only the user's direct assignments for user.id.
  if (f.userId) grants = grants.filter((g) => g.actor === 'user' && g.actorId === f.userId);
  return grants;
}
