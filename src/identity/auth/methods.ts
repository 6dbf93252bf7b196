import type { Knex } from 'knex';
import type { AuthContext } from '../../common/context.js';
import { BadRequest, NotFound, Unauthorized } from '../../common/errors.js';
import { appCredFromRow, type ApplicationCredential } from '../application-credentials/service.js';
import { findDomainByName, getDomain } from '../domains/service.js';
import type { IdentityRuntime } from '../runtime.js';
import { findUserByName, getUser, type User } from '../users/service.js';

export interface AuthRequest {
  identity: {
    methods: string[];
    password?: {
      user: { id?: string; name?: string; password?: string; domain?: { id?: string; name?: string } };
    };
    token?: { id: string };
    application_credential?: {
      id?: string;
      name?: string;
      secret: string;
      user?: { id?: string; name?: string; domain?: { id?: string; name?: string } };
    };
  };
  scope?: AuthScope | 'unscoped';
}

export interface AuthScope {
  project?: { id?: string; name?: string; domain?: { id?: string; name?: string } };
  domain?: { id?: string; name?: string };
  system?: unknown;
}

/** Who the identity methods proved the caller to be, and what each method brings along. */
export interface Identified {
  user: User;
  methods: string[];
  /** The token presented with the token method: its scope is the default, its expiry is kept. */
  parentToken?: AuthContext;
  appCred?: ApplicationCredential;
}

/** Keystone answers every failed authentication with the same 401, to leak nothing. */
export const authFailed = (): Unauthorized =>
  new Unauthorized('The request you have made requires authentication.');

export async function identify(
  db: Knex,
  rt: IdentityRuntime,
  req: AuthRequest,
  now: number,
): Promise<Identified> {
  const methods = req.identity.methods;
  const steps: Identified[] = [];
  for (const method of methods) {
    let step: Identified;
    switch (method) {
      case 'password':
        step = await byPassword(db, rt, req);
        break;
      case 'token':
        step = await byToken(db, rt, req);
        break;
      case 'application_credential':
        step = await byApplicationCredential(db, rt, req, now);
        break;
      default:
        throw new Unauthorized('Attempted to authenticate with an unsupported method.');
    }
    // Several methods (e.g. password + token) must all prove the same user.
    if (steps.length && steps[0].user.id !== step.user.id) throw authFailed();
    steps.push(step);
  }
  const result: Identified | undefined = steps[0] && {
    user: steps[0].user,
    methods,
    parentToken: steps.find((s) => s.parentToken)?.parentToken,
    appCred: steps.find((s) => s.appCred)?.appCred,
  };
  if (!result) throw new BadRequest("Invalid input for field 'identity/methods': [] is too short");
  result.methods = [...new Set([...(result.parentToken?.methods ?? []), ...methods])];
  if (!result.user.enabled) throw authFailed();
  const domain = await getDomain(db, result.user.domainId).catch(() => null);
  if (!domain?.enabled) throw authFailed();
  return result;
}

/** Finds a user by id, or by name within a domain given by id or name; any miss is a 401. */
export async function resolveUser(
  db: Knex,
  ref: { id?: string; name?: string; domain?: { id?: string; name?: string } },
): Promise<User> {
  try {
    if (ref.id) return await getUser(db, ref.id);
    if (!ref.name) throw new BadRequest('Expecting to find id or name in user.');
    if (!ref.domain || (!ref.domain.id && !ref.domain.name))
      throw new BadRequest('Expecting to find domain in user.');
    const domainId = ref.domain.id ?? (await findDomainByName(db, ref.domain.name as string)).id;
    return await findUserByName(db, ref.name, domainId);
  } catch (err) {
    if (err instanceof NotFound) throw authFailed();
    throw err;
  }
}

async function byPassword(db: Knex, rt: IdentityRuntime, req: AuthRequest): Promise<Identified> {
  const section = req.identity.password;
  if (!section?.user)
    throw new BadRequest("Invalid input for field 'identity/password': 'user' is a required property");
  const user = await resolveUser(db, section.user);
  if (!(await rt.passwords.verify(section.user.password ?? '', user.passwordHash))) throw authFailed();
  return { user, methods: ['password'] };
}

async function byToken(db: Knex, rt: IdentityRuntime, req: AuthRequest): Promise<Identified> {
  const id = req.identity.token?.id;
  if (!id) throw new BadRequest("Invalid input for field 'identity/token': 'id' is a required property");
  const parent = await rt.tokens.validate(id);
  if (parent.applicationCredentialId)
    throw new Unauthorized('Application credential tokens cannot be rescoped.');
  const user = await getUser(db, parent.userId).catch(() => {
    throw authFailed();
  });
  return { user, methods: ['token'], parentToken: parent };
}

async function byApplicationCredential(
  db: Knex,
  rt: IdentityRuntime,
  req: AuthRequest,
  now: number,
): Promise<Identified> {
  const section = req.identity.application_credential;
  if (!section?.secret)
    throw new BadRequest(
      "Invalid input for field 'identity/application_credential': 'secret' is a required property",
    );
  let row: Record<string, unknown> | undefined;
  if (section.id) {
    row = await db('application_credentials').where({ id: section.id }).first();
  } else if (section.name && section.user) {
    const owner = await resolveUser(db, section.user);
    row = await db('application_credentials').where({ name: section.name, user_id: owner.id }).first();
  } else {
    throw new BadRequest('Expecting to find an application credential id, or a name and a user.');
  }
  if (!row) throw authFailed();
  const appCred = appCredFromRow(row);
  if (appCred.expiresAtUs !== null && appCred.expiresAtUs <= now * 1000) throw authFailed();
  if (!(await rt.passwords.verify(section.secret, appCred.secretHash))) throw authFailed();
  const user = await getUser(db, appCred.userId).catch(() => {
    throw authFailed();
  });
  return { user, methods: ['application_credential'], appCred };
}
