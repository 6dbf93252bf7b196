import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { nullableString, type JsonSchema } from '../../common/validation.js';
import { boolQuery, listLinks, selfLink } from '../links.js';
import { policies } from '../policy.js';
import type { IdentityRuntime } from '../runtime.js';
import {
  changePassword,
  createUser,
  deleteUser,
  getUser,
  listUsers,
  updateUser,
  type User,
} from './service.js';

const userProps: JsonSchema = {
  name: { type: 'string', minLength: 1, maxLength: 255 },
  domain_id: { type: 'string', minLength: 1, maxLength: 64 },
  enabled: { type: 'boolean' },
  password: { type: ['string', 'null'], maxLength: 4096 },
  default_project_id: { type: ['string', 'null'], maxLength: 64 },
  description: nullableString(65535),
  email: { type: ['string', 'null'] },
  options: { type: 'object' },
};
const createSchema: JsonSchema = {
  type: 'object',
  properties: {
    user: { type: 'object', properties: userProps, required: ['name'], additionalProperties: true },
  },
  required: ['user'],
  additionalProperties: false,
};
const updateSchema: JsonSchema = {
  type: 'object',
  properties: {
    user: { type: 'object', properties: userProps, minProperties: 1, additionalProperties: true },
  },
  required: ['user'],
  additionalProperties: false,
};
const passwordSchema: JsonSchema = {
  type: 'object',
  properties: {
    user: {
      type: 'object',
      properties: {
        original_password: { type: 'string', maxLength: 4096 },
        password: { type: 'string', minLength: 1, maxLength: 4096 },
      },
      required: ['original_password', 'password'],
      additionalProperties: false,
    },
  },
  required: ['user'],
  additionalProperties: false,
};

export function userView(ctx: Ctx, u: User): Record<string, unknown> {
  const view: Record<string, unknown> = {
    ...u.extra,
    id: u.id,
    name: u.name,
    domain_id: u.domainId,
    enabled: u.enabled,
    password_expires_at: null,
    options: {},
    links: selfLink(ctx, `users/${u.id}`),
  };
  if (u.defaultProjectId) view.default_project_id = u.defaultProjectId;
  if (u.description !== null) view.description = u.description;
  return view;
}

export function userRoutes(router: Router<AppState, AppContext>, rt: IdentityRuntime): void {
  const defaultDomain = (ctx: Ctx) => ctx.deps.config.identity.default_domain_id;
  mount(router, {
    method: 'get',
    path: '/v3/users',
    policy: policies.listUsers,
    errors: [],
    handler: async (ctx) => {
      const users = await listUsers(ctx.deps.db, {
        name: ctx.query.name as string | undefined,
        domainId: ctx.query.domain_id as string | undefined,
        enabled: boolQuery(ctx.query.enabled),
      });
      ctx.body = { users: users.map((u) => userView(ctx, u)), links: listLinks(ctx) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v3/users',
    policy: policies.createUser,
    body: createSchema,
    errors: [404, 409],
    handler: async (ctx) => {
      const { user } = ctx.state.body as { user: { name: string } };
      const created = await createUser(ctx.deps.db, rt.passwords, user, defaultDomain(ctx), ctx.deps.now());
      ctx.status = 201;
      ctx.body = { user: userView(ctx, created) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/users/:user_id',
    policy: policies.getUser,
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { user: userView(ctx, await getUser(ctx.deps.db, ctx.params.user_id)) };
    },
  });
  mount(router, {
    method: 'patch',
    path: '/v3/users/:user_id',
    policy: policies.updateUser,
    body: updateSchema,
    errors: [404, 409],
    handler: async (ctx) => {
      const { user } = ctx.state.body as { user: Record<string, unknown> };
      const updated = await updateUser(
        ctx.deps.db,
        rt.passwords,
        rt.revocations,
        ctx.params.user_id,
        user,
        ctx.deps.now(),
      );
      ctx.body = { user: userView(ctx, updated) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v3/users/:user_id/password',
    policy: policies.changePassword,
    body: passwordSchema,
    errors: [404],
    handler: async (ctx) => {
      const { user } = ctx.state.body as { user: { original_password: string; password: string } };
      await changePassword(
        ctx.deps.db,
        rt.passwords,
        rt.revocations,
        ctx.params.user_id,
        user.original_password,
        user.password,
        ctx.deps.now(),
      );
      ctx.status = 204;
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v3/users/:user_id',
    policy: policies.deleteUser,
    errors: [404],
    handler: async (ctx) => {
      await deleteUser(ctx.deps.db, rt.revocations, ctx.params.user_id);
      ctx.status = 204;
    },
  });
}
