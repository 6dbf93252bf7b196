import type Router from '@koa/router';
import type { AppContext, AppState, AuthContext, Ctx } from '../../common/context.js';
import { BadRequest } from '../../common/errors.js';
import { mount, policyDenied } from '../../common/http/route.js';
import type { Microversion } from '../../common/microversion.js';
import { isAdmin, memberRule, readerRule } from '../policy.js';
import { queryParam } from '../quotas/routes.js';
import { createSchema } from './schemas.js';
import {
  createServerGroup,
  deleteServerGroup,
  getServerGroup,
  listServerGroups,
  type GroupPolicy,
  type ServerGroup,
} from './service.js';
import { serverGroupView } from './view.js';

const mvOf = (ctx: Ctx): Microversion => ctx.state.microversion as Microversion;

/** Nova's parameter_types.non_negative_integer on a query parameter (every value of a repeated one). */
function nonNegative(ctx: Ctx, name: string): number | undefined {
  const raw = ctx.query[name];
  if (raw === undefined) return undefined;
  const values = Array.isArray(raw) ? raw : [raw];
  for (const v of values) {
    if (v === '')
      throw new BadRequest(`Invalid input for query parameters ${name}. Value: . '' is too short`);
    if (!/^[0-9]*$/.test(v))
      throw new BadRequest(
        `Invalid input for query parameters ${name}. Value: ${v}. '${v}' does not match '^[0-9]*$'`,
      );
  }
  return Number(values[values.length - 1]); // webob's request.GET[name]: the last one
}

/** Nova's PROJECT_READER_OR_ADMIN / PROJECT_MEMBER_OR_ADMIN against the group's project: 403 otherwise. */
function authorizeOn(ctx: Ctx, g: ServerGroup, action: string, write: boolean): void {
  const auth = ctx.state.auth as AuthContext;
  if (isAdmin(auth)) return;
  const ok =
    auth.projectId === g.projectId &&
    (!write || auth.roles.some((r) => r.name === 'member' || r.name === 'admin'));
  if (!ok) throw policyDenied(`os_compute_api:os-server-groups:${action}`);
}

/** /v2.1/os-server-groups (Nova's server_groups.py). */
export function mountServerGroups(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.1/os-server-groups',
    policy: readerRule('os-server-groups:index'),
    errors: [],
    handler: async (ctx) => {
      queryParam(ctx, ['all_projects', 'limit', 'offset']);
      const auth = ctx.state.auth as AuthContext;
      const limitParam = nonNegative(ctx, 'limit');
      const offset = nonNegative(ctx, 'offset') ?? 0;
      const maxLimit = ctx.deps.config.api.max_limit;
      const limit = Math.min(maxLimit, limitParam || maxLimit); // 0 or absent: max_limit, as Nova's limited()
      // as Nova: all_projects (whatever its value) widens the list for admins and is ignored for others
      const all = 'all_projects' in ctx.query && isAdmin(auth);
      const groups = await listServerGroups(ctx.deps.db, all ? null : (auth.projectId ?? ''), {
        offset,
        limit,
      });
      ctx.body = { server_groups: groups.map((g) => serverGroupView(g, mvOf(ctx))) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/os-server-groups/:id',
    policy: readerRule('os-server-groups:show'),
    errors: [404],
    handler: async (ctx) => {
      const g = await getServerGroup(ctx.deps.db, ctx.params.id);
      authorizeOn(ctx, g, 'show', false);
      ctx.body = { server_group: serverGroupView(g, mvOf(ctx)) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v2.1/os-server-groups',
    policy: memberRule('os-server-groups:create'),
    body: createSchema,
    errors: [],
    handler: async (ctx) => {
      const auth = ctx.state.auth as AuthContext;
      const mv = mvOf(ctx);
      const b = (
        ctx.state.body as {
          server_group: {
            name: string;
            policies?: GroupPolicy[];
            policy?: GroupPolicy;
            rules?: { max_server_per_host?: number | string };
          };
        }
      ).server_group;
      let policy: GroupPolicy;
      let rules: { max_server_per_host?: number } = {};
      if (mv.atLeast('2.64')) {
        policy = b.policy as GroupPolicy;
        const given = b.rules ?? {};
        if (policy !== 'anti-affinity' && Object.keys(given).length)
          throw new BadRequest('Only anti-affinity policy supports rules.');
        if (given.max_server_per_host !== undefined) {
          const n = Number(given.max_server_per_host);
          // the schema's minimum holds for numbers only: "0" must not pass either
          if (n < 1)
            throw new BadRequest(
              `Invalid input for field 'server_group/rules/max_server_per_host': ${JSON.stringify(given.max_server_per_host)} is less than the minimum of 1`,
            );
          rules = { max_server_per_host: n };
        }
      } else {
        policy = (b.policies as GroupPolicy[])[0];
      }
      const g = await createServerGroup(
        ctx.deps.db,
        ctx.deps.config,
        { projectId: auth.projectId ?? '', userId: auth.userId, name: b.name, policy, rules },
        ctx.deps.now(),
      );
      ctx.body = { server_group: serverGroupView(g, mv) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v2.1/os-server-groups/:id',
    policy: memberRule('os-server-groups:delete'),
    errors: [404],
    handler: async (ctx) => {
      const g = await getServerGroup(ctx.deps.db, ctx.params.id);
      authorizeOn(ctx, g, 'delete', true);
      await deleteServerGroup(ctx.deps.db, g.uuid);
      ctx.status = 204;
      ctx.body = null;
    },
  });
}
