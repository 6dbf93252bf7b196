import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { isoMicrosNoZ } from '../../common/time.js';
import { hostState } from '../../cluster/hosts/service.js';
import { adminRule, readerRule } from '../policy.js';
import { COMPUTE_BINARY, listComputeHosts } from '../services/service.js';
import { zones } from './service.js';

async function describe(ctx: Ctx, verbose: boolean): Promise<void> {
  const hosts = await listComputeHosts(ctx.deps.db);
  const { available, unavailable } = zones(hosts);
  const now = ctx.deps.now();
  const downAfterMs = ctx.deps.config.compute.service_down_time * 1000;
  const info = available.map((zone) => {
    let detail: Record<string, unknown> | null = null;
    if (verbose) {
      detail = {};
      for (const h of hosts.filter((x) => x.enabled && x.availabilityZone === zone)) {
        detail[h.hostname] = {
          [COMPUTE_BINARY]: {
            available: hostState(h, now, downAfterMs) === 'up',
            active: h.enabled,
            updated_at: h.lastReportAt === null ? null : isoMicrosNoZ(h.lastReportAt),
          },
        };
      }
    }
    return { zoneName: zone, zoneState: { available: true }, hosts: detail };
  });
  for (const zone of unavailable) info.push({ zoneName: zone, zoneState: { available: false }, hosts: null });
  ctx.body = { availabilityZoneInfo: info };
}

/** GET /v2.1/os-availability-zone[/detail] (Nova's availability_zone.py). */
export function mountAvailabilityZones(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.1/os-availability-zone',
    policy: readerRule('os-availability-zone:list'),
    errors: [],
    handler: (ctx) => describe(ctx, false),
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/os-availability-zone/detail',
    policy: adminRule('os-availability-zone:detail'),
    errors: [],
    handler: (ctx) => describe(ctx, true),
  });
}
