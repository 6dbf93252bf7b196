import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { createBodies, parseAttrs, resourceBody } from '../common/attrs.js';
import { callerOf, enforceWrite, neutronRule, projectForCreate } from '../common/auth.js';
import { badRequest } from '../common/errors.js';
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
import { createAttrs, updateAttrs } from './schemas.js';
import {
  createSubnets,
  deleteSubnet,
  getVisibleSubnet,
  subnetNotFound,
  subnetViews,
  updateSubnet,
  visibleSubnets,
} from './service.js';
import type { SubnetRow } from './view.js';

const spec: ListSpec = {
  collection: 'subnets',
  sortKeys: [
    'id',
    'name',
    'network_id',
    'ip_version',
    'cidr',
    'gateway_ip',
    'enable_dhcp',
    'project_id',
    'tenant_id',
    'created_at',
    'updated_at',
    'revision_number',
    'description',
  ],
  notFound: subnetNotFound,
};

async function show(ctx: Ctx, id: string): Promise<Record<string, unknown>> {
  const caller = callerOf(ctx);
  return (
    await subnetViews(ctx.deps.db, [await getVisibleSubnet(ctx.deps.db, caller, id)], caller.isAdmin)
  )[0];
}

export function mountSubnets(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.0/subnets',
    policy: neutronRule('get_subnet'),
    errors: [404],
    handler: async (ctx) => {
      const caller = callerOf(ctx);
      const req = parseListRequest(ctx, spec);
      const q = visibleSubnets(ctx.deps.db, caller);
      narrow(q, req, {
        id: 'subnets.id',
        name: 'subnets.name',
        network_id: 'subnets.network_id',
        cidr: 'subnets.cidr',
        project_id: 'subnets.project_id',
        tenant_id: 'subnets.project_id',
      });
      const views = await subnetViews(ctx.deps.db, (await q) as SubnetRow[], caller.isAdmin);
      ctx.body = await listResponse(ctx, spec, req, views, async (id) => show(ctx, id).catch(() => null));
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.0/subnets/:id',
    policy: neutronRule('get_subnet'),
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { subnet: selectFields(await show(ctx, ctx.params.id), showFields(ctx)) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v2.0/subnets',
    policy: neutronRule('create_subnet'),
    body: { type: 'object' },
    errors: [403, 404, 409],
    handler: async (ctx) => {
      enforceWrite(ctx, 'create_subnet');
      const { bulk, raw } = createBodies(ctx.state.body, 'subnet', 'subnets');
      const items = raw.map((r) => {
        const attrs = parseAttrs(r, createAttrs);
        return { projectId: projectForCreate(ctx, attrs, 'create_subnet'), attrs };
      });
      const ids = await createSubnets(ctx.deps.db, callerOf(ctx), ctx.deps.now(), items);
      const views = [];
      for (const id of ids) views.push(await show(ctx, id));
      ctx.status = 201;
      ctx.body = bulk ? { subnets: views } : { subnet: views[0] };
    },
  });
  mount(router, {
    method: 'put',
    path: '/v2.0/subnets/:id',
    policy: neutronRule('update_subnet'),
    body: { type: 'object' },
    errors: [403, 404, 409, 412],
    handler: async (ctx) => {
      enforceWrite(ctx, 'update_subnet');
      const body = resourceBody(ctx.state.body, 'subnet');
      for (const ro of ['network_id', 'cidr', 'ip_version', 'tenant_id', 'project_id', 'subnetpool_id'])
        if (ro in body) throw badRequest(`Cannot update read-only attribute ${ro}`);
      const attrs = parseAttrs(body, updateAttrs);
      await updateSubnet(
        ctx.deps.db,
        callerOf(ctx),
        ctx.deps.now(),
        ctx.params.id,
        attrs,
        ifMatchRevision(ctx),
        checkRevision,
      );
      ctx.body = { subnet: await show(ctx, ctx.params.id) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v2.0/subnets/:id',
    policy: neutronRule('delete_subnet'),
    errors: [403, 404, 409],
    handler: async (ctx) => {
      enforceWrite(ctx, 'delete_subnet');
      await deleteSubnet(ctx.deps.db, callerOf(ctx), ctx.params.id, ctx.deps.now());
      ctx.status = 204;
    },
  });
  mountTagRoutes(router, {
    collection: 'subnets',
    resourceType: 'subnet',
    table: 'subnets',
    notFound: subnetNotFound,
  });
}
