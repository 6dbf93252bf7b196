import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount, type PolicyRule } from '../../common/http/route.js';
import { nullableString, type JsonSchema } from '../../common/validation.js';
import { listLinks, selfLink } from '../links.js';
import { isAdmin, policies } from '../policy.js';
import type { IdentityRuntime } from '../runtime.js';
import { userView } from '../users/routes.js';
import {
  addMember,
  checkMember,
  createGroup,
  deleteGroup,
  getGroup,
  listGroups,
  listMembers,
  removeMember,
  updateGroup,
  type Group,
} from './service.js';

const groupProps: JsonSchema = {
  name: { type: 'string', minLength: 1, maxLength: 64 },
  domain_id: { type: 'string', minLength: 1, maxLength: 64 },
  description: nullableString(65535),
};
const schema = (required: string[]): JsonSchema => ({
  type: 'object',
  properties: {
    group: { type: 'object', properties: groupProps, required, minProperties: 1, additionalProperties: true },
  },
  required: ['group'],
  additionalProperties: false,
});

const adminRule = (name: string): PolicyRule => ({ name: `identity:${name}`, check: isAdmin });
const groupPolicies = {
  list: adminRule('list_groups'),
  get: adminRule('get_group'),
  create: adminRule('create_group'),
  update: adminRule('update_group'),
  delete: adminRule('delete_group'),
  members: adminRule('list_users_in_group'),
  addMember: adminRule('add_user_to_group'),
  checkMember: adminRule('check_user_in_group'),
  removeMember: adminRule('remove_user_from_group'),
  userGroups: { name: 'identity:list_groups_for_user', check: policies.getUser.check } satisfies PolicyRule,
};

export function groupView(ctx: Ctx, g: Group): Record<string, unknown> {
  return {
    id: g.id,
    name: g.name,
    domain_id: g.domainId,
    description: g.description,
    links: selfLink(ctx, `groups/${g.id}`),
  };
}

export function groupRoutes(router: Router<AppState, AppContext>, rt: IdentityRuntime): void {
  mount(router, {
    method: 'get',
    path: '/v3/groups',
    policy: groupPolicies.list,
    errors: [],
    handler: async (ctx) => {
      const groups = await listGroups(ctx.deps.db, {
        name: ctx.query.name as string | undefined,
        domainId: ctx.query.domain_id as string | undefined,
      });
      ctx.body = { groups: groups.map((g) => groupView(ctx, g)), links: listLinks(ctx) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v3/groups',
    policy: groupPolicies.create,
    body: schema(['name']),
    errors: [404, 409],
    handler: async (ctx) => {
      const { group } = ctx.state.body as { group: { name: string } };
      ctx.status = 201;
      ctx.body = {
        group: groupView(
          ctx,
          await createGroup(ctx.deps.db, group, ctx.deps.config.identity.default_domain_id),
        ),
      };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/groups/:group_id',
    policy: groupPolicies.get,
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { group: groupView(ctx, await getGroup(ctx.deps.db, ctx.params.group_id)) };
    },
  });
  mount(router, {
    method: 'patch',
    path: '/v3/groups/:group_id',
    policy: groupPolicies.update,
    body: schema([]),
    errors: [404, 409],
    handler: async (ctx) => {
      const { group } = ctx.state.body as { group: Record<string, string> };
      ctx.body = { group: groupView(ctx, await updateGroup(ctx.deps.db, ctx.params.group_id, group)) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v3/groups/:group_id',
    policy: groupPolicies.delete,
    errors: [404],
    handler: async (ctx) => {
      await deleteGroup(ctx.deps.db, rt.revocations, ctx.params.group_id);
      ctx.status = 204;
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/groups/:group_id/users',
    policy: groupPolicies.members,
    errors: [404],
    handler: async (ctx) => {
      const users = await listMembers(ctx.deps.db, ctx.params.group_id);
      ctx.body = { users: users.map((u) => userView(ctx, u)), links: listLinks(ctx) };
    },
  });
  mount(router, {
    method: 'put',
    path: '/v3/groups/:group_id/users/:user_id',
    policy: groupPolicies.addMember,
    errors: [404],
    handler: async (ctx) => {
      await addMember(ctx.deps.db, ctx.params.group_id, ctx.params.user_id);
      ctx.status = 204;
    },
  });
  for (const method of ['head', 'get'] as const) {
    mount(router, {
      method,
      path: '/v3/groups/:group_id/users/:user_id',
      policy: groupPolicies.checkMember,
      errors: [404],
      handler: async (ctx) => {
        await checkMember(ctx.deps.db, ctx.params.group_id, ctx.params.user_id);
        ctx.status = 204;
      },
    });
  }
  mount(router, {
    method: 'delete',
    path: '/v3/groups/:group_id/users/:user_id',
    policy: groupPolicies.removeMember,
    errors: [404],
    handler: async (ctx) => {
      await removeMember(ctx.deps.db, rt.revocations, ctx.params.group_id, ctx.params.user_id);
      ctx.status = 204;
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/users/:user_id/groups',
    policy: groupPolicies.userGroups,
    errors: [404],
    handler: async (ctx) => {
      const groups = await listGroups(ctx.deps.db, { userId: ctx.params.user_id });
      ctx.body = { groups: groups.map((g) => groupView(ctx, g)), links: listLinks(ctx) };
    },
  });
}
