import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { nullableString, type JsonSchema } from '../../common/validation.js';
import { listLinks, selfLink } from '../links.js';
import { policies } from '../policy.js';
import {
  createImpliedRole,
  createRole,
  deleteImpliedRole,
  deleteRole,
  getImpliedRole,
  getRole,
  listImpliedRoles,
  listRoles,
  listRolesImpliedBy,
  updateRole,
  type Role,
} from './service.js';

const roleProps: JsonSchema = {
  name: { type: 'string', minLength: 1, maxLength: 255 },
  description: nullableString(255),
  domain_id: { type: ['string', 'null'] },
  options: { type: 'object' },
};
const schema = (required: string[]): JsonSchema => ({
  type: 'object',
  properties: {
    role: { type: 'object', properties: roleProps, required, minProperties: 1, additionalProperties: true },
  },
  required: ['role'],
  additionalProperties: false,
});

export function roleView(ctx: Ctx, r: Role): Record<string, unknown> {
  return {
    ...r.extra,
    id: r.id,
    name: r.name,
    domain_id: r.domainId,
    description: r.description,
    options: {},
    links: selfLink(ctx, `roles/${r.id}`),
  };
}

const roleRef = (ctx: Ctx, r: Role) => ({ id: r.id, name: r.name, links: selfLink(ctx, `roles/${r.id}`) });

/** One inference rule, as Keystone renders PUT/GET /v3/roles/{prior}/implies/{implied}. */
const ruleBody = (ctx: Ctx, prior: Role, implied: Role) => ({
  role_inference: { prior_role: roleRef(ctx, prior), implies: roleRef(ctx, implied) },
  links: selfLink(ctx, `roles/${prior.id}/implies/${implied.id}`),
});

export function roleRoutes(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v3/roles',
    policy: policies.listRoles,
    errors: [],
    handler: async (ctx) => {
      const roles = await listRoles(ctx.deps.db, {
        name: ctx.query.name as string | undefined,
        domainId: ctx.query.domain_id as string | undefined,
      });
      ctx.body = { roles: roles.map((r) => roleView(ctx, r)), links: listLinks(ctx) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v3/roles',
    policy: policies.createRole,
    body: schema(['name']),
    errors: [404, 409],
    handler: async (ctx) => {
      const { role } = ctx.state.body as { role: { name: string } };
      ctx.status = 201;
      ctx.body = { role: roleView(ctx, await createRole(ctx.deps.db, role, ctx.deps.now())) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/roles/:role_id',
    policy: policies.getRole,
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { role: roleView(ctx, await getRole(ctx.deps.db, ctx.params.role_id)) };
    },
  });
  mount(router, {
    method: 'patch',
    path: '/v3/roles/:role_id',
    policy: policies.updateRole,
    body: schema([]),
    errors: [404, 409],
    handler: async (ctx) => {
      const { role } = ctx.state.body as { role: Record<string, unknown> };
      ctx.body = { role: roleView(ctx, await updateRole(ctx.deps.db, ctx.params.role_id, role)) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v3/roles/:role_id',
    policy: policies.deleteRole,
    errors: [404],
    handler: async (ctx) => {
      await deleteRole(ctx.deps.db, ctx.params.role_id);
      ctx.status = 204;
    },
  });
  const rule = '/v3/roles/:prior_role_id/implies/:implied_role_id';
  mount(router, {
    method: 'get',
    path: '/v3/roles/:prior_role_id/implies',
    policy: policies.listImpliedRoles,
    errors: [404],
    handler: async (ctx) => {
      const { prior, implies } = await listRolesImpliedBy(ctx.deps.db, ctx.params.prior_role_id);
      ctx.body = {
        role_inference: { prior_role: roleRef(ctx, prior), implies: implies.map((i) => roleRef(ctx, i)) },
        links: selfLink(ctx, `roles/${prior.id}/implies`),
      };
    },
  });
  mount(router, {
    method: 'put',
    path: rule,
    policy: policies.createImpliedRole,
    errors: [403, 404],
    handler: async (ctx) => {
      const { prior, implied } = await createImpliedRole(
        ctx.deps.db,
        ctx.params.prior_role_id,
        ctx.params.implied_role_id,
      );
      ctx.status = 201;
      ctx.body = ruleBody(ctx, prior, implied);
    },
  });
  // HEAD before GET: @koa/router also answers HEAD with a GET route. Keystone answers the check with 204.
  mount(router, {
    method: 'head',
    path: rule,
    policy: policies.checkImpliedRole,
    errors: [404],
    handler: async (ctx) => {
      await getImpliedRole(ctx.deps.db, ctx.params.prior_role_id, ctx.params.implied_role_id);
      ctx.status = 204;
    },
  });
  mount(router, {
    method: 'get',
    path: rule,
    policy: policies.getImpliedRole,
    errors: [404],
    handler: async (ctx) => {
      const { prior, implied } = await getImpliedRole(
        ctx.deps.db,
        ctx.params.prior_role_id,
        ctx.params.implied_role_id,
      );
      ctx.body = ruleBody(ctx, prior, implied);
    },
  });
  mount(router, {
    method: 'delete',
    path: rule,
    policy: policies.deleteImpliedRole,
    errors: [404],
    handler: async (ctx) => {
      await deleteImpliedRole(ctx.deps.db, ctx.params.prior_role_id, ctx.params.implied_role_id);
      ctx.status = 204;
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/role_inferences',
    policy: policies.listRoleInferenceRules,
    errors: [],
    handler: async (ctx) => {
      const rules = await listImpliedRoles(ctx.deps.db);
      ctx.body = {
        role_inferences: rules.map((r) => ({
          prior_role: roleRef(ctx, r.prior),
          implies: r.implies.map((i) => roleRef(ctx, i)),
        })),
        links: listLinks(ctx),
      };
    },
  });
}
