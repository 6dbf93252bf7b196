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
  type View,
} from '../common/list.js';
import { checkRevision, ifMatchRevision } from '../common/standard-attrs.js';
import { mountTagRoutes } from '../common/tags.js';
import { createAttrs, updateAttrs } from './schemas.js';
import {
  createPorts,
  deletePort,
  getVisiblePort,
  portNotFound,
  portViews,
  updatePort,
  visiblePorts,
} from './service.js';
import type { PortRow } from './view.js';

/** `fixed_ips=ip_address=X` / `fixed_ips=subnet_id=Y` (each kind ORs its values; kinds AND, as Neutron). */
function fixedIpsFilter(item: View, values: string[]): boolean {
  const want: Record<string, string[]> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i < 0) continue;
    (want[v.slice(0, i)] ??= []).push(v.slice(i + 1));
  }
  const ips = item.fixed_ips as { subnet_id: string; ip_address: string }[];
  if (want.ip_address && !ips.some((f) => want.ip_address.includes(f.ip_address))) return false;
  if (want.subnet_id && !ips.some((f) => want.subnet_id.includes(f.subnet_id))) return false;
  if (
    want.ip_address_substr &&
    !ips.some((f) => want.ip_address_substr.some((s) => f.ip_address.includes(s)))
  )
    return false;
  return true;
}

const spec: ListSpec = {
  collection: 'ports',
  sortKeys: [
    'id',
    'name',
    'network_id',
    'mac_address',
    'admin_state_up',
    'status',
    'device_id',
    'device_owner',
    'project_id',
    'tenant_id',
    'created_at',
    'updated_at',
    'revision_number',
    'description',
    'port_security_enabled',
    'binding:host_id',
  ],
  notFound: portNotFound,
  customFilters: { fixed_ips: fixedIpsFilter },
};

async function show(ctx: Ctx, id: string): Promise<Record<string, unknown>> {
  const caller = callerOf(ctx);
  return (await portViews(ctx.deps.db, [await getVisiblePort(ctx.deps.db, caller, id)], caller.isAdmin))[0];
}

export function mountPorts(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.0/ports',
    policy: neutronRule('get_port'),
    errors: [404],
    handler: async (ctx) => {
      const caller = callerOf(ctx);
      const req = parseListRequest(ctx, spec);
      const q = visiblePorts(ctx.deps.db, caller);
      narrow(q, req, {
        id: 'ports.id',
        name: 'ports.name',
        network_id: 'ports.network_id',
        device_id: 'ports.device_id',
        device_owner: 'ports.device_owner',
        mac_address: 'ports.mac_address',
        project_id: 'ports.project_id',
        tenant_id: 'ports.project_id',
      });
      if (caller.isAdmin) narrow(q, req, { 'binding:host_id': 'ports.binding_host_id' });
      const views = await portViews(ctx.deps.db, (await q) as PortRow[], caller.isAdmin);
      ctx.body = await listResponse(ctx, spec, req, views, async (id) => show(ctx, id).catch(() => null));
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.0/ports/:id',
    policy: neutronRule('get_port'),
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { port: selectFields(await show(ctx, ctx.params.id), showFields(ctx)) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v2.0/ports',
    policy: neutronRule('create_port'),
    body: { type: 'object' },
    errors: [403, 404, 409],
    handler: async (ctx) => {
      enforceWrite(ctx, 'create_port');
      const { bulk, raw } = createBodies(ctx.state.body, 'port', 'ports');
      const items = raw.map((r) => {
        const attrs = parseAttrs(r, createAttrs);
        return { projectId: projectForCreate(ctx, attrs, 'create_port'), attrs };
      });
      const ids = await createPorts(ctx.deps.db, callerOf(ctx), ctx.deps.now(), items);
      const caller = callerOf(ctx);
      const rows = (await visiblePorts(ctx.deps.db, { ...caller, isAdmin: true }).whereIn(
        'ports.id',
        ids,
      )) as PortRow[];
      const views = await portViews(
        ctx.deps.db,
        ids.map((id) => rows.find((r) => r.id === id)!),
        caller.isAdmin,
      );
      ctx.status = 201;
      ctx.body = bulk ? { ports: views } : { port: views[0] };
    },
  });
  mount(router, {
    method: 'put',
    path: '/v2.0/ports/:id',
    policy: neutronRule('update_port'),
    body: { type: 'object' },
    errors: [403, 404, 409, 412],
    handler: async (ctx) => {
      enforceWrite(ctx, 'update_port');
      const body = resourceBody(ctx.state.body, 'port');
      for (const ro of ['network_id', 'tenant_id', 'project_id'])
        if (ro in body) throw badRequest(`Cannot update read-only attribute ${ro}`);
      const attrs = parseAttrs(body, updateAttrs);
      await updatePort(
        ctx.deps.db,
        callerOf(ctx),
        ctx.deps.now(),
        ctx.params.id,
        attrs,
        ifMatchRevision(ctx),
        checkRevision,
      );
      ctx.body = { port: await show(ctx, ctx.params.id) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v2.0/ports/:id',
    policy: neutronRule('delete_port'),
    errors: [403, 404, 409],
    handler: async (ctx) => {
      enforceWrite(ctx, 'delete_port');
      await deletePort(ctx.deps.db, callerOf(ctx), ctx.params.id);
      ctx.status = 204;
    },
  });
  mountTagRoutes(router, {
    collection: 'ports',
    resourceType: 'port',
    table: 'ports',
    notFound: portNotFound,
  });
}
