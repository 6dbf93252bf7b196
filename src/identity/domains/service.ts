import type { Knex } from 'knex';
import { Conflict, Forbidden, NotFound } from '../../common/errors.js';
import { newHexId } from '../../common/ids.js';
import { fromJson, isDuplicateKey, toBool, toJson } from '../../db/columns.js';
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

export async function listDomains(db: Knex, filters: { name?: string; enabled?: boolean }): Promise<Domain[]> {
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
    if (isDuplicateKey(err)) throw new Conflict(`Conflict occurred attempting to store domain - Duplicate entry found with name ${name}.`);
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
    const extra = { ...current.extra, ...Object.fromEntries(Object.entries(rest).filter(([k]) => !STANDARD.includes(k))) };
    const changes: Record<string, unknown> = { extra: toJson(extra) };
    if (name !== undefined) changes.name = name;
    if (description !== undefined) changes.description = description;
    if (enabled !== undefined) changes.enabled = enabled;
    try {
      await trx('domains').where({ id }).update(changes);
    } catch (err) {
      if (isDuplicateKey(err)) throw new Conflict(`Conflict occurred attempting to store domain - Duplicate entry found with name ${name}.`);
      throw err;
    }
    if (enabled === false && current.enabled) await revocations.revoke({ domain_id: id }, trx);
    return getDomain(trx, id);
  });
}

export async function deleteDomain(db: Knex, id: string, defaultDomainId: string): Promise<void> {
  await db.transaction(async (trx) => {
    const domain = await getDomain(trx, id);
    if (domain.enabled) throw new Forbidden('Cannot delete a domain that is enabled, please disable it first.');
    if (id === defaultDomainId) throw new Forbidden('Cannot delete the default domain.');
    const [{ n: projects }] = await trx('projects').where({ domain_id: id }).count({ n: '*' });
    const [{ n: users }] = await trx('users').where({ domain_id: id }).count({ n: '*' });
    if (Number(projects) || Number(users)) {
      throw new Conflict(`Cannot delete domain ${id}: it still owns ${projects} project(s) and ${users} user(s).`);
    }
    await trx('role_assignments').where({ target_id: id, type: 'UserDomain' }).delete();
    await trx('domains').where({ id }).delete();
  });
}
