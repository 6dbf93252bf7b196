import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { BadRequest, NotFound } from '../../common/errors.js';
import { mount } from '../../common/http/route.js';
import type { Microversion } from '../../common/microversion.js';
import { deleteHost, setHostStatus, type Host } from '../../cluster/hosts/service.js';
import { adminRule } from '../policy.js';
import { boolFromNova } from '../parameter-types.js';
import { updateSchemas } from './schemas.js';
import { COMPUTE_BINARY, hostByName, listComputeHosts, serviceById } from './service.js';
import { serviceView } from './view.js';

const mvOf = (ctx: Ctx): Microversion => ctx.state.microversion as Microversion;
const downAfterMs = (ctx: Ctx): number => ctx.deps.config.compute.service_down_time * 1000;

/** Query parameters a list accepts; from `strictFrom` on, any other one is a 400 (Nova's additionalProperties: false). */
export function checkQuery(ctx: Ctx, allowed: string[], strictFrom: string): void {
  if (!mvOf(ctx).atLeast(strictFrom)) return;
  for (const [k, v] of Object.entries(ctx.query)) {
    if (!allowed.includes(k)) {
      throw new BadRequest(
        `Invalid input for query parameters ${k}. Value: ${String(v)}. Additional properties are not allowed ('${k}' was unexpected)`,
      );
    }
    if (Array.isArray(v))
      throw new BadRequest(
        `Invalid input for query parameters ${k}. Value: ${v.join(',')}. is not of type 'string'`,
      );
  }
}

const one = (v: string | string[] | undefined): string | undefined =>
  Array.isArray(v) ? v[v.length - 1] : v;

/** The < 2.53 forms name the service by {host, binary}; only nova-compute services can be updated. */
async function byHostAndBinary(ctx: Ctx, host: string, binary: string): Promise<Host> {
  if (binary !== COMPUTE_BINARY) {
    throw new BadRequest(
      `Updating a ${binary} service is not supported. Only nova-compute services can be updated.`,
    );
  }
  const h = await hostByName(ctx.deps.db, host);
  if (!h) throw new NotFound(`Host '${host}' is not mapped to any cell`);
  return h;
}

async function updateV21(ctx: Ctx): Promise<void> {
  const action = ctx.params.id;
  const body = ctx.state.body as {
    host: string;
    binary: string;
    disabled_reason?: string;
    forced_down?: unknown;
  };
  const actions = [
    'enable',
    'disable',
    'disable-log-reason',
    ...(mvOf(ctx).atLeast('2.11') ? ['force-down'] : []),
  ];
  if (!actions.includes(action)) throw new NotFound('Unknown action');
  const now = ctx.deps.now();
  const service: Record<string, unknown> = { host: body.host, binary: body.binary };
  if (action === 'force-down') {
    if (body.forced_down === undefined) throw new BadRequest('Missing forced_down field');
    const forcedDown = boolFromNova(body.forced_down);
    const h = await byHostAndBinary(ctx, body.host, body.binary);
    await setHostStatus(ctx.deps.db, h.id, { forcedDown }, now);
    service.forced_down = forcedDown;
  } else {
    let reason: string | null = null;
    if (action === 'disable-log-reason') {
      if (body.disabled_reason === undefined) throw new BadRequest('Missing disabled reason field');
      reason = body.disabled_reason;
    }
    const enabled = action === 'enable';
    const h = await byHostAndBinary(ctx, body.host, body.binary);
    await setHostStatus(ctx.deps.db, h.id, { enabled, disabledReason: reason }, now);
    service.status = enabled ? 'enabled' : 'disabled';
    if (reason) service.disabled_reason = reason;
  }
  ctx.body = { service };
}

async function updateV253(ctx: Ctx): Promise<void> {
  const body = ctx.state.body as { status?: string; disabled_reason?: string; forced_down?: unknown };
  const h = await serviceById(ctx.deps.db, ctx.params.id, true);
  const update: { enabled?: boolean; disabledReason?: string | null; forcedDown?: boolean } = {};
  if (body.status === 'enabled') {
    if (body.disabled_reason)
      throw new BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.");
    update.enabled = true;
    update.disabledReason = null;
  } else if (body.status === 'disabled') {
    update.enabled = false;
    update.disabledReason = body.disabled_reason ?? null;
  }
  if (body.forced_down !== undefined) update.forcedDown = boolFromNova(body.forced_down);
  if (Object.keys(update).length === 0) {
    throw new BadRequest("No updates were requested. Fields 'status' or 'forced_down' should be specified.");
  }
  const now = ctx.deps.now();
  const updated = await setHostStatus(ctx.deps.db, h.id, update, now);
  ctx.body = { service: serviceView(updated, mvOf(ctx), now, downAfterMs(ctx)) };
}

/** GET/PUT/DELETE /v2.1/os-services (Nova's services.py). */
export function mountServices(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.1/os-services',
    policy: adminRule('os-services:list'),
    errors: [],
    handler: async (ctx) => {
      checkQuery(ctx, ['host', 'binary'], '2.75');
      const host = one(ctx.query.host);
      const binary = one(ctx.query.binary);
      const hosts =
        binary && binary !== COMPUTE_BINARY ? [] : await listComputeHosts(ctx.deps.db, host ? { host } : {});
      const now = ctx.deps.now();
      ctx.body = { services: hosts.map((h) => serviceView(h, mvOf(ctx), now, downAfterMs(ctx))) };
    },
  });
  mount(router, {
    method: 'put',
    path: '/v2.1/os-services/:id',
    policy: adminRule('os-services:update'),
    body: updateSchemas,
    errors: [404],
    handler: (ctx) => (mvOf(ctx).atLeast('2.53') ? updateV253(ctx) : updateV21(ctx)),
  });
  mount(router, {
    method: 'delete',
    path: '/v2.1/os-services/:id',
    policy: adminRule('os-services:delete'),
    errors: [404, 409],
    handler: async (ctx) => {
      const h = await serviceById(ctx.deps.db, ctx.params.id, mvOf(ctx).atLeast('2.53'));
      await deleteHost(ctx.deps.db, h.id);
      ctx.state.log.info({ host: h.hostname }, 'compute service deleted');
      ctx.status = 204;
    },
  });
}
