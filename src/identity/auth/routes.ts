import type Router from '@koa/router';
import type { AppContext, AppState, AuthContext, Ctx } from '../../common/context.js';
import { NotFound, Unauthorized } from '../../common/errors.js';
import { mount, policyDenied, type PolicyRule } from '../../common/http/route.js';
import type { JsonSchema } from '../../common/validation.js';
import { buildCatalog } from '../catalog/service.js';
import { domainView } from '../domains/routes.js';
import { listDomains } from '../domains/service.js';
import { listLinks } from '../links.js';
import { isAdmin, policies } from '../policy.js';
import { projectView } from '../projects/routes.js';
import { listProjects } from '../projects/service.js';
import { userTargetIds } from '../role-assignments/service.js';
import type { IdentityRuntime } from '../runtime.js';
import { identify, type AuthRequest } from './methods.js';
import { grantFor } from './scope.js';
import { tokenBody } from './view.js';

const named: JsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    domain: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } },
  },
};
const authSchema: JsonSchema = {
  type: 'object',
  properties: {
    auth: {
      type: 'object',
      properties: {
        identity: {
          type: 'object',
          properties: {
            methods: { type: 'array', items: { type: 'string' }, minItems: 1 },
            password: {
              type: 'object',
              properties: {
                user: {
                  ...named,
                  properties: { ...(named.properties as object), password: { type: 'string' } },
                },
              },
            },
            token: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
            application_credential: {
              type: 'object',
              properties: {
                id: { type: 'string' },
                name: { type: 'string' },
                secret: { type: 'string' },
                user: named,
              },
              required: ['secret'],
            },
          },
          required: ['methods'],
        },
        scope: {
          anyOf: [
            { type: 'string', enum: ['unscoped'] },
            { type: 'object', properties: { project: named, domain: named, system: { type: 'object' } } },
          ],
        },
      },
      required: ['identity'],
    },
  },
  required: ['auth'],
};

/** Validating or revoking someone else's token needs admin (Keystone's admin_or_token_subject). */
async function subjectToken(ctx: Ctx, rt: IdentityRuntime, rule: PolicyRule): Promise<AuthContext> {
  const subject = ctx.get('x-subject-token');
  if (!subject) throw new NotFound('Could not find token: (X-Subject-Token header missing).');
  let token: AuthContext;
  try {
    token = await rt.tokens.validate(subject);
  } catch (err) {
    if (err instanceof Unauthorized) throw new NotFound(`Could not find token: ${subject.slice(0, 16)}...`);
    throw err;
  }
  const caller = ctx.state.auth!;
  if (!isAdmin(caller) && caller.userId !== token.userId) throw policyDenied(rule.name);
  return token;
}

export function authRoutes(router: Router<AppState, AppContext>, rt: IdentityRuntime): void {
  mount(router, {
    method: 'post',
    path: '/v3/auth/tokens',
    auth: 'none',
    body: authSchema,
    errors: [404],
    handler: async (ctx) => {
      const { auth } = ctx.state.body as { auth: AuthRequest };
      const now = ctx.deps.now();
      const who = await identify(ctx.deps.db, rt, auth, now);
      const scope = auth.scope === 'unscoped' ? undefined : auth.scope;
      const grant = await grantFor(ctx.deps.db, who, scope, ctx.deps.config.token.allow_rescope_scoped_token);
      const token = await rt.tokens.issue(grant);
      ctx.status = 201;
      ctx.set('X-Subject-Token', token.token);
      ctx.body = { token: await tokenBody(ctx.deps.db, token, !('nocatalog' in ctx.query)) };
    },
  });
  // HEAD before GET: @koa/router also answers HEAD with a GET route.
  mount(router, {
    method: 'head',
    path: '/v3/auth/tokens',
    policy: policies.validateToken,
    errors: [404],
    handler: async (ctx) => {
      const token = await subjectToken(ctx, rt, policies.validateToken);
      ctx.set('X-Subject-Token', token.token);
      ctx.status = 200;
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/auth/tokens',
    policy: policies.validateToken,
    errors: [404],
    handler: async (ctx) => {
      const token = await subjectToken(ctx, rt, policies.validateToken);
      ctx.set('X-Subject-Token', token.token);
      ctx.body = { token: await tokenBody(ctx.deps.db, token, !('nocatalog' in ctx.query)) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v3/auth/tokens',
    policy: policies.revokeToken,
    errors: [404],
    handler: async (ctx) => {
      const token = await subjectToken(ctx, rt, policies.revokeToken);
      await rt.revocations.revoke({ audit_id: token.auditIds[0] });
      ctx.status = 204;
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/auth/catalog',
    policy: policies.authCatalog,
    errors: [403],
    handler: async (ctx) => {
      const auth = ctx.state.auth!;
      if (!auth.projectId && !auth.domainId) throw policyDenied(policies.authCatalog.name);
      ctx.body = { catalog: await buildCatalog(ctx.deps.db, auth.projectId), links: listLinks(ctx) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/auth/projects',
    policy: policies.authProjects,
    errors: [],
    handler: async (ctx) => {
      const ids = await userTargetIds(ctx.deps.db, ctx.state.auth!.userId, 'project');
      const projects = await listProjects(ctx.deps.db, { ids, enabled: true });
      ctx.body = { projects: projects.map((p) => projectView(ctx, p)), links: listLinks(ctx) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/auth/domains',
    policy: policies.authDomains,
    errors: [],
    handler: async (ctx) => {
      const ids = new Set(await userTargetIds(ctx.deps.db, ctx.state.auth!.userId, 'domain'));
      const domains = (await listDomains(ctx.deps.db, { enabled: true })).filter((d) => ids.has(d.id));
      ctx.body = { domains: domains.map((d) => domainView(ctx, d)), links: listLinks(ctx) };
    },
  });
}
