import type { Knex } from 'knex';
import { Conflict, NotFound } from '../../common/errors.js';
import { newHexId } from '../../common/ids.js';
import { fromJson, isDuplicateKey, toJson } from '../../db/columns.js';

export interface Role {
  id: string;
  name: string;
  description: string | null;
  extra: Record<string, unknown>;
}

const fromRow = (r: Record<string, unknown>): Role => ({
  id: String(r.id),
  name: String(r.name),
  description: (r.description as string | null) ?? null,
  extra: fromJson(r.extra, {}),
});

export async function getRole(db: Knex, id: string): Promise<Role> {
  const row = await db('roles').where({ id }).first();
  if (!row) throw new NotFound(`Could not find role: ${id}.`);
  return fromRow(row);
}

export async function findRoleByName(db: Knex, name: string): Promise<Role | null> {
  const row = await db('roles').where({ name }).first();
  return row ? fromRow(row) : null;
}

export async function listRoles(db: Knex, f: { name?: string; domainId?: string }): Promise<Role[]> {
  if (f.domainId) return []; // domain-specific roles are not modelled: every role is global
  const q = db('roles').orderBy('name');
  if (f.name !== undefined) q.where('name', f.name);
  return (await q).map(fromRow);
}

export async function createRole(
  db: Knex,
  input: { name: string; description?: string | null; [k: string]: unknown },
  now: number,
): Promise<Role> {
  const { name, description, options: _o, domain_id: _d, ...extra } = input;
  const row = { id: newHexId(), name, description: description ?? null, extra: toJson(extra), created_at: now };
  try {
    await db('roles').insert(row);
  } catch (err) {
    if (isDuplicateKey(err)) throw new Conflict(`Conflict occurred attempting to store role - Duplicate entry found with name ${name}.`);
    throw err;
  }
  return fromRow(row);
}

export async function updateRole(
  db: Knex,
  id: string,
  input: { name?: string; description?: string | null; [k: string]: unknown },
): Promise<Role> {
  return db.transaction(async (trx) => {
    const current = await getRole(trx, id);
    const { name, description, options: _o, domain_id: _d, ...extra } = input;
    const changes: Record<string, unknown> = { extra: toJson({ ...current.extra, ...extra }) };
    if (name !== undefined) changes.name = name;
    if (description !== undefined) changes.description = description;
    try {
      await trx('roles').where({ id }).update(changes);
    } catch (err) {
      if (isDuplicateKey(err)) throw new Conflict(`Conflict occurred attempting to store role - Duplicate entry found with name ${name}.`);
      throw err;
    }
    return getRole(trx, id);
  });
}

export async function deleteRole(db: Knex, id: string): Promise<void> {
  await db.transaction(async (trx) => {
    await getRole(trx, id);
    await trx('role_assignments').where({ role_id: id }).delete();
    await trx('implied_roles').where({ prior_role_id: id }).orWhere({ implied_role_id: id }).delete();
    await trx('roles').where({ id }).delete();
  });
}

export async function listImpliedRoles(db: Knex): Promise<{ prior: Role; implies: Role[] }[]> {
  const rules = await db('implied_roles');
  const roles = new Map((await db('roles')).map((r) => [String(r.id), fromRow(r)]));
  const byPrior = new Map<string, Role[]>();
  for (const r of rules) {
    const implied = roles.get(String(r.implied_role_id));
    if (implied) byPrior.set(String(r.prior_role_id), [...(byPrior.get(String(r.prior_role_id)) ?? []), implied]);
  }
  return [...byPrior].flatMap(([prior, implies]) => (roles.has(prior) ? [{ prior: roles.get(prior) as Role, implies }] : []));
}

/** Adds every role implied by the given ones (admin → member → reader), transitively. */
export async function expandImplied(db: Knex, roleIds: string[]): Promise<Role[]> {
  if (roleIds.length === 0) return [];
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
  return (await db('roles').whereIn('id', [...seen]).orderBy('name')).map(fromRow);
}
