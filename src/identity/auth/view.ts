import type { Knex } from 'knex';
import type { AuthContext } from '../../common/context.js';
import { isoMicrosZ } from '../../common/time.js';
import { buildCatalog } from '../catalog/service.js';

/**
 * The token body of POST and GET /v3/auth/tokens, built from the token's own claims plus names: the same
 * token always renders the same body (Tempest compares the two).
 */
export async function tokenBody(
  db: Knex,
  t: AuthContext,
  withCatalog: boolean,
): Promise<Record<string, unknown>> {
  const [user, userDomain] = await Promise.all([
    db('users').where({ id: t.userId }).first(),
    db('domains').where({ id: t.userDomainId }).first(),
  ]);
  const body: Record<string, unknown> = {
    methods: t.methods,
    user: {
      id: t.userId,
      name: user?.name ?? null,
      domain: { id: t.userDomainId, name: userDomain?.name ?? null },
      password_expires_at: null,
    },
    audit_ids: t.auditIds,
    expires_at: isoMicrosZ(t.expiresAtMs),
    issued_at: isoMicrosZ(t.issuedAtMs),
  };
  if (t.projectId) {
    const project = await db('projects').where({ id: t.projectId }).first();
    const pdom = await db('domains').where({ id: t.projectDomainId }).first();
    body.project = {
      id: t.projectId,
      name: project?.name ?? null,
      domain: { id: t.projectDomainId, name: pdom?.name ?? null },
    };
    body.is_domain = false;
  }
  if (t.domainId) {
    const dom = await db('domains').where({ id: t.domainId }).first();
    body.domain = { id: t.domainId, name: dom?.name ?? null };
  }
  if (t.projectId || t.domainId) {
    body.roles = t.roles.map((r) => ({ id: r.id, name: r.name }));
    if (withCatalog) body.catalog = await buildCatalog(db, t.projectId);
  }
  if (t.applicationCredentialId) {
    const ac = await db('application_credentials').where({ id: t.applicationCredentialId }).first();
    body.application_credential = {
      id: t.applicationCredentialId,
      name: ac?.name ?? null,
      restricted: t.applicationCredentialRestricted,
    };
  }
  return body;
}
