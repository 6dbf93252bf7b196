import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { BadRequest, NotFound, NotImplemented } from '../../common/errors.js';
import { mount } from '../../common/http/route.js';
import type { Microversion } from '../../common/microversion.js';
import { nextLinks } from '../../common/paging.js';
import { hostFromRow, type Host } from '../../cluster/hosts/service.js';
import { adminRule } from '../policy.js';
import { boolFromNova } from '../parameter-types.js';
import { hostUsage, isUuidLike } from '../services/service.js';
import { checkQuery } from '../services/routes.js';
import { hypervisorView, statisticsView } from './view.js';

const mvOf = (ctx: Ctx): Microversion => ctx.state.microversion as Microversion;
const one = (v: string | string[] | undefined): string | undefined =>
  Array.isArray(v) ? v[v.length - 1] : v;
const BOOL_WORDS = ['true', 'false', '1', '0', 'on', 'off', 'yes', 'no'];

function withServersParam(ctx: Ctx): boolean {
  if (!mvOf(ctx).atLeast('2.53')) return false;
  const v = one(ctx.query.with_servers);
  if (v === undefined) return false;
  if (!BOOL_WORDS.includes(v.toLowerCase())) {
    throw new BadRequest(
      `Invalid input for query parameters with_servers. Value: ${v}. '${v}' is not one of the boolean values`,
    );
  }
  return boolFromNova(v);
}

/** Hosts whose name contains the pattern (Nova's compute_node_search_by_hypervisor: LIKE %pattern%). */
async function hostsMatching(ctx: Ctx, pattern: string): Promise<Host[]> {
  const all = (await ctx.deps.db('hosts').orderBy('id')).map(hostFromRow);
  const hits = all.filter((h) => h.hostname.includes(pattern));
  if (hits.length === 0) throw new NotFound(`No hypervisor matching '${pattern}' could be found.`);
  return hits;
}

async function render(ctx: Ctx, hosts: Host[], detail: boolean, servers: boolean) {
  const usage = await hostUsage(
    ctx.deps.db,
    hosts.map((h) => h.id),
  );
  const opts = {
    detail,
    now: ctx.deps.now(),
    downAfterMs: ctx.deps.config.compute.service_down_time * 1000,
    servers,
  };
  return hosts.map((h) => hypervisorView(h, usage.get(h.id)!, mvOf(ctx), opts));
}

async function list(ctx: Ctx, detail: boolean): Promise<void> {
  const mv = mvOf(ctx);
  if (mv.atLeast('2.53'))
    checkQuery(ctx, ['limit', 'marker', 'hypervisor_hostname_pattern', 'with_servers'], '2.53');
  const servers = withServersParam(ctx);
  const pattern = mv.atLeast('2.53') ? one(ctx.query.hypervisor_hostname_pattern) : undefined;
  const paging = mv.atLeast('2.33');
  if (pattern !== undefined) {
    if (ctx.query.limit !== undefined || ctx.query.marker !== undefined) {
      throw new BadRequest(
        'Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.',
      );
    }
    ctx.body = { hypervisors: await render(ctx, await hostsMatching(ctx, pattern), detail, servers) };
    return;
  }
  const maxLimit = ctx.deps.config.api.max_limit;
  let limit = maxLimit;
  let marker: string | undefined;
  if (paging) {
    const l = one(ctx.query.limit);
    if (l !== undefined) {
      if (!/^\d+$/.test(l))
        throw new BadRequest(
          `Invalid input for query parameters limit. Value: ${l}. '${l}' does not match '^[0-9]*$'`,
        );
      limit = Math.min(Number(l), maxLimit);
    }
    marker = one(ctx.query.marker);
  }
  const q = ctx.deps.db('hosts').orderBy('id');
  if (marker !== undefined) {
    // the marker is the last id of the previous page: an integer before 2.53, a UUID after
    const m = await ctx.deps
      .db('hosts')
      .where(
        mv.atLeast('2.53') ? { uuid: marker } : /^\d+$/.test(marker) ? { id: Number(marker) } : { id: -1 },
      )
      .first();
    if (!m) throw new BadRequest(`marker [${marker}] not found`);
    q.where('id', '>', Number(m.id));
  }
  const rows = (await q.limit(limit + 1)).map(hostFromRow);
  const page = rows.slice(0, limit);
  const body: Record<string, unknown> = { hypervisors: await render(ctx, page, detail, servers) };
  if (paging && limit > 0) {
    const last = page[page.length - 1];
    const lastId = last ? (mv.atLeast('2.53') ? last.uuid : String(last.id)) : null;
    const url = new URL(`${ctx.deps.config.api.public_url}${ctx.originalUrl}`);
    const links = nextLinks(url, lastId, rows.length > limit, limit);
    if (links.length) body.hypervisors_links = links;
  }
  ctx.body = body;
}

/** GET /v2.1/os-hypervisors[...] (Nova's hypervisors.py). */
export function mountHypervisors(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.1/os-hypervisors',
    policy: adminRule('os-hypervisors:list'),
    errors: [404],
    handler: (ctx) => list(ctx, false),
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/os-hypervisors/detail',
    policy: adminRule('os-hypervisors:list-detail'),
    errors: [404],
    handler: (ctx) => list(ctx, true),
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/os-hypervisors/statistics',
    policy: adminRule('os-hypervisors:statistics'),
    errors: [],
    handler: async (ctx) => {
      // removed at 2.88, above kvmstack's maximum: always served
      const hosts = (await ctx.deps.db('hosts').orderBy('id')).map(hostFromRow);
      const usage = await hostUsage(
        ctx.deps.db,
        hosts.map((h) => h.id),
      );
      ctx.body = {
        hypervisor_statistics: statisticsView(hosts.map((h) => ({ host: h, usage: usage.get(h.id)! }))),
      };
    },
  });
  for (const [suffix, withServers] of [
    ['search', false],
    ['servers', true],
  ] as const) {
    mount(router, {
      method: 'get',
      path: `/v2.1/os-hypervisors/:hostname/${suffix}`,
      policy: adminRule(`os-hypervisors:${suffix}`),
      errors: [404],
      handler: async (ctx) => {
        if (mvOf(ctx).atLeast('2.53')) throw new NotFound('The resource could not be found.'); // removed at 2.53
        const hosts = await hostsMatching(ctx, ctx.params.hostname);
        ctx.body = { hypervisors: await render(ctx, hosts, false, withServers) };
      },
    });
  }
  mount(router, {
    method: 'get',
    path: '/v2.1/os-hypervisors/:id/uptime',
    policy: adminRule('os-hypervisors:uptime'),
    errors: [404, 501],
    handler: async (ctx) => {
      const host = await hostById(ctx, ctx.params.id);
      // The agent reports the host's `uptime` line with each heartbeat; without one (an older or fake agent)
      // Nova's answer for a driver without uptime is 501, which the openstack CLI expects and skips.
      const uptime = host.inventory.uptime;
      if (typeof uptime !== 'string')
        throw new NotImplemented('Virt driver does not implement uptime function.');
      const [view] = await render(ctx, [host], false, false);
      ctx.body = { hypervisor: { ...view, uptime } };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/os-hypervisors/:id',
    policy: adminRule('os-hypervisors:show'),
    errors: [404],
    handler: async (ctx) => {
      if (mvOf(ctx).atLeast('2.53')) checkQuery(ctx, ['with_servers'], '2.53');
      const servers = withServersParam(ctx);
      const host = await hostById(ctx, ctx.params.id);
      ctx.body = { hypervisor: (await render(ctx, [host], true, servers))[0] };
    },
  });
}

/** A hypervisor by its id: the host's integer id before 2.53, its UUID from 2.53 (a non-UUID is a 400 then). */
async function hostById(ctx: Ctx, id: string): Promise<Host> {
  const notFound = () => new NotFound(`Hypervisor with ID '${id}' could not be found.`);
  let row: Record<string, unknown> | undefined;
  if (mvOf(ctx).atLeast('2.53')) {
    if (!isUuidLike(id)) throw new BadRequest(`Invalid uuid ${id}`);
    row = await ctx.deps.db('hosts').where({ uuid: id.toLowerCase() }).first();
  } else {
    if (!/^\d+$/.test(id)) throw notFound();
    row = await ctx.deps
      .db('hosts')
      .where({ id: Number(id) })
      .first();
  }
  if (!row) throw notFound();
  return hostFromRow(row);
}
