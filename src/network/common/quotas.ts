/**
 * Neutron quotas: per-project limits in `neutron_quotas (project_id, resource, hard_limit)` over Neutron's
 * defaults, the /v2.0/quotas API, and `checkQuota(trx, projectId, resource, wanted)` for every create.
 *
 * checkQuota serializes creates of one resource in one project (a lock row in `neutron_quota_locks`, taken
 * FOR UPDATE on MariaDB; SQLite transactions are serialized already), so two concurrent creates cannot both
 * take the last unit: call it inside the create's transaction, before the insert. Each resource counts its
 * usage with the function registered by its owner: `registerQuotaUsage('security_group', (db, p) => n)`.
 */
import type Router from '@koa/router';
import type { Knex } from 'knex';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { callerIsAdmin, callerProject, neutronRule, ownerView } from './auth.js';
import { isSqlite } from './db.js';
import { badRequest, overQuota } from './errors.js';
import { Forbidden } from '../../common/errors.js';

/** Neutron's defaults (neutron/conf/quota.py); -1 is unlimited. */
export const QUOTA_DEFAULTS: Readonly<Record<string, number>> = {
  network: 100,
  subnet: 100,
  port: 500,
  router: 10,
  floatingip: 50,
  security_group: 10,
  security_group_rule: 100,
};
export type QuotaResource = keyof typeof QUOTA_DEFAULTS;

export const QUOTAS_TABLE = 'neutron_quotas';
export const QUOTA_LOCKS_TABLE = 'neutron_quota_locks';

type UsageCounter = (db: Knex, projectId: string) => Promise<number>;
const counters = new Map<string, UsageCounter>();

/** How a resource counts a project's usage (a resource nobody registered, such as routers, counts 0). */
export function registerQuotaUsage(resource: string, counter: UsageCounter): void {
  counters.set(resource, counter);
}

/** A counter for a table with a project_id column. */
export const countRows =
  (table: string): UsageCounter =>
  async (db, projectId) => {
    const row = (await db(table).where({ project_id: projectId }).count({ n: '*' }).first()) as {
      n: number | string;
    };
    return Number(row.n);
  };

export async function quotaLimits(db: Knex, projectId: string): Promise<Record<string, number>> {
  const rows = (await db(QUOTAS_TABLE).where({ project_id: projectId })) as {
    resource: string;
    hard_limit: number | string;
  }[];
  const out: Record<string, number> = { ...QUOTA_DEFAULTS };
  for (const r of rows) if (r.resource in out) out[r.resource] = Number(r.hard_limit);
  return out;
}

export const usageOf = async (db: Knex, projectId: string, resource: string): Promise<number> =>
  (await counters.get(resource)?.(db, projectId)) ?? 0;

/**
 * 409 OverQuota unless `wanted` more of `resource` fit in the project's limit. Call inside the create's
 * transaction, before inserting: it holds the project's lock for that resource until the transaction ends.
 */
export async function checkQuota(
  trx: Knex,
  projectId: string,
  resource: string,
  wanted: number,
): Promise<void> {
  if (!isSqlite(trx)) {
    // Lock first, insert only when the row is missing: an INSERT IGNORE on an existing row takes a shared lock
    // that two transactions would both try to upgrade (a deadlock on every concurrent create).
    const lock = () => trx(QUOTA_LOCKS_TABLE).where({ project_id: projectId, resource }).forUpdate().first();
    if (!(await lock())) {
      await trx(QUOTA_LOCKS_TABLE)
        .insert({ project_id: projectId, resource })
        .onConflict(['project_id', 'resource'])
        .ignore();
      await lock();
    }
  }
  const limit = (await quotaLimits(trx, projectId))[resource] ?? -1;
  if (limit < 0) return;
  const used = await usageOf(trx, projectId, resource);
  if (used + wanted > limit) throw overQuota([resource]);
}

const PREFIX = '/v2.0/quotas';

function readable(ctx: Ctx, projectId: string): void {
  if (!callerIsAdmin(ctx) && projectId !== callerProject(ctx))
    throw new Forbidden('Non-admin is not authorised to access quotas for another project', {
      type: 'HTTPForbidden',
    });
}
function adminOnly(ctx: Ctx): void {
  if (!callerIsAdmin(ctx))
    throw new Forbidden('Only admin can view or configure quota', { type: 'HTTPForbidden' });
}

function parseLimit(resource: string, v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n))
    throw badRequest(`Invalid input for ${resource}. Reason: '${String(v)}' is not an integer.`);
  if (n < -1)
    throw badRequest(`Invalid input for ${resource}. Reason: '${n}' is too small - must be at least '-1'.`);
  if (n > 2147483647)
    throw badRequest(
      `Invalid input for ${resource}. Reason: '${n}' is too large - must be no larger than '2147483647'.`,
    );
  return n;
}

/** GET/PUT/DELETE /v2.0/quotas[/{project_id}[/default|/details]], and /v2.0/quotas/tenant|project. */
export function mountQuotas(router: Router<AppState, AppContext>): void {
  const errors = [403, 404];
  mount(router, {
    method: 'get',
    path: PREFIX,
    policy: neutronRule('get_quota'),
    errors,
    handler: async (ctx) => {
      adminOnly(ctx);
      const ids = (await ctx.deps.db(QUOTAS_TABLE).distinct('project_id').orderBy('project_id')) as {
        project_id: string;
      }[];
      const quotas = [];
      for (const { project_id } of ids)
        quotas.push({ ...(await quotaLimits(ctx.deps.db, project_id)), ...ownerView(project_id) });
      ctx.body = { quotas };
    },
  });
  mount(router, {
    method: 'get',
    path: `${PREFIX}/tenant`,
    policy: neutronRule('get_quota'),
    errors,
    handler: (ctx) => {
      ctx.body = { tenant: { tenant_id: callerProject(ctx) } };
    },
  });
  mount(router, {
    method: 'get',
    path: `${PREFIX}/project`,
    policy: neutronRule('get_quota'),
    errors,
    handler: (ctx) => {
      ctx.body = { project: { project_id: callerProject(ctx) } };
    },
  });
  mount(router, {
    method: 'get',
    path: `${PREFIX}/:project_id`,
    policy: neutronRule('get_quota'),
    errors,
    handler: async (ctx) => {
      readable(ctx, ctx.params.project_id);
      ctx.body = { quota: await quotaLimits(ctx.deps.db, ctx.params.project_id) };
    },
  });
  mount(router, {
    method: 'get',
    path: `${PREFIX}/:project_id/default`,
    policy: neutronRule('get_quota'),
    errors,
    handler: (ctx) => {
      readable(ctx, ctx.params.project_id);
      ctx.body = { quota: { ...QUOTA_DEFAULTS } };
    },
  });
  mount(router, {
    method: 'get',
    path: `${PREFIX}/:project_id/details`,
    policy: neutronRule('get_quota'),
    errors,
    handler: async (ctx) => {
      const projectId = ctx.params.project_id;
      readable(ctx, projectId);
      const limits = await quotaLimits(ctx.deps.db, projectId);
      const quota: Record<string, unknown> = {};
      for (const [resource, limit] of Object.entries(limits))
        quota[resource] = { limit, used: await usageOf(ctx.deps.db, projectId, resource), reserved: 0 };
      ctx.body = { quota };
    },
  });
  mount(router, {
    method: 'put',
    path: `${PREFIX}/:project_id`,
    policy: neutronRule('update_quota'),
    body: {
      type: 'object',
      properties: { quota: { type: 'object' } },
      required: ['quota'],
      additionalProperties: false,
    },
    errors,
    handler: async (ctx) => {
      adminOnly(ctx);
      const projectId = ctx.params.project_id;
      const wanted = (ctx.state.body as { quota: Record<string, unknown> }).quota;
      const unknown = Object.keys(wanted).filter(
        (k) => !(k in QUOTA_DEFAULTS) && k !== 'force' && k !== 'check_limit',
      );
      if (unknown.length) throw badRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`);
      const limits = Object.entries(wanted)
        .filter(([k]) => k in QUOTA_DEFAULTS)
        .map(([k, v]) => [k, parseLimit(k, v)] as const);
      await ctx.deps.db.transaction(async (trx) => {
        for (const [resource, hard_limit] of limits)
          await trx(QUOTAS_TABLE)
            .insert({ project_id: projectId, resource, hard_limit })
            .onConflict(['project_id', 'resource'])
            .merge(['hard_limit']);
      });
      ctx.body = { quota: await quotaLimits(ctx.deps.db, projectId) };
    },
  });
  mount(router, {
    method: 'delete',
    path: `${PREFIX}/:project_id`,
    policy: neutronRule('delete_quota'),
    errors,
    handler: async (ctx) => {
      adminOnly(ctx);
      await ctx.deps.db(QUOTAS_TABLE).where({ project_id: ctx.params.project_id }).delete();
      ctx.status = 204;
    },
  });
}
