import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { createBodies, parseAttrs, resourceBody } from '../common/attrs.js';
import { callerOf, enforceWrite, neutronRule, projectForCreate } from '../common/auth.js';
import {
  listResponse,
  narrow,
  parseListRequest,
  selectFields,
  showFields,
  type ListSpec,
} from '../common/list.js';
import { checkRevision, ifMatchRevision } from '../common/standard-attrs.js';
import { mountTagRoutes } from '../common/tags.js';
import { groupCreateAttrs, groupUpdateAttrs, requireAttrs, ruleCreateAttrs } from './schemas.js';
import {
  createGroups,
  createRules,
  deleteGroup,
  deleteRule,
  ensureDefaultGroup,
  getVisibleGroup,
  getVisibleRule,
  groupNotFound,
  groupViews,
  ruleNotFound,
  ruleViews,
  RULES,
  updateGroup,
  visibleGroups,
  visibleRules,
  type GroupCreate,
  type RuleInput,
} from './service.js';
import type { GroupRow, RuleRow } from './view.js';

const groupSpec: ListSpec = {
  collection: 'security_groups',
  sortKeys: [
    'id',
    'name',
    'project_id',
    'tenant_id',
    'description',
    'stateful',
    'created_at',
    'updated_at',
    'revision_number',
  ],
  notFound: groupNotFound,
};

const ruleSpec: ListSpec = {
  collection: 'security_group_rules',
  sortKeys: [
    'id',
    'security_group_id',
    'remote_group_id',
    'direction',
    'protocol',
    'port_range_min',
    'port_range_max',
    'ethertype',
    'remote_ip_prefix',
    'project_id',
    'tenant_id',
    'created_at',
    'updated_at',
    'revision_number',
  ],
  notFound: ruleNotFound,
};

const anyBody = { type: 'object' };

async function showGroup(ctx: Ctx, id: string): Promise<Record<string, unknown>> {
  const row = await getVisibleGroup(ctx.deps.db, callerOf(ctx), id);
  return (await groupViews(ctx.deps.db, [row]))[0];
}

async function showRule(ctx: Ctx, id: string): Promise<Record<string, unknown>> {
  const row = await getVisibleRule(ctx.deps.db, callerOf(ctx), id);
  return (await ruleViews(ctx.deps.db, [row]))[0];
}

/**
 * As Neutron's get_security_groups / get_security_group_rules: listing creates the default group of the project
 * the list is about (the project_id filter, else the caller's), unless a non-admin asks about another project.
 */
async function ensureDefaultForList(ctx: Ctx): Promise<void> {
  const caller = callerOf(ctx);
  const q = new URLSearchParams(ctx.querystring);
  const projectId = q.get('project_id') || q.get('tenant_id') || caller.projectId;
  if (!projectId || (projectId !== caller.projectId && !caller.isAdmin)) return;
  await ensureDefaultGroup(ctx.deps.db, projectId, ctx.deps.now());
}

/** Mounts /v2.0/security-groups and /v2.0/security-group-rules (and the groups' tags). */
export function mountSecurityGroups(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.0/security-groups',
    policy: neutronRule('get_security_group'),
    errors: [404],
    handler: async (ctx) => {
      await ensureDefaultForList(ctx);
      const caller = callerOf(ctx);
      const req = parseListRequest(ctx, groupSpec);
      const q = visibleGroups(ctx.deps.db, caller);
      narrow(q, req, { id: 'id', name: 'name', project_id: 'project_id', tenant_id: 'project_id' });
      const views = await groupViews(ctx.deps.db, (await q) as GroupRow[]);
      ctx.body = await listResponse(ctx, groupSpec, req, views, (id) => showGroup(ctx, id).catch(() => null));
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.0/security-groups/:id',
    policy: neutronRule('get_security_group'),
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { security_group: selectFields(await showGroup(ctx, ctx.params.id), showFields(ctx)) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v2.0/security-groups',
    policy: neutronRule('create_security_group'),
    body: anyBody,
    errors: [403, 409],
    handler: async (ctx) => {
      enforceWrite(ctx, 'create_security_group');
      const { bulk, raw } = createBodies(ctx.state.body, 'security_group', 'security_groups');
      const wanted: GroupCreate[] = raw.map((r) => {
        const attrs = parseAttrs(r, groupCreateAttrs);
        return {
          projectId: projectForCreate(ctx, attrs, 'create_security_group'),
          name: attrs.name as string | undefined,
          description: attrs.description as string | undefined,
          stateful: attrs.stateful as boolean | undefined,
          tags: attrs.tags,
        };
      });
      const ids = await createGroups(ctx.deps.db, wanted, ctx.deps.now());
      const views = [];
      for (const id of ids) views.push(await showGroup(ctx, id));
      ctx.status = 201;
      ctx.body = bulk ? { security_groups: views } : { security_group: views[0] };
    },
  });
  mount(router, {
    method: 'put',
    path: '/v2.0/security-groups/:id',
    policy: neutronRule('update_security_group'),
    body: anyBody,
    errors: [403, 404, 409, 412],
    handler: async (ctx) => {
      enforceWrite(ctx, 'update_security_group');
      const attrs = parseAttrs(resourceBody(ctx.state.body, 'security_group'), groupUpdateAttrs);
      const expected = ifMatchRevision(ctx);
      await updateGroup(ctx.deps.db, callerOf(ctx), ctx.params.id, attrs, ctx.deps.now(), (current) =>
        checkRevision(expected, current),
      );
      ctx.body = { security_group: await showGroup(ctx, ctx.params.id) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v2.0/security-groups/:id',
    policy: neutronRule('delete_security_group'),
    errors: [403, 404, 409],
    handler: async (ctx) => {
      enforceWrite(ctx, 'delete_security_group');
      await deleteGroup(ctx.deps.db, callerOf(ctx), ctx.params.id);
      ctx.status = 204;
    },
  });
  mountTagRoutes(router, {
    collection: 'security-groups',
    resourceType: 'security_group',
    table: 'security_groups',
    notFound: groupNotFound,
  });

  mount(router, {
    method: 'get',
    path: '/v2.0/security-group-rules',
    policy: neutronRule('get_security_group_rule'),
    errors: [404],
    handler: async (ctx) => {
      await ensureDefaultForList(ctx);
      const req = parseListRequest(ctx, ruleSpec);
      const q = visibleRules(ctx.deps.db, callerOf(ctx));
      narrow(q, req, {
        id: `${RULES}.id`,
        security_group_id: `${RULES}.security_group_id`,
        direction: `${RULES}.direction`,
        ethertype: `${RULES}.ethertype`,
        project_id: `${RULES}.project_id`,
        tenant_id: `${RULES}.project_id`,
      });
      const views = await ruleViews(ctx.deps.db, (await q) as RuleRow[]);
      ctx.body = await listResponse(ctx, ruleSpec, req, views, (id) => showRule(ctx, id).catch(() => null));
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.0/security-group-rules/:id',
    policy: neutronRule('get_security_group_rule'),
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { security_group_rule: selectFields(await showRule(ctx, ctx.params.id), showFields(ctx)) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v2.0/security-group-rules',
    policy: neutronRule('create_security_group_rule'),
    body: anyBody,
    errors: [403, 404, 409],
    handler: async (ctx) => {
      enforceWrite(ctx, 'create_security_group_rule');
      const { bulk, raw } = createBodies(ctx.state.body, 'security_group_rule', 'security_group_rules');
      const rules: RuleInput[] = raw.map((r) => {
        const a = parseAttrs(r, ruleCreateAttrs);
        requireAttrs(a, ['security_group_id', 'direction']);
        return {
          project_id: projectForCreate(ctx, a, 'create_security_group_rule'),
          security_group_id: a.security_group_id as string,
          direction: a.direction as RuleInput['direction'],
          ethertype: (a.ethertype as RuleInput['ethertype'] | undefined) ?? 'IPv4',
          protocol: (a.protocol as string | null | undefined) ?? null,
          port_range_min: (a.port_range_min as number | null | undefined) ?? null,
          port_range_max: (a.port_range_max as number | null | undefined) ?? null,
          remote_ip_prefix: (a.remote_ip_prefix as string | null | undefined) ?? null,
          remote_group_id: (a.remote_group_id as string | null | undefined) || null,
          remote_address_group_id: (a.remote_address_group_id as string | null | undefined) || null,
          description: a.description as string | undefined,
        };
      });
      const ids = await createRules(ctx.deps.db, callerOf(ctx).isAdmin, rules, ctx.deps.now());
      const views = [];
      for (const id of ids) views.push(await showRule(ctx, id));
      ctx.status = 201;
      ctx.body = bulk ? { security_group_rules: views } : { security_group_rule: views[0] };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v2.0/security-group-rules/:id',
    policy: neutronRule('delete_security_group_rule'),
    errors: [403, 404],
    handler: async (ctx) => {
      enforceWrite(ctx, 'delete_security_group_rule');
      await deleteRule(ctx.deps.db, callerOf(ctx), ctx.params.id, ctx.deps.now());
      ctx.status = 204;
    },
  });
}
