import Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../common/context.js';
import { Forbidden, Unauthorized } from '../common/errors.js';
import { mount, type PolicyRule } from '../common/http/route.js';
import type { JsonSchema } from '../common/validation.js';
import { isAdmin } from '../identity/policy.js';
import {
  authenticateHost,
  enrollHost,
  getHost,
  leaseObservations,
  listHosts,
  recordReport,
  revokeHost,
  type Host,
  type HostReport,
} from './hosts/service.js';
import { reconcileAnswer } from './instances/service.js';
import { syncPowerStates } from '../compute/servers/power-sync.js';
import { hostNetworkState, recordNetworkReport } from '../network/host-state.js';
import type { NetworkSyncReport } from '../network/realization.js';

export const CLUSTER_PREFIX = '/kvmstack/v1';

const adminOnly = (name: string): PolicyRule => ({ name: `kvmstack:${name}`, check: isAdmin });

const enrollSchema: JsonSchema = {
  type: 'object',
  properties: {
    enrollment_secret: { type: 'string', minLength: 1, maxLength: 512 },
    hostname: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9][A-Za-z0-9.-]*$' },
    host_uuid: { type: 'string', pattern: '^[0-9a-fA-F-]{32,36}$' },
    host_ip: { type: 'string', minLength: 1, maxLength: 64 },
    rpc_url: { type: 'string', pattern: '^https?://', maxLength: 255 },
    inventory: { type: 'object' },
  },
  required: ['enrollment_secret', 'hostname', 'host_uuid', 'host_ip', 'rpc_url'],
  additionalProperties: false,
};
const reportSchema: JsonSchema = {
  type: 'object',
  properties: {
    inventory: { type: 'object' },
    domains: { type: 'array', items: { type: 'object' }, maxItems: 10000 },
    stores: { type: 'array', items: { type: 'object' } },
    lease_counter: { type: ['integer', 'null'], minimum: 0 },
    rpc_url: { type: 'string', pattern: '^https?://', maxLength: 255 },
    peers: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          host_id: { type: 'string' },
          counter: { type: 'integer', minimum: 0 },
          changed_ms_ago: { type: 'integer', minimum: 0 },
        },
        required: ['host_id', 'counter', 'changed_ms_ago'],
        additionalProperties: false,
      },
    },
  },
  required: ['inventory', 'domains', 'stores', 'lease_counter', 'peers'],
  additionalProperties: false,
};
const networkSyncSchema: JsonSchema = {
  type: 'object',
  properties: {
    appliedRevision: { type: ['string', 'null'], maxLength: 128 },
    activePorts: { type: 'array', maxItems: 10_000, items: { type: 'string', maxLength: 64 } },
    unrealizable: {
      type: 'array',
      maxItems: 10_000,
      items: {
        type: 'object',
        properties: {
          networkId: { type: 'string', maxLength: 64 },
          reason: { type: 'string', maxLength: 2000 },
        },
        required: ['networkId', 'reason'],
        additionalProperties: false,
      },
    },
  },
  required: ['appliedRevision', 'activePorts', 'unrealizable'],
  additionalProperties: false,
};

const reconcileSchema: JsonSchema = {
  type: 'object',
  properties: { domains: { type: 'array', items: { type: 'string', maxLength: 36 }, maxItems: 10000 } },
  required: ['domains'],
  additionalProperties: false,
};

/** The calling agent's host, from its bearer credential; it may only speak for itself. */
async function callingHost(ctx: Ctx): Promise<Host> {
  const m = /^Bearer (\S+)$/.exec(ctx.get('authorization'));
  if (!m) throw new Unauthorized('A host credential is required.');
  const host = await authenticateHost(ctx.deps.db, m[1]);
  if (ctx.params.host_id !== host.uuid) throw new Forbidden('A host may only report for itself.');
  return host;
}

export function hostView(h: Host, now: number): Record<string, unknown> {
  return {
    id: h.uuid,
    hostname: h.hostname,
    host_ip: h.hostIp,
    enabled: h.enabled,
    revoked: h.revokedAt !== null,
    last_report_age_s: h.lastReportAt === null ? null : Math.round((now - h.lastReportAt) / 100) / 10,
    lease_counter: h.leaseCounter,
    inventory: h.inventory,
    stores: h.stores,
    domains: h.domains,
  };
}

/** The agent protocol (enroll, report, reconcile) and the cluster's admin views, under /kvmstack/v1. */
export function clusterRouter(): Router<AppState, AppContext> {
  const router = new Router<AppState, AppContext>({ prefix: CLUSTER_PREFIX });
  mount(router, {
    method: 'post',
    path: '/hosts/enroll',
    auth: 'none',
    body: enrollSchema,
    errors: [409],
    handler: async (ctx) => {
      const e = await enrollHost(
        ctx.deps.db,
        ctx.deps.config.cluster.enrollment_secret,
        ctx.state.body as never,
        ctx.deps.now(),
      );
      ctx.state.log.info({ host: e.host.hostname, host_id: e.host.uuid }, 'host enrolled');
      ctx.status = 201;
      ctx.body = {
        host: { id: e.host.uuid, hostname: e.host.hostname },
        credential: e.credential,
        rpc_secret: e.rpcSecret,
      };
    },
  });
  mount(router, {
    method: 'post',
    path: '/hosts/:host_id/report',
    auth: 'none',
    body: reportSchema,
    errors: [],
    handler: async (ctx) => {
      const host = await callingHost(ctx);
      const report = ctx.state.body as HostReport;
      await recordReport(ctx.deps.db, host, report, ctx.deps.now());
      await syncPowerStates(ctx.deps.db, host.id, report.domains, ctx.deps.now());
      ctx.status = 204;
    },
  });
  mount(router, {
    method: 'post',
    path: '/hosts/:host_id/reconcile',
    auth: 'none',
    body: reconcileSchema,
    errors: [],
    handler: async (ctx) => {
      const host = await callingHost(ctx);
      ctx.body = await reconcileAnswer(
        ctx.deps.db,
        host.id,
        (ctx.state.body as { domains: string[] }).domains,
      );
    },
  });
  mount(router, {
    method: 'post',
    path: '/hosts/:host_id/network',
    auth: 'none',
    body: networkSyncSchema,
    errors: [],
    handler: async (ctx) => {
      const host = await callingHost(ctx);
      const report = ctx.state.body as NetworkSyncReport;
      await recordNetworkReport(ctx.deps.db, host, report, ctx.deps.now());
      if (report.unrealizable.length)
        ctx.state.log.debug(
          { host: host.hostname, unrealizable: report.unrealizable },
          'networks not realizable',
        );
      ctx.body = await hostNetworkState(ctx.deps.db, host, ctx.deps.now());
    },
  });
  mount(router, {
    method: 'get',
    path: '/hosts',
    policy: adminOnly('list_hosts'),
    errors: [],
    handler: async (ctx) => {
      const now = ctx.deps.now();
      ctx.body = { hosts: (await listHosts(ctx.deps.db)).map((h) => hostView(h, now)) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/hosts/:host_id',
    policy: adminOnly('get_host'),
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { host: hostView(await getHost(ctx.deps.db, ctx.params.host_id), ctx.deps.now()) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/hosts/:host_id/revoke',
    policy: adminOnly('revoke_host'),
    errors: [404],
    handler: async (ctx) => {
      ctx.body = {
        host: hostView(await revokeHost(ctx.deps.db, ctx.params.host_id, ctx.deps.now()), ctx.deps.now()),
      };
    },
  });
  mount(router, {
    method: 'get',
    path: '/leases',
    policy: adminOnly('list_leases'),
    errors: [],
    handler: async (ctx) => {
      ctx.body = { observations: await leaseObservations(ctx.deps.db) };
    },
  });
  return router;
}
