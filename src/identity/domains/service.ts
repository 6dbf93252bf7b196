import type { Knex } from 'knex';
import { Conflict, Forbidden, NotFound } from '../../common/errors.js';
import { newHexId } from '../../common/ids.js';
import { fromJson, isDuplicateKey, toBool, toJson } from '../../db/columns.js';
import { deleteRolesIn } from '../roles/service.js';
import type { RevocationList } from '../tokens/revocation.js';

export interface Domain {
  id: string;
  name: string;
  description: string | null;
  enabled: boolean;
  extra: Record<string, unknown>;
}

const STANDARD = ['id', 'name', 'description', 'enabled'];

function fromRow(r: Record<string, unknown>): Domain {
  return {
    id: String(r.id),
    name: String(r.name),
    description: (r.description as string | null) ?? null,
    enabled: toBool(r.enabled),
    extra: fromJson(r.extra, {}),
  };
}

export async function getDomain(db: Knex, id: string): Promise<Domain> {
  const row = await db('domains').where({ id }).first();
  if (!row) throw new NotFound(`Could not find domain: ${id}.`);
  return fromRow(row);
}

export async function findDomainByName(db: Knex, name: string): Promise<Domain> {
  const row = await db('domains').where({ name }).first();
  if (!row) throw new NotFound(`Could not find domain: ${name}.`);
  return fromRow(row);
}

export async function listDomains(
  db: Knex,
  filters: { name?: string; enabled?: boolean },
): Promise<Domain[]> {
  const q = db('domains').orderBy('name');
  if (filters.name !== undefined) q.where('name', filters.name);
  if (filters.enabled !== undefined) q.where('enabled', filters.enabled);
  return (await q).map(fromRow);
}

export async function createDomain(
  db: Knex,
  input: { id?: string; name: string; description?: string | null; enabled?: boolean; [k: string]: unknown },
  now: number,
): Promise<Domain> {
  const { id, name, description, enabled, ...rest } = input;
  const extra = Object.fromEntries(Object.entries(rest).filter(([k]) => !STANDARD.includes(k)));
  const row = {
    id: id ?? newHexId(),
    name,
    description: description ?? '',
    enabled: enabled ?? true,
    extra: toJson(extra),
    created_at: now,
  };
  try {
    await db('domains').insert(row);
  } catch (err) {
    if (isDuplicateKey(err))
      throw new Conflict(
        `Conflict occurred attempting to store domain - Duplicate entry found with name ${name}.`,
      );
    throw err;
  }
  return fromRow(row);
}

export async function updateDomain(
  db: Knex,
  revocations: RevocationList,
  id: string,
  patch: { name?: string; description?: string | null; enabled?: boolean; [k: string]: unknown },
): Promise<Domain> {
  return db.transaction(async (trx) => {
    const current = await getDomain(trx, id);
    const { name, description, enabled, id: _ignored, ...rest } = patch;
    const extra = {
      ...current.extra,
      ...Object.fromEntries(Object.entries(rest).filter(([k]) => !STANDARD.includes(k))),
    };
    const changes: Record<string, unknown> = { extra: toJson(extra) };
    if (name !== undefined) changes.name = name;
    if (description !== undefined) changes.description = description;
    if (enabled !== undefined) changes.enabled = enabled;
    try {
      await trx('domains').where({ id }).update(changes);
    } catch (err) {
      if (isDuplicateKey(err))
        throw new Conflict(
          `Conflict occurred attempting to store domain - Duplicate entry found with name ${name}.`,
        );
      throw err;
    }
    if (enabled === false && current.enabled) await revocations.revoke({ domain_id: id }, trx);
    return getDomain(trx, id);
  });
}

/**
 * Deletes a disabled domain and everything in it, as Keystone does: its projects, users, groups and
 * domain-specific roles, with their grants, group memberships and application credentials.
 */
export async function deleteDomain(
  db: Knex,
  revocations: RevocationList,
  id: string,
  defaultDomainId: string,
): Promise<void> {
  await db.transaction(async (trx) => {
    const domain = await getDomain(trx, id);
    if (domain.enabled)
      throw new Forbidden('Cannot delete a domain that is enabled, please disable it first.');
    if (id === defaultDomainId) throw new Forbidden('Cannot delete the default domain.');
    const ids = async (table: string, column = 'domain_id') =>
      (await trx(table).where(column, id).select('id')).map((r) => String(r.id));
    const [projects, users, groups, roles] = [
      await ids('projects'),
      await ids('users'),
      await ids('groups'),
      await ids('roles'),
    ];
    await deleteRolesIn(trx, roles);
    for (const chunk of chunks([id, ...projects]))
      await trx('role_assignments').whereIn('target_id', chunk).delete();
    for (const chunk of chunks([...users, ...groups]))
      await trx('role_assignments').whereIn('actor_id', chunk).delete();
    for (const chunk of chunks(users)) {
      await trx('application_credentials').whereIn('user_id', chunk).delete();
      await trx('group_members').whereIn('user_id', chunk).delete();
    }
    for (const chunk of chunks(projects))
      await trx('application_credentials').whereIn('project_id', chunk).delete();
    for (const chunk of chunks(groups)) await trx('group_members').whereIn('group_id', chunk).delete();
    for (const table of ['users', 'groups', 'projects']) await trx(table).where({ domain_id: id }).delete();
    await trx('domains').where({ id }).delete();
    await revocations.revoke({ domain_id: id }, trx);
  });
}

/** Splits long id lists so an IN (...) stays within the engines' bound-parameter limits. */
function chunks(ids: string[], size = 500): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < ids.length; i += size) out.push(ids.slice(i, i + size));
  return out;
}
