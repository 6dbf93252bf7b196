import type Router from '@koa/router';
import type { AppContext, AppState, AuthContext, Ctx } from '../../common/context.js';
import { BadRequest } from '../../common/errors.js';
import { mount } from '../../common/http/route.js';
import type { Microversion } from '../../common/microversion.js';
import { nextLinks } from '../../common/paging.js';
import { adminRule, isAdmin, readerRule } from '../policy.js';
import {
  SORT_KEYS,
  actionSchema,
  createSchema,
  extraSpecUpdateSchema,
  extraSpecsCreateSchema,
  updateSchema,
} from './schemas.js';
import {
  addAccess,
  createFlavor,
  deleteExtraSpec,
  deleteFlavor,
  getExtraSpec,
  getFlavor,
  listAccess,
  listFlavors,
  removeAccess,
  setExtraSpecs,
  updateFlavorDescription,
  type Viewer,
} from './service.js';
import { flavorBriefView, flavorView, type FlavorViewOptions } from './view.js';

const mvOf = (ctx: Ctx): Microversion => ctx.state.microversion as Microversion;
const authOf = (ctx: Ctx): AuthContext => ctx.state.auth as AuthContext;
const viewer = (ctx: Ctx): Viewer => ({ admin: isAdmin(authOf(ctx)), projectId: authOf(ctx).projectId });
/** Nova shows extra_specs (2.61) to whoever passes os-flavor-extra-specs:index: project readers and admins. */
const specsIndex = readerRule('os-flavor-extra-specs:index');
const viewOptions = (ctx: Ctx): FlavorViewOptions => ({
  base: `${ctx.deps.config.api.public_url}/compute`,
  showExtraSpecs: specsIndex.check(authOf(ctx), ctx),
});

/** First value of a query parameter (Nova's multi_params take the first). */
function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

const LIST_PARAMS = ['limit', 'marker', 'is_public', 'minRam', 'minDisk', 'sort_key', 'sort_dir'];
const TRUE = ['1', 't', 'true', 'on', 'y', 'yes'];
const FALSE = ['0', 'f', 'false', 'off', 'n', 'no'];

function queryError(param: string, value: string, detail: string): BadRequest {
  return new BadRequest(`Invalid input for query parameters ${param}. Value: ${value}. ${detail}`);
}

/** GET /flavors and /flavors/detail (Nova's flavors.py _get_flavors). */
async function list(ctx: Ctx, detail: boolean): Promise<void> {
  const mv = mvOf(ctx);
  const q = ctx.query as Record<string, string | string[] | undefined>;
  if (mv.atLeast('2.75')) {
    const extra = Object.keys(q).find((k) => !LIST_PARAMS.includes(k));
    if (extra) throw new BadRequest(`Additional properties are not allowed ('${extra}' was unexpected)`);
  }
  const sortKey = one(q.sort_key) ?? 'flavorid';
  if (!SORT_KEYS.includes(sortKey)) {
    throw queryError('sort_key', sortKey, `'${sortKey}' is not one of ${JSON.stringify(SORT_KEYS)}`);
  }
  const sortDir = one(q.sort_dir) ?? 'asc';
  if (sortDir !== 'asc' && sortDir !== 'desc') {
    throw queryError('sort_dir', sortDir, `'${sortDir}' is not one of ["asc", "desc"]`);
  }
  const maxLimit = ctx.deps.config.api.max_limit;
  let limit = maxLimit;
  const l = one(q.limit);
  if (l !== undefined) {
    if (!/^[0-9]+$/.test(l)) throw queryError('limit', l, `'${l}' does not match '^[0-9]*$'`);
    limit = Math.min(Number(l), maxLimit);
  }
  const marker = one(q.marker) ?? null;
  const v = viewer(ctx);
  let isPublic: boolean | null = true;
  let disabled: boolean | undefined;
  if (v.admin) {
    // only admins choose: absent = public (and shared), "none" = all, else a strict boolean
    const p = one(q.is_public);
    if (p !== undefined) {
      const lower = p.toLowerCase();
      if (lower === 'none') isPublic = null;
      else if (TRUE.includes(lower)) isPublic = true;
      else if (FALSE.includes(lower)) isPublic = false;
      else throw new BadRequest(`Invalid is_public filter [${p}]`);
    }
  } else {
    disabled = false;
  }
  const num = (name: 'minRam' | 'minDisk'): number | undefined => {
    const s = one(q[name]);
    if (s === undefined) return undefined;
    if (!/^\s*[+-]?\d+\s*$/.test(s)) throw new BadRequest(`Invalid ${name} filter [${s}]`);
    return Number(s);
  };
  const { flavors, hasMore } = await listFlavors(
    ctx.deps.db,
    v,
    { isPublic, disabled, minRam: num('minRam'), minDisk: num('minDisk') },
    { key: sortKey, dir: sortDir },
    { limit, marker },
  );
  const o = viewOptions(ctx);
  const body: Record<string, unknown> = {
    flavors: flavors.map((f) => (detail ? flavorView(f, mv, o) : flavorBriefView(f, mv, o))),
  };
  const last = flavors[flavors.length - 1];
  const links = nextLinks(
    new URL(`${ctx.deps.config.api.public_url}${ctx.originalUrl}`),
    last ? last.flavorid : null,
    hasMore,
    limit,
  );
  if (links.length) body.flavors_links = links;
  ctx.body = body;
}

interface CreateBody {
  flavor: {
    name: string;
    id?: string | number | null;
    ram: number | string;
    vcpus: number | string;
    disk: number | string;
    'OS-FLV-EXT-DATA:ephemeral'?: number | string;
    swap?: number | string;
    rxtx_factor?: number | string;
    'os-flavor-access:is_public'?: boolean | string;
    description?: string | null;
  };
}

/** /v2.1/flavors (Nova's flavors.py, flavor_manage, flavors_extraspecs.py, flavor_access.py). */
export function mountFlavors(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.1/flavors',
    policy: readerRule('flavors:index'),
    errors: [],
    handler: (ctx) => list(ctx, false),
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/flavors/detail',
    policy: readerRule('flavors:index'),
    errors: [],
    handler: (ctx) => list(ctx, true),
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/flavors/:id',
    policy: readerRule('flavors:show'),
    errors: [404],
    handler: async (ctx) => {
      const f = await getFlavor(ctx.deps.db, viewer(ctx), ctx.params.id);
      ctx.body = { flavor: flavorView(f, mvOf(ctx), viewOptions(ctx)) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v2.1/flavors',
    policy: adminRule('os-flavor-manage:create'),
    body: createSchema,
    errors: [409],
    handler: async (ctx) => {
      const b = (ctx.state.body as CreateBody).flavor;
      const f = await createFlavor(
        ctx.deps.db,
        {
          name: b.name,
          flavorid: b.id,
          ram: b.ram,
          vcpus: b.vcpus,
          disk: b.disk,
          ephemeral: b['OS-FLV-EXT-DATA:ephemeral'],
          swap: b.swap,
          rxtxFactor: b.rxtx_factor,
          isPublic: b['os-flavor-access:is_public'],
          description: b.description,
        },
        ctx.deps.now(),
      );
      ctx.body = { flavor: flavorView(f, mvOf(ctx), viewOptions(ctx)) };
    },
  });
  mount(router, {
    method: 'put',
    path: '/v2.1/flavors/:id',
    policy: adminRule('os-flavor-manage:update'),
    body: updateSchema,
    errors: [404],
    handler: async (ctx) => {
      const { description } = (ctx.state.body as { flavor: { description: string | null } }).flavor;
      const f = await updateFlavorDescription(ctx.deps.db, ctx.params.id, description, ctx.deps.now());
      ctx.body = { flavor: flavorView(f, mvOf(ctx), viewOptions(ctx)) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v2.1/flavors/:id',
    policy: adminRule('os-flavor-manage:delete'),
    errors: [404],
    handler: async (ctx) => {
      await deleteFlavor(ctx.deps.db, ctx.params.id);
      ctx.status = 202;
      ctx.body = '';
    },
  });

  // extra specs
  mount(router, {
    method: 'get',
    path: '/v2.1/flavors/:id/os-extra_specs',
    policy: specsIndex,
    errors: [404],
    handler: async (ctx) => {
      const f = await getFlavor(ctx.deps.db, viewer(ctx), ctx.params.id);
      ctx.body = { extra_specs: f.extraSpecs };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v2.1/flavors/:id/os-extra_specs',
    policy: adminRule('os-flavor-extra-specs:create'),
    body: extraSpecsCreateSchema,
    errors: [404],
    handler: async (ctx) => {
      const specs = stringify(
        (ctx.state.body as { extra_specs: Record<string, string | number> }).extra_specs,
      );
      await setExtraSpecs(ctx.deps.db, viewer(ctx), ctx.params.id, specs);
      ctx.body = { extra_specs: specs };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/flavors/:id/os-extra_specs/:key',
    policy: readerRule('os-flavor-extra-specs:show'),
    errors: [404],
    handler: async (ctx) => {
      const value = await getExtraSpec(ctx.deps.db, viewer(ctx), ctx.params.id, ctx.params.key);
      ctx.body = { [ctx.params.key]: value };
    },
  });
  mount(router, {
    method: 'put',
    path: '/v2.1/flavors/:id/os-extra_specs/:key',
    policy: adminRule('os-flavor-extra-specs:update'),
    body: extraSpecUpdateSchema,
    errors: [404],
    handler: async (ctx) => {
      const specs = stringify(ctx.state.body as Record<string, string | number>);
      if (!(ctx.params.key in specs)) throw new BadRequest('Request body and URI mismatch');
      await setExtraSpecs(ctx.deps.db, viewer(ctx), ctx.params.id, specs);
      ctx.body = specs;
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v2.1/flavors/:id/os-extra_specs/:key',
    policy: adminRule('os-flavor-extra-specs:delete'),
    errors: [404],
    handler: async (ctx) => {
      await deleteExtraSpec(ctx.deps.db, viewer(ctx), ctx.params.id, ctx.params.key);
      ctx.status = 200; // Nova: 200 with an empty body (flavor delete is 202)
      ctx.body = '';
    },
  });

  // access
  mount(router, {
    method: 'get',
    path: '/v2.1/flavors/:id/os-flavor-access',
    policy: adminRule('os-flavor-access'),
    errors: [404],
    handler: async (ctx) => {
      const projects = await listAccess(ctx.deps.db, viewer(ctx), ctx.params.id);
      ctx.body = { flavor_access: projects.map((p) => ({ flavor_id: ctx.params.id, tenant_id: p })) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v2.1/flavors/:id/action',
    // both actions are admin-only in Nova's defaults
    policy: adminRule('os-flavor-access:add_tenant_access'),
    body: actionSchema,
    errors: [404, 409],
    handler: async (ctx) => {
      const b = ctx.state.body as {
        addTenantAccess?: { tenant: string };
        removeTenantAccess?: { tenant: string };
      };
      const projects = b.addTenantAccess
        ? await addAccess(
            ctx.deps.db,
            viewer(ctx),
            ctx.params.id,
            b.addTenantAccess.tenant,
            mvOf(ctx).atLeast('2.7'),
          )
        : await removeAccess(ctx.deps.db, viewer(ctx), ctx.params.id, b.removeTenantAccess!.tenant);
      ctx.body = { flavor_access: projects.map((p) => ({ flavor_id: ctx.params.id, tenant_id: p })) };
    },
  });
}

/** Numbers are accepted as extra spec values and stored as strings, as Nova does. */
function stringify(specs: Record<string, string | number>): Record<string, string> {
  return Object.fromEntries(Object.entries(specs).map(([k, v]) => [k, String(v)]));
}
