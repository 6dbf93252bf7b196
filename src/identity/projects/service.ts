import type { Knex } from 'knex';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../common/errors.js';
import { newHexId } from '../../common/ids.js';
import { fromJson, isDuplicateKey, toBool, toJson } from '../../db/columns.js';
import { createDomain, getDomain, listDomains, type Domain } from '../domains/service.js';
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

const STANDARD = new Set([
  'id',
  'name',
  'domain_id',
  'parent_id',
  'description',
  'enabled',
  'is_domain',
  'tags',
  'options',
  'links',
]);
const extraOf = (input: ProjectInput) =>
  Object.fromEntries(Object.entries(input).filter(([k]) => !STANDARD.has(k)));

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

export async function listProjects(db: Knex, f: ProjectFilter): Promise<Project[]> {
  if (f.isDomain === true) return []; // projects acting as domains are the domains: see listDomainsAsProjects
  const q = db('projects').orderBy('name');
  if (f.name !== undefined) q.where('name', f.name);
  if (f.domainId !== undefined) q.where('domain_id', f.domainId);
  if (f.enabled !== undefined) q.where('enabled', f.enabled);
  if (f.parentId !== undefined) q.where('parent_id', f.parentId);
  if (f.ids !== undefined) q.whereIn('id', f.ids);
  return (await q).map(fromRow).filter((p) => matchesTags(p.tags, f));
}

export interface ProjectFilter {
  name?: string;
  domainId?: string;
  enabled?: boolean;
  parentId?: string;
  ids?: string[];
  isDomain?: boolean;
  /** Keystone's tag filters: all of `tags`, any of `tagsAny`, not all of `notTags`, none of `notTagsAny`. */
  tags?: string[];
  tagsAny?: string[];
  notTags?: string[];
  notTagsAny?: string[];
}

function matchesTags(tags: string[], f: ProjectFilter): boolean {
  const has = (t: string) => tags.includes(t);
  if (f.tags && !f.tags.every(has)) return false;
  if (f.tagsAny && !f.tagsAny.some(has)) return false;
  if (f.notTags && f.notTags.every(has)) return false;
  if (f.notTagsAny && f.notTagsAny.some(has)) return false;
  return true;
}

/**
 * Keystone models each domain as a project acting as a domain (is_domain): the projects API reaches domains
 * too. kvmstack keeps domains in their own table and answers for them here.
 */
export type ProjectOrDomain = { kind: 'project'; project: Project } | { kind: 'domain'; domain: Domain };

export async function getProjectOrDomain(db: Knex, id: string): Promise<ProjectOrDomain> {
  const row = await db('projects').where({ id }).first();
  if (row) return { kind: 'project', project: fromRow(row) };
  const domain = await db('domains').where({ id }).first();
  if (domain) return { kind: 'domain', domain: await getDomain(db, id) };
  throw new NotFound(`Could not find project: ${id}.`);
}

/** POST /v3/projects with is_domain: a new domain; it has neither a domain nor a parent. */
export async function createProjectActingAsDomain(
  db: Knex,
  input: ProjectInput,
  now: number,
): Promise<Domain> {
  if (input.domain_id || input.parent_id)
    throw new BadRequest('A project acting as a domain cannot have a domain_id or a parent_id.');
  const {
    name,
    description,
    enabled,
    domain_id: _d,
    parent_id: _p,
    is_domain: _i,
    tags: _t,
    options: _o,
    ...extra
  } = input;
  return createDomain(
    db,
    { ...extra, name: name as string, description: description ?? '', enabled: enabled ?? true },
    now,
  );
}

export async function listDomainsAsProjects(db: Knex, f: ProjectFilter): Promise<Domain[]> {
  if (f.parentId || f.domainId || f.tags || f.tagsAny) return []; // domains have no parent, domain or tags
  const domains = await listDomains(db, { name: f.name, enabled: f.enabled });
  return f.ids ? domains.filter((d) => f.ids?.includes(d.id)) : domains;
}

// Project tags (Keystone's /v3/projects/{id}/tags)

const MAX_TAGS = 80;

/** A tag is 1 to 255 characters without ',' or '/', as Keystone's schema. */
export function checkTag(tag: string): void {
  if (tag.length < 1 || tag.length > 255 || /[,/]/.test(tag)) {
    throw new BadRequest(
      `Invalid input for field 'tags': ${JSON.stringify(tag)} is not a valid tag (1 to 255 characters, no ',' or '/').`,
    );
  }
}

export async function setProjectTags(db: Knex, id: string, tags: string[], now: number): Promise<string[]> {
  const unique = [...new Set(tags)];
  unique.forEach(checkTag);
  if (unique.length > MAX_TAGS) throw new BadRequest(`A project may have at most ${MAX_TAGS} tags.`);
  return db.transaction(async (trx) => {
    await getProject(trx, id);
    await trx('projects')
      .where({ id })
      .update({ tags: toJson(unique), updated_at: now });
    return unique;
  });
}

export async function addProjectTag(db: Knex, id: string, tag: string, now: number): Promise<void> {
  checkTag(tag);
  await db.transaction(async (trx) => {
    const project = await getProject(trx, id);
    if (project.tags.includes(tag)) return;
    if (project.tags.length >= MAX_TAGS) throw new BadRequest(`A project may have at most ${MAX_TAGS} tags.`);
    await trx('projects')
      .where({ id })
      .update({ tags: toJson([...project.tags, tag]), updated_at: now });
  });
}

export async function checkProjectTag(db: Knex, id: string, tag: string): Promise<void> {
  const project = await getProject(db, id);
  if (!project.tags.includes(tag)) throw new NotFound(`Tag ${tag} was not found on project ${id}.`);
}

export async function removeProjectTag(db: Knex, id: string, tag: string, now: number): Promise<void> {
  await db.transaction(async (trx) => {
    await checkProjectTag(trx, id, tag);
    const project = await getProject(trx, id);
    await trx('projects')
      .where({ id })
      .update({ tags: toJson(project.tags.filter((t) => t !== tag)), updated_at: now });
  });
}

export async function createProject(
  db: Knex,
  input: ProjectInput,
  defaultDomainId: string,
  now: number,
): Promise<Project> {
  if (input.is_domain)
    throw new BadRequest('Use createProjectActingAsDomain for a project acting as a domain.');
  (input.tags ?? []).forEach(checkTag);
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
    const changes: Record<string, unknown> = {
      updated_at: now,
      extra: toJson({ ...current.extra, ...extraOf(input) }),
    };
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
  return new Conflict(
    `Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : ${name}.`,
  );
}
