import type { Knex } from 'knex';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../common/errors.js';
import { newHexId } from '../../common/ids.js';
import { fromJson, isDuplicateKey, toBool, toJson } from '../../db/columns.js';
import { getDomain } from '../domains/service.js';
import type { RevocationList } from '../tokens/revocation.js';

export interface Project {
  id: string;
  name: string;
  domainId: string;
  parentId: string | null;
  description: string;
  enabled: boolean;
  tags: string[];
  extra: Record<string, unknown>;
}

export interface ProjectInput {
  name?: string;
  domain_id?: string | null;
  parent_id?: string | null;
  description?: string | null;
  enabled?: boolean;
  is_domain?: boolean;
  tags?: string[];
  options?: Record<string, unknown>;
  [extra: string]: unknown;
}

const STANDARD = new Set(['id', 'name', 'domain_id', 'parent_id', 'description', 'enabled', 'is_domain', 'tags', 'options', 'links']);
const extraOf = (input: ProjectInput) => Object.fromEntries(Object.entries(input).filter(([k]) => !STANDARD.has(k)));

function fromRow(r: Record<string, unknown>): Project {
  return {
    id: String(r.id),
    name: String(r.name),
    domainId: String(r.domain_id),
    parentId: (r.parent_id as string | null) ?? null,
    description: (r.description as string | null) ?? '',
    enabled: toBool(r.enabled),
    tags: fromJson(r.tags, []),
    extra: fromJson(r.extra, {}),
  };
}

export async function getProject(db: Knex, id: string): Promise<Project> {
  const row = await db('projects').where({ id }).first();
  if (!row) throw new NotFound(`Could not find project: ${id}.`);
  return fromRow(row);
}

export async function findProjectByName(db: Knex, name: string, domainId: string): Promise<Project> {
  const row = await db('projects').where({ name, domain_id: domainId }).first();
  if (!row) throw new NotFound(`Could not find project: ${name}.`);
  return fromRow(row);
}

export async function listProjects(
  db: Knex,
  f: { name?: string; domainId?: string; enabled?: boolean; parentId?: string; ids?: string[]; isDomain?: boolean },
): Promise<Project[]> {
  if (f.isDomain === true) return []; // projects acting as domains are not modelled: domains are their own table
  const q = db('projects').orderBy('name');
  if (f.name !== undefined) q.where('name', f.name);
  if (f.domainId !== undefined) q.where('domain_id', f.domainId);
  if (f.enabled !== undefined) q.where('enabled', f.enabled);
  if (f.parentId !== undefined) q.where('parent_id', f.parentId);
  if (f.ids !== undefined) q.whereIn('id', f.ids);
  return (await q).map(fromRow);
}

export async function createProject(db: Knex, input: ProjectInput, defaultDomainId: string, now: number): Promise<Project> {
  if (input.is_domain) throw new BadRequest('Projects acting as domains are not supported: create a domain instead.');
  return db.transaction(async (trx) => {
    let domainId = input.domain_id ?? null;
    let parentId = input.parent_id ?? null;
    if (parentId) {
      const parent = await trx('projects').where({ id: parentId }).first();
      if (parent) domainId ??= String(parent.domain_id);
      else if (!(await trx('domains').where({ id: parentId }).first())) {
        throw new NotFound(`Could not find project: ${parentId}.`);
      }
      if (parent && String(parent.domain_id) !== domainId) {
        throw new BadRequest('Cannot create a project whose parent is in another domain.');
      }
    }
    domainId ??= defaultDomainId;
    await getDomainOr400(trx, domainId);
    parentId ??= domainId; // Keystone: a top-level project's parent is its domain
    const row = {
      id: newHexId(),
      name: input.name as string,
      domain_id: domainId,
      parent_id: parentId,
      description: input.description ?? '',
      enabled: input.enabled ?? true,
      tags: toJson(input.tags ?? []),
      extra: toJson(extraOf(input)),
      created_at: now,
      updated_at: now,
    };
    try {
      await trx('projects').insert(row);
    } catch (err) {
      if (isDuplicateKey(err)) throw duplicate(row.name);
      throw err;
    }
    return fromRow(row);
  });
}

export async function updateProject(
  db: Knex,
  revocations: RevocationList,
  id: string,
  input: ProjectInput,
  now: number,
): Promise<Project> {
  return db.transaction(async (trx) => {
    const current = await getProject(trx, id);
    if (input.domain_id !== undefined && input.domain_id !== current.domainId) {
      throw new BadRequest('Cannot change the domain of a project.');
    }
    if (input.parent_id !== undefined && input.parent_id !== current.parentId) {
      throw new Forbidden('Cannot change the parent of a project.');
    }
    const changes: Record<string, unknown> = { updated_at: now, extra: toJson({ ...current.extra, ...extraOf(input) }) };
    if (input.name !== undefined) changes.name = input.name;
    if (input.description !== undefined) changes.description = input.description ?? '';
    if (input.enabled !== undefined) changes.enabled = input.enabled;
    if (input.tags !== undefined) changes.tags = toJson(input.tags);
    try {
      await trx('projects').where({ id }).update(changes);
    } catch (err) {
      if (isDuplicateKey(err)) throw duplicate(String(input.name));
      throw err;
    }
    if (input.enabled === false && current.enabled) await revocations.revoke({ project_id: id }, trx);
    return getProject(trx, id);
  });
}

export async function deleteProject(db: Knex, revocations: RevocationList, id: string): Promise<void> {
  await db.transaction(async (trx) => {
    await getProject(trx, id);
    const child = await trx('projects').where({ parent_id: id }).first();
    if (child) throw new Forbidden(`Cannot delete project ${id}: it has child projects.`);
    await trx('role_assignments').where({ target_id: id, type: 'UserProject' }).delete();
    await trx('application_credentials').where({ project_id: id }).delete();
    await trx('projects').where({ id }).delete();
    await revocations.revoke({ project_id: id }, trx);
  });
}

async function getDomainOr400(db: Knex, domainId: string): Promise<void> {
  try {
    await getDomain(db, domainId);
  } catch (err) {
    if (err instanceof NotFound) throw new BadRequest(`Could not find domain: ${domainId}.`);
    throw err;
  }
}

function duplicate(name: string): Conflict {
  return new Conflict(`Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : ${name}.`);
}
