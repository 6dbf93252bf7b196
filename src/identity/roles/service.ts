import type { Knex } from 'knex';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../common/errors.js';
import { newHexId } from '../../common/ids.js';
import { fromJson, isDuplicateKey, toJson } from '../../db/columns.js';

/** Keystone's NULL_DOMAIN_ID: the domain_id column value of a global role (see migration 002). */
export const GLOBAL_ROLE_DOMAIN = '<<null>>';

/** Roles no other role may imply (Keystone's [assignment] prohibited_implied_role default). */
const PROHIBITED_IMPLIED_ROLES = ['admin'];

export interface Role {
  id: string;
  name: string;
  /** The domain of a domain-specific role; null for a global role. */
  domainId: string | null;
  description: string | null;
  extra: Record<string, unknown>;
}

export const roleFromRow = (r: Record<string, unknown>): Role => ({
  id: String(r.id),
  name: String(r.name),
  domainId:
    r.domain_id === undefined || r.domain_id === null || r.domain_id === GLOBAL_ROLE_DOMAIN
      ? null
      : String(r.domain_id),
  description: (r.description as string | null) ?? null,
  extra: fromJson(r.extra, {}),
});

export async function getRole(db: Knex, id: string): Promise<Role> {
  const row = await db('roles').where({ id }).first();
  if (!row) throw new NotFound(`Could not find role: ${id}.`);
  return roleFromRow(row);
}

/** Lists the global roles, or with a domain id the roles of that domain, as Keystone does. */
export async function listRoles(db: Knex, f: { name?: string; domainId?: string }): Promise<Role[]> {
  const q = db('roles')
    .where('domain_id', f.domainId || GLOBAL_ROLE_DOMAIN)
    .orderBy('name');
  if (f.name !== undefined) q.where('name', f.name);
  return (await q).map(roleFromRow);
}

const duplicate = (name: unknown) =>
  new Conflict(
    `Conflict occurred attempting to store role - Duplicate entry found with name ${String(name)}.`,
  );

export async function createRole(
  db: Knex,
  input: { name: string; description?: string | null; domain_id?: string | null; [k: string]: unknown },
  now: number,
): Promise<Role> {
  const { name, description, options: _o, domain_id: domainId, ...extra } = input;
  return db.transaction(async (trx) => {
    if (domainId && !(await trx('domains').where({ id: domainId }).first()))
      throw new NotFound(`Could not find domain: ${domainId}.`);
    const row = {
      id: newHexId(),
      name,
      domain_id: domainId || GLOBAL_ROLE_DOMAIN,
      description: description ?? null,
      extra: toJson(extra),
      created_at: now,
    };
    try {
      await trx('roles').insert(row);
    } catch (err) {
      if (isDuplicateKey(err)) throw duplicate(name);
      throw err;
    }
    return roleFromRow(row);
  });
}

export async function updateRole(
  db: Knex,
  id: string,
  input: { name?: string; description?: string | null; domain_id?: string | null; [k: string]: unknown },
): Promise<Role> {
  return db.transaction(async (trx) => {
    const current = await getRole(trx, id);
    const { name, description, options: _o, domain_id: domainId, ...extra } = input;
    if (domainId !== undefined && (domainId || null) !== current.domainId)
      throw new BadRequest('The domain of a role cannot be changed.');
    const changes: Record<string, unknown> = { extra: toJson({ ...current.extra, ...extra }) };
    if (name !== undefined) changes.name = name;
    if (description !== undefined) changes.description = description;
    try {
      await trx('roles').where({ id }).update(changes);
    } catch (err) {
      if (isDuplicateKey(err)) throw duplicate(name);
      throw err;
    }
    return getRole(trx, id);
  });
}

export async function deleteRole(db: Knex, id: string): Promise<void> {
  await db.transaction(async (trx) => {
    await getRole(trx, id);
    await deleteRolesIn(trx, [id]);
  });
}

/** Deletes roles with their assignments and inference rules. */
export async function deleteRolesIn(trx: Knex, ids: string[]): Promise<void> {
  if (!ids.length) return;
  await trx('role_assignments').whereIn('role_id', ids).delete();
  await trx('implied_roles').whereIn('prior_role_id', ids).delete();
  await trx('implied_roles').whereIn('implied_role_id', ids).delete();
  await trx('roles').whereIn('id', ids).delete();
}

// Role inference rules (implied roles)

export interface InferenceRule {
  prior: Role;
  implies: Role[];
}

export async function listImpliedRoles(db: Knex): Promise<InferenceRule[]> {
  const rules = await db('implied_roles');
  const roles = new Map((await db('roles')).map((r) => [String(r.id), roleFromRow(r)]));
  const byPrior = new Map<string, Role[]>();
  for (const r of rules) {
    const implied = roles.get(String(r.implied_role_id));
    if (implied)
      byPrior.set(String(r.prior_role_id), [...(byPrior.get(String(r.prior_role_id)) ?? []), implied]);
  }
  return [...byPrior].flatMap(([prior, implies]) =>
    roles.has(prior) ? [{ prior: roles.get(prior) as Role, implies }] : [],
  );
}

/** The roles one role implies directly (GET /v3/roles/{id}/implies). */
export async function listRolesImpliedBy(db: Knex, priorId: string): Promise<InferenceRule> {
  const prior = await getRole(db, priorId);
  const rows = await db('roles')
    .join('implied_roles', 'implied_roles.implied_role_id', 'roles.id')
    .where('implied_roles.prior_role_id', priorId)
    .select('roles.*')
    .orderBy('roles.name');
  return { prior, implies: rows.map(roleFromRow) };
}

export async function getImpliedRole(
  db: Knex,
  priorId: string,
  impliedId: string,
): Promise<{ prior: Role; implied: Role }> {
  const [prior, implied] = [await getRole(db, priorId), await getRole(db, impliedId)];
  if (!(await db('implied_roles').where({ prior_role_id: priorId, implied_role_id: impliedId }).first())) {
    throw new NotFound(`${priorId} does not imply ${impliedId}.`);
  }
  return { prior, implied };
}

/**
 * PUT /v3/roles/{prior}/implies/{implied}: idempotent. As Keystone: 'admin' may not be implied, a global role may
 * not imply a domain-specific one, and (kvmstack) no rule may close a cycle.
 */
export async function createImpliedRole(
  db: Knex,
  priorId: string,
  impliedId: string,
): Promise<{ prior: Role; implied: Role }> {
  return db.transaction(async (trx) => {
    const prior = await getRole(trx, priorId);
    const implied = await getRole(trx, impliedId);
    if (PROHIBITED_IMPLIED_ROLES.includes(implied.name) && implied.domainId === null) {
      throw new Forbidden(
        `${implied.id} is not a valid implied role: the ${implied.name} role may not be implied.`,
      );
    }
    if (prior.domainId === null && implied.domainId !== null) {
      throw new Forbidden(
        `${implied.id} is not a valid implied role: a global role cannot imply a domain-specific role.`,
      );
    }
    const closure = await impliedClosure(trx, [impliedId]);
    if (closure.has(priorId))
      throw new Forbidden(`${implied.id} is not a valid implied role: the rule would make a cycle.`);
    const rule = { prior_role_id: priorId, implied_role_id: impliedId };
    if (!(await trx('implied_roles').where(rule).first())) await trx('implied_roles').insert(rule);
    return { prior, implied };
  });
}

export async function deleteImpliedRole(db: Knex, priorId: string, impliedId: string): Promise<void> {
  await db.transaction(async (trx) => {
    await getImpliedRole(trx, priorId, impliedId);
    await trx('implied_roles').where({ prior_role_id: priorId, implied_role_id: impliedId }).delete();
  });
}

/** The given role ids and every role they imply, transitively. */
async function impliedClosure(db: Knex, roleIds: string[]): Promise<Set<string>> {
  const rules = await db('implied_roles');
  const seen = new Set(roleIds);
  const queue = [...roleIds];
  while (queue.length) {
    const prior = queue.shift() as string;
    for (const r of rules) {
      if (String(r.prior_role_id) === prior && !seen.has(String(r.implied_role_id))) {
        seen.add(String(r.implied_role_id));
        queue.push(String(r.implied_role_id));
      }
    }
  }
  return seen;
}

/** The roles one role implies, transitively, without itself (for effective assignments). */
export async function rolesImpliedBy(db: Knex, roleId: string): Promise<string[]> {
  const closure = await impliedClosure(db, [roleId]);
  closure.delete(roleId);
  return [...closure];
}

/**
 * Adds every role implied by the given ones (admin → member → reader), transitively, and drops domain-specific
 * roles: as in Keystone, those only carry implications and never appear in a token.
 */
export async function expandImplied(db: Knex, roleIds: string[]): Promise<Role[]> {
  if (roleIds.length === 0) return [];
  const ids = await impliedClosure(db, roleIds);
  return (
    await db('roles')
      .whereIn('id', [...ids])
      .where('domain_id', GLOBAL_ROLE_DOMAIN)
      .orderBy('name')
  ).map(roleFromRow);
}
