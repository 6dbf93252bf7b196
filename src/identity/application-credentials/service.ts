import type { Knex } from 'knex';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../common/errors.js';
import type { AuthContext } from '../../common/context.js';
import { newHexId, newSecret } from '../../common/ids.js';
import { fromJson, isDuplicateKey, toBool, toJson } from '../../db/columns.js';
import { parseIsoMicros } from '../../common/time.js';
import type { PasswordHasher } from '../passwords.js';
import { effectiveRoles } from '../role-assignments/service.js';
import type { RevocationList } from '../tokens/revocation.js';

export interface ApplicationCredential {
  id: string;
  name: string;
  userId: string;
  projectId: string;
  description: string | null;
  /** Epoch microseconds, or null for no expiry. */
  expiresAtUs: number | null;
  unrestricted: boolean;
  roles: { id: string; name: string }[];
  secretHash: string;
}

export interface ApplicationCredentialInput {
  name: string;
  description?: string | null;
  secret?: string | null;
  expires_at?: string | null;
  roles?: { id?: string; name?: string }[];
  unrestricted?: boolean;
}

export function appCredFromRow(r: Record<string, unknown>): ApplicationCredential {
  return {
    id: String(r.id),
    name: String(r.name),
    userId: String(r.user_id),
    projectId: String(r.project_id),
    description: (r.description as string | null) ?? null,
    expiresAtUs: r.expires_at === null || r.expires_at === undefined ? null : Number(r.expires_at),
    unrestricted: toBool(r.unrestricted),
    roles: fromJson(r.roles, []),
    secretHash: String(r.secret_hash),
  };
}

/**
 * Creates an application credential for the caller's own project, with a subset of the roles of the
 * caller's token. Returns the secret once; only its bcrypt hash is stored.
 */
export async function createApplicationCredential(
  db: Knex,
  passwords: PasswordHasher,
  auth: AuthContext,
  userId: string,
  input: ApplicationCredentialInput,
  now: number,
): Promise<{ credential: ApplicationCredential; secret: string }> {
  if (auth.applicationCredentialId && auth.applicationCredentialRestricted) {
    throw new Forbidden(
      'Using method application_credential is not allowed for managing additional application credentials.',
    );
  }
  if (!auth.projectId) throw new BadRequest('An application credential needs a project-scoped token.');
  let expiresAtUs: number | null = null;
  if (input.expires_at) {
    expiresAtUs = parseIsoMicros(input.expires_at);
    if (expiresAtUs === null)
      throw new BadRequest(
        `Invalid input for field 'expires_at': ${JSON.stringify(input.expires_at)} is not a valid date-time`,
      );
    if (expiresAtUs <= now * 1000)
      throw new BadRequest('The expiration date of an application credential must be in the future.');
  }
  // As Keystone: the roles default to the token's, and each must be one the user holds on the project now
  // (a role granted after the token was issued counts).
  const heldNow = await effectiveRoles(db, userId, 'project', auth.projectId);
  const roles = (input.roles ?? auth.roles).map((wanted) => {
    const held = heldNow.find((r) => (wanted.id ? r.id === wanted.id : r.name === wanted.name));
    if (!held)
      throw new NotFound(
        `Could not find role assignment with role: ${wanted.id ?? wanted.name}, user or group: ${userId}, project, domain, or system: ${auth.projectId}.`,
      );
    return { id: held.id, name: held.name };
  });
  const secret = input.secret || newSecret(48);
  const row = {
    id: newHexId(),
    name: input.name,
    user_id: userId,
    project_id: auth.projectId,
    secret_hash: await passwords.hash(secret),
    description: input.description ?? null,
    expires_at: expiresAtUs,
    unrestricted: input.unrestricted ?? false,
    roles: toJson(roles.map((r) => ({ id: r.id, name: r.name }))),
    created_at: now,
  };
  try {
    await db('application_credentials').insert(row);
  } catch (err) {
    if (isDuplicateKey(err))
      throw new Conflict(
        `Conflict occurred attempting to store application_credential - Duplicate entry found with name ${input.name}.`,
      );
    throw err;
  }
  return { credential: appCredFromRow(row), secret };
}

export async function getApplicationCredential(
  db: Knex,
  userId: string,
  id: string,
): Promise<ApplicationCredential> {
  const row = await db('application_credentials').where({ id, user_id: userId }).first();
  if (!row) throw new NotFound(`Could not find Application Credential: ${id}.`);
  return appCredFromRow(row);
}

export async function listApplicationCredentials(
  db: Knex,
  userId: string,
  name?: string,
): Promise<ApplicationCredential[]> {
  if (!(await db('users').where({ id: userId }).first()))
    throw new NotFound(`Could not find user: ${userId}.`);
  const q = db('application_credentials').where({ user_id: userId }).orderBy('name');
  if (name !== undefined) q.where({ name });
  return (await q).map(appCredFromRow);
}

export async function deleteApplicationCredential(
  db: Knex,
  revocations: RevocationList,
  auth: AuthContext,
  userId: string,
  id: string,
): Promise<void> {
  if (auth.applicationCredentialId && auth.applicationCredentialRestricted) {
    throw new Forbidden(
      'Using method application_credential is not allowed for managing additional application credentials.',
    );
  }
  await db.transaction(async (trx) => {
    await getApplicationCredential(trx, userId, id);
    await trx('application_credentials').where({ id }).delete();
    await revocations.revoke({ application_credential_id: id }, trx);
  });
}
