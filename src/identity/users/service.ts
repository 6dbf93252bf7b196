import type { Knex } from 'knex';
import { BadRequest, Conflict, NotFound, Unauthorized } from '../../common/errors.js';
import { newHexId } from '../../common/ids.js';
import { fromJson, isDuplicateKey, toBool, toJson } from '../../db/columns.js';
import { getDomain } from '../domains/service.js';
import type { PasswordHasher } from '../passwords.js';
import type { RevocationList } from '../tokens/revocation.js';

export interface User {
  id: string;
  name: string;
  domainId: string;
  enabled: boolean;
  defaultProjectId: string | null;
  description: string | null;
  passwordHash: string | null;
  extra: Record<string, unknown>;
}

export interface UserInput {
  name?: string;
  domain_id?: string;
  enabled?: boolean;
  password?: string | null;
  default_project_id?: string | null;
  description?: string | null;
  [extra: string]: unknown;
}

const STANDARD = new Set([
  'id',
  'name',
  'domain_id',
  'enabled',
  'password',
  'default_project_id',
  'description',
  'options',
  'links',
  'federated',
]);
const extraOf = (input: UserInput) =>
  Object.fromEntries(Object.entries(input).filter(([k]) => !STANDARD.has(k)));

export function userFromRow(r: Record<string, unknown>): User {
  return {
    id: String(r.id),
    name: String(r.name),
    domainId: String(r.domain_id),
    enabled: toBool(r.enabled),
    defaultProjectId: (r.default_project_id as string | null) ?? null,
    description: (r.description as string | null) ?? null,
    passwordHash: (r.password_hash as string | null) ?? null,
    extra: fromJson(r.extra, {}),
  };
}

export async function getUser(db: Knex, id: string): Promise<User> {
  const row = await db('users').where({ id }).first();
  if (!row) throw new NotFound(`Could not find user: ${id}.`);
  return userFromRow(row);
}

export async function findUserByName(db: Knex, name: string, domainId: string): Promise<User> {
  const row = await db('users').where({ name, domain_id: domainId }).first();
  if (!row) throw new NotFound(`Could not find user: ${name}.`);
  return userFromRow(row);
}

export async function listUsers(
  db: Knex,
  f: { name?: string; domainId?: string; enabled?: boolean },
): Promise<User[]> {
  const q = db('users').orderBy('name');
  if (f.name !== undefined) q.where('name', f.name);
  if (f.domainId !== undefined) q.where('domain_id', f.domainId);
  if (f.enabled !== undefined) q.where('enabled', f.enabled);
  return (await q).map(userFromRow);
}

export async function createUser(
  db: Knex,
  passwords: PasswordHasher,
  input: UserInput,
  defaultDomainId: string,
  now: number,
): Promise<User> {
  const domainId = input.domain_id ?? defaultDomainId;
  // Hash before the transaction: bcrypt is slow and must not hold SQLite's single connection.
  const passwordHash = input.password ? await passwords.hash(input.password) : null;
  return db.transaction(async (trx) => {
    await getDomain(trx, domainId); // a missing domain is a 404, as Keystone answers
    if (input.default_project_id) await requireProject(trx, input.default_project_id);
    const row = {
      id: newHexId(),
      name: input.name as string,
      domain_id: domainId,
      enabled: input.enabled ?? true,
      password_hash: passwordHash,
      default_project_id: input.default_project_id ?? null,
      description: input.description ?? null,
      extra: toJson(extraOf(input)),
      created_at: now,
      updated_at: now,
    };
    try {
      await trx('users').insert(row);
    } catch (err) {
      if (isDuplicateKey(err)) throw duplicate(row.name);
      throw err;
    }
    return userFromRow(row);
  });
}

export async function updateUser(
  db: Knex,
  passwords: PasswordHasher,
  revocations: RevocationList,
  id: string,
  input: UserInput,
  now: number,
): Promise<User> {
  const passwordHash = input.password ? await passwords.hash(input.password) : undefined;
  return db.transaction(async (trx) => {
    const current = await getUser(trx, id);
    if (input.domain_id !== undefined && input.domain_id !== current.domainId) {
      throw new BadRequest('Cannot change the domain of a user.');
    }
    if (input.default_project_id) await requireProject(trx, input.default_project_id);
    const changes: Record<string, unknown> = {
      updated_at: now,
      extra: toJson({ ...current.extra, ...extraOf(input) }),
    };
    if (input.name !== undefined) changes.name = input.name;
    if (input.enabled !== undefined) changes.enabled = input.enabled;
    if (input.description !== undefined) changes.description = input.description;
    if (input.default_project_id !== undefined) changes.default_project_id = input.default_project_id;
    if (input.password !== undefined) changes.password_hash = passwordHash ?? null;
    try {
      await trx('users').where({ id }).update(changes);
    } catch (err) {
      if (isDuplicateKey(err)) throw duplicate(String(input.name));
      throw err;
    }
    // A disabled user, or one whose password changed, loses every token issued so far.
    if ((input.enabled === false && current.enabled) || input.password !== undefined) {
      await revocations.revoke({ user_id: id }, trx);
    }
    return getUser(trx, id);
  });
}

export async function changePassword(
  db: Knex,
  passwords: PasswordHasher,
  revocations: RevocationList,
  id: string,
  original: string,
  replacement: string,
  now: number,
): Promise<void> {
  const user = await getUser(db, id);
  if (!(await passwords.verify(original, user.passwordHash))) {
    throw new Unauthorized('The request you have made requires authentication.');
  }
  const hash = await passwords.hash(replacement);
  await db.transaction(async (trx) => {
    await trx('users').where({ id }).update({ password_hash: hash, updated_at: now });
    await revocations.revoke({ user_id: id }, trx);
  });
}

export async function deleteUser(db: Knex, revocations: RevocationList, id: string): Promise<void> {
  await db.transaction(async (trx) => {
    await getUser(trx, id);
    await trx('role_assignments').where({ actor_id: id }).delete();
    await trx('application_credentials').where({ user_id: id }).delete();
    await trx('users').where({ id }).delete();
    await revocations.revoke({ user_id: id }, trx);
  });
}

async function requireProject(db: Knex, projectId: string): Promise<void> {
  if (!(await db('projects').where({ id: projectId }).first()))
    throw new NotFound(`Could not find project: ${projectId}.`);
}

function duplicate(name: string): Conflict {
  return new Conflict(
    `Conflict occurred attempting to store user - Duplicate entry found with name ${name} at domain ID.`,
  );
}
