import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { createBodies, parseAttrs, resourceBody } from '../common/attrs.js';
import { callerOf, enforceWrite, neutronRule, projectForCreate } from '../common/auth.js';
import {
  listResponse,
  parseListRequest,
  selectFields,
  showFields,
  narrow,
  type ListSpec,
} from '../common/list.js';
import { checkRevision, ifMatchRevision } from '../common/standard-attrs.js';
import { mountTagRoutes } from '../common/tags.js';
import { toBool } from '../../db/columns.js';
import { createAttrs, updateAttrs } from './schemas.js';
import {
  createNetworks,
  deleteNetwork,
  enforceCreatePolicy,
  getVisibleNetwork,
  networkNotFound,
  networkViews,
  updateNetwork,
  visibleNetworks,
} from './service.js';
import type { NetworkRow } from './view.js';

const spec: ListSpec = {
  collection: 'networks',
  sortKeys: [
    'id',
    'name',
    'status',
    'admin_state_up',
    'shared',
    'mtu',
    'project_id',
    'tenant_id',
    'router:external',
    'created_at',
    'updated_at',
    'revision_number',
    'description',
    'port_security_enabled',
  ],
  notFound: networkNotFound,
};

const anyBody = { type: 'object' };

async function show(ctx: Ctx, id: string): Promise<Record<string, unknown>> {
  const caller = callerOf(ctx);
  const row = await getVisibleNetwork(ctx.deps.db, caller, id);
  return (await networkViews(ctx.deps.db, [row], caller.isAdmin))[0];
}

export function mountNetworks(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.0/networks',
    policy: neutronRule('get_network'),
    errors: [404],
    handler: async (ctx) => {
      const caller = callerOf(ctx);
      const req = parseListRequest(ctx, spec);
      const q = visibleNetworks(ctx.deps.db, caller);
      narrow(q, req, { id: 'id', name: 'name', project_id: 'project_id', tenant_id: 'project_id' });
      const views = await networkViews(ctx.deps.db, (await q) as NetworkRow[], caller.isAdmin);
      ctx.body = await listResponse(ctx, spec, req, views, async (id) => show(ctx, id).catch(() => null));
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.0/networks/:id',
    policy: neutronRule('get_network'),
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { network: selectFields(await show(ctx, ctx.params.id), showFields(ctx)) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v2.0/networks',
    policy: neutronRule('create_network'),
    body: anyBody,
    errors: [403, 404, 409, 503],
    handler: async (ctx) => {
      enforceWrite(ctx, 'create_network');
      const caller = callerOf(ctx);
      const { bulk, raw } = createBodies(ctx.state.body, 'network', 'networks');
      const items = raw.map((r) => {
        const attrs = parseAttrs(r, createAttrs);
        enforceCreatePolicy(caller, attrs);
        return { projectId: projectForCreate(ctx, attrs, 'create_network'), attrs };
      });
      const ids = await createNetworks(ctx.deps.db, ctx.deps.config, ctx.deps.now(), items);
      const views = [];
      for (const id of ids) views.push(await show(ctx, id));
      ctx.status = 201;
      ctx.body = bulk ? { networks: views } : { network: views[0] };
    },
  });
  mount(router, {
    method: 'put',
    path: '/v2.0/networks/:id',
    policy: neutronRule('update_network'),
    body: anyBody,
    errors: [403, 404, 409, 412],
    handler: async (ctx) => {
      enforceWrite(ctx, 'update_network');
      const attrs = parseAttrs(resourceBody(ctx.state.body, 'network'), updateAttrs);
      await updateNetwork(
        ctx.deps.db,
        ctx.deps.config,
        callerOf(ctx),
        ctx.deps.now(),
        ctx.params.id,
        attrs,
        ifMatchRevision(ctx),
        checkRevision,
      );
      ctx.body = { network: await show(ctx, ctx.params.id) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v2.0/networks/:id',
    policy: neutronRule('delete_network'),
    errors: [403, 404, 409],
    handler: async (ctx) => {
      enforceWrite(ctx, 'delete_network');
      await deleteNetwork(ctx.deps.db, callerOf(ctx), ctx.params.id);
      ctx.status = 204;
    },
  });
  mountTagRoutes(router, {
    collection: 'networks',
    resourceType: 'network',
    table: 'networks',
    notFound: networkNotFound,
    visibleToOthers: (row) => toBool(row.shared) || toBool(row.router_external),
  });
}
