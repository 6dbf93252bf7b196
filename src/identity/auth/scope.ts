import type { Knex } from 'knex';
import { BadRequest, Forbidden, NotFound, Unauthorized } from '../../common/errors.js';
import { findDomainByName, getDomain } from '../domains/service.js';
import { findProjectByName, getProject, type Project } from '../projects/service.js';
import { effectiveRoles } from '../role-assignments/service.js';
import type { TokenGrant } from '../tokens/provider.js';
import { authFailed, type AuthScope, type Identified } from './methods.js';

/**
 * Turns who the caller is into what the new token grants: its scope and roles. An explicit scope wins;
 * the token method keeps its token's scope; else the user's default project, if they hold a role on it;
 * else the token is unscoped. Any scope the user may not use is a 401, as Keystone answers.
 */
export async function grantFor(
  db: Knex,
  who: Identified,
  scope: AuthScope | undefined,
  allowRescope: boolean,
): Promise<TokenGrant> {
  const base = {
    userId: who.user.id,
    userDomainId: who.user.domainId,
    methods: who.methods,
    parentAuditIds: who.parentToken?.auditIds,
    expiresAtMs: who.parentToken?.expiresAtMs,
    applicationCredentialId: null as string | null,
    applicationCredentialRestricted: false,
  };
  const unscoped: TokenGrant = { ...base, projectId: null, projectDomainId: null, domainId: null, roles: [] };

  if (who.appCred) {
    if (scope && (scope.project || scope.domain || scope.system)) {
      // Keystone allows a scope equal to the credential's own project only.
      if (!scope.project?.id || scope.project.id !== who.appCred.projectId) throw authFailed();
    }
    const project = await usableProject(db, who.appCred.projectId);
    const held = await effectiveRoles(db, who.user.id, 'project', project.id);
    const roles = who.appCred.roles.filter((r) => held.some((h) => h.id === r.id));
    if (!roles.length) throw authFailed();
    return {
      ...base,
      projectId: project.id,
      projectDomainId: project.domainId,
      domainId: null,
      roles,
      applicationCredentialId: who.appCred.id,
      applicationCredentialRestricted: !who.appCred.unrestricted,
    };
  }

  if (scope?.system) throw new Unauthorized('System-scoped tokens are not supported.');

  if (!scope?.project && !scope?.domain) {
    const parent = who.parentToken;
    if (parent) {
      // The token method without a scope keeps the presented token's scope.
      if (parent.projectId) return projectGrant(db, base, parent.projectId);
      if (parent.domainId) return domainGrant(db, base, parent.domainId);
      return unscoped;
    }
    if (who.user.defaultProjectId) {
      try {
        return await projectGrant(db, base, who.user.defaultProjectId);
      } catch {
        return unscoped; // Keystone falls back to unscoped when the default project is unusable
      }
    }
    return unscoped;
  }

  if (who.parentToken && !allowRescope && (who.parentToken.projectId || who.parentToken.domainId)) {
    throw new Forbidden('Rescoping a scoped token is disabled by [token] allow_rescope_scoped_token.');
  }
  if (scope.project && scope.domain)
    throw new BadRequest('Specify either a project or a domain scope, not both.');

  if (scope.project) {
    const ref = scope.project;
    let projectId: string;
    try {
      if (ref.id) projectId = ref.id;
      else {
        if (!ref.name || !ref.domain || (!ref.domain.id && !ref.domain.name))
          throw new BadRequest('Expecting to find domain in project.');
        const domainId = ref.domain.id ?? (await findDomainByName(db, ref.domain.name as string)).id;
        projectId = (await findProjectByName(db, ref.name, domainId)).id;
      }
    } catch (err) {
      if (err instanceof NotFound) throw authFailed();
      throw err;
    }
    return projectGrant(db, base, projectId);
  }
  const dref = scope.domain as { id?: string; name?: string };
  let domainId: string;
  try {
    domainId = dref.id ?? (await findDomainByName(db, String(dref.name))).id;
  } catch (err) {
    if (err instanceof NotFound) throw authFailed();
    throw err;
  }
  return domainGrant(db, base, domainId);
}

async function usableProject(db: Knex, projectId: string): Promise<Project> {
  const project = await getProject(db, projectId).catch(() => {
    throw authFailed();
  });
  const domain = await getDomain(db, project.domainId).catch(() => null);
  if (!project.enabled || !domain?.enabled) throw authFailed();
  return project;
}

type Base = Omit<TokenGrant, 'projectId' | 'projectDomainId' | 'domainId' | 'roles'>;

async function projectGrant(db: Knex, base: Base, projectId: string): Promise<TokenGrant> {
  const project = await usableProject(db, projectId);
  const roles = await effectiveRoles(db, base.userId, 'project', project.id);
  if (!roles.length) throw new Unauthorized(`User ${base.userId} has no access to project ${project.id}.`);
  return {
    ...base,
    projectId: project.id,
    projectDomainId: project.domainId,
    domainId: null,
    roles: roles.map((r) => ({ id: r.id, name: r.name })),
  };
}

async function domainGrant(db: Knex, base: Base, domainId: string): Promise<TokenGrant> {
  const domain = await getDomain(db, domainId).catch(() => {
    throw authFailed();
  });
  if (!domain.enabled) throw authFailed();
  const roles = await effectiveRoles(db, base.userId, 'domain', domain.id);
  if (!roles.length) throw new Unauthorized(`User ${base.userId} has no access to domain ${domain.id}.`);
  return {
    ...base,
    projectId: null,
    projectDomainId: null,
    domainId: domain.id,
    roles: roles.map((r) => ({ id: r.id, name: r.name })),
  };
}
