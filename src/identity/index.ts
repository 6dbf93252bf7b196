import Router from '@koa/router';
import type { AppContext, AppDeps, AppState } from '../common/context.js';
import { mount } from '../common/http/route.js';
import { applicationCredentialRoutes } from './application-credentials/routes.js';
import { authRoutes } from './auth/routes.js';
import { catalogRoutes } from './catalog/routes.js';
import { domainRoutes } from './domains/routes.js';
import { groupRoutes } from './groups/routes.js';
import { PasswordHasher } from './passwords.js';
import { projectRoutes } from './projects/routes.js';
import { roleAssignmentRoutes } from './role-assignments/routes.js';
import { roleRoutes } from './roles/routes.js';
import type { IdentityRuntime } from './runtime.js';
import { KeyRepository } from './tokens/keys.js';
import { TokenProvider } from './tokens/provider.js';
import { RevocationList } from './tokens/revocation.js';
import { userRoutes } from './users/routes.js';

export const IDENTITY_PREFIX = '/identity';

/** Keystone's v3 version entry; `base` is the public URL of the identity service root. */
export function identityVersion(base: string): Record<string, unknown> {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: '2020-04-07T00:00:00Z',
    links: [{ rel: 'self', href: `${base}/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  };
}

/** The token machinery, built once per API process from the configuration. */
export function createIdentityRuntime(deps: Pick<AppDeps, 'config' | 'db' | 'now'>): IdentityRuntime {
  const { config, db, now } = deps;
  const keys = new KeyRepository(config.token.key_repository);
  const revocations = new RevocationList(db, now, config.token.expiration * 1000);
  const tokens = new TokenProvider(keys, revocations, now, config.token.expiration);
  return { keys, tokens, revocations, passwords: new PasswordHasher(config.identity.password_hash_rounds) };
}

/** Keystone v3 under /identity. */
export function identityRouter(rt: IdentityRuntime): Router<AppState, AppContext> {
  const router = new Router<AppState, AppContext>({ prefix: IDENTITY_PREFIX });
  const base = (ctx: { deps: AppDeps }) => `${ctx.deps.config.api.public_url}${IDENTITY_PREFIX}`;
  mount(router, {
    method: 'get',
    path: '/',
    auth: 'none',
    errors: [],
    handler: (ctx) => {
      ctx.status = 300;
      ctx.body = { versions: { values: [identityVersion(base(ctx))] } };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3',
    auth: 'none',
    errors: [],
    handler: (ctx) => {
      ctx.body = { version: identityVersion(base(ctx)) };
    },
  });
  authRoutes(router, rt);
  domainRoutes(router, rt);
  projectRoutes(router, rt);
  userRoutes(router, rt);
  groupRoutes(router, rt);
  roleRoutes(router);
  roleAssignmentRoutes(router, rt);
  applicationCredentialRoutes(router, rt);
  catalogRoutes(router);
  return router;
}
