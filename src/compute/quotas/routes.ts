import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { BadRequest, NotFound } from '../../common/errors.js';
import { mount, type PolicyRule } from '../../common/http/route.js';
import type { Microversion } from '../../common/microversion.js';
import { getProject } from '../../identity/projects/service.js';
import { boolFromNova } from '../parameter-types.js';
import { adminRule, isAdmin } from '../policy.js';
import { quotaClassUpdateSchema, quotaSetUpdateSchema } from './schemas.js';
import {
  classLimits,
  computeLimits,
  defaultLimits,
  deleteQuotas,
  quotaDetails,
  updateClassQuotas,
  updateQuotas,
  type QuotaResource,
} from './service.js';
import { quotaClassSetView, quotaSetView } from './view.js';

const mvOf = (ctx: Ctx): Microversion => ctx.state.microversion as Microversion;

/**
 * Query parameters as Nova's query schemas take them: unknown ones are ignored before 2.75 and a 400 from it
 * (additionalProperties: false). Returns the first value of `name`, as Nova's parse_qs(...)[0].
 */
export function queryParam(ctx: Ctx, known: string[], name?: string): string | undefined {
  if (mvOf(ctx).atLeast('2.75')) {
    const extra = Object.keys(ctx.query).find((k) => !known.includes(k));
    if (extra) throw new BadRequest(`Additional properties are not allowed ('${extra}' was unexpected)`);
  }
  if (!name) return undefined;
  const v = ctx.query[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Nova's PROJECT_READER_OR_ADMIN with the quota set's project as the target. */
const projectReaderOrAdmin = (action: string): PolicyRule => ({
  name: `os_compute_api:os-quota-sets:${action}`,
  check: (a, ctx) => isAdmin(a) || (a.projectId !== null && a.projectId === ctx.params.project_id),
});

/** Nova's identity.verify_project_id: a project Keystone does not know is a 400. */
async function verifyProject(ctx: Ctx, projectId: string): Promise<void> {
  try {
    await getProject(ctx.deps.db, projectId);
  } catch (err) {
    if (err instanceof NotFound) throw new BadRequest(`Project ID ${projectId} is not a valid project.`);
    throw err;
  }
}

const MAX_INT = 0x7fffffff;

/** The values of an update body in the order given; strings are integers already (schema pattern). */
function requested(values: Record<string, unknown>, field: string): [QuotaResource, number][] {
  const out: [QuotaResource, number][] = [];
  for (const [key, value] of Object.entries(values)) {
    if (key === 'force') continue;
    const n = Number(value);
    // the schema's minimum and maximum hold for numbers only; a string beyond them must not reach the column
    if (n < -1 || n > MAX_INT)
      throw new BadRequest(
        `Invalid input for field '${field}/${key}': ${JSON.stringify(value)} is ${n < -1 ? `less than the minimum of -1` : `greater than the maximum of ${MAX_INT}`}`,
      );
    out.push([key as QuotaResource, n]);
  }
  return out;
}

/** /v2.1/os-quota-sets and /v2.1/os-quota-class-sets (Nova's quota_sets.py, quota_classes.py). */
export function mountQuotas(router: Router<AppState, AppContext>): void {
  const base = '/v2.1/os-quota-sets/:project_id';
  mount(router, {
    method: 'get',
    path: base,
    policy: projectReaderOrAdmin('show'),
    errors: [],
    handler: async (ctx) => {
      const userId = queryParam(ctx, ['user_id'], 'user_id') || undefined;
      const projectId = ctx.params.project_id;
      await verifyProject(ctx, projectId);
      const limits = await computeLimits(ctx.deps.db, ctx.deps.config, projectId, userId);
      ctx.body = quotaSetView(limits, mvOf(ctx), projectId);
    },
  });
  mount(router, {
    method: 'get',
    path: `${base}/detail`,
    policy: projectReaderOrAdmin('detail'),
    errors: [],
    handler: async (ctx) => {
      const userId = queryParam(ctx, ['user_id'], 'user_id') || undefined;
      const projectId = ctx.params.project_id;
      await verifyProject(ctx, projectId);
      const details = await quotaDetails(ctx.deps.db, ctx.deps.config, projectId, userId);
      ctx.body = quotaSetView(details, mvOf(ctx), projectId);
    },
  });
  mount(router, {
    method: 'get',
    path: `${base}/defaults`,
    // Nova's RULE_ANY: any token may read the defaults of any project
    policy: { name: 'os_compute_api:os-quota-sets:defaults', check: () => true },
    errors: [],
    handler: async (ctx) => {
      const projectId = ctx.params.project_id;
      await verifyProject(ctx, projectId);
      ctx.body = quotaSetView(await defaultLimits(ctx.deps.db, ctx.deps.config), mvOf(ctx), projectId);
    },
  });
  mount(router, {
    method: 'put',
    path: base,
    policy: adminRule('os-quota-sets:update'),
    body: quotaSetUpdateSchema,
    errors: [],
    handler: async (ctx) => {
      const userId = queryParam(ctx, ['user_id'], 'user_id') || null;
      const projectId = ctx.params.project_id;
      await verifyProject(ctx, projectId);
      const set = (ctx.state.body as { quota_set: Record<string, unknown> }).quota_set;
      const force = set.force !== undefined && boolFromNova(set.force);
      const values = requested(set, 'quota_set');
      await updateQuotas(ctx.deps.db, ctx.deps.config, projectId, userId, values, force);
      const limits = await computeLimits(ctx.deps.db, ctx.deps.config, projectId, userId ?? undefined);
      ctx.body = quotaSetView(limits, mvOf(ctx), null);
    },
  });
  mount(router, {
    method: 'delete',
    path: base,
    policy: adminRule('os-quota-sets:delete'),
    errors: [],
    handler: async (ctx) => {
      const userId = queryParam(ctx, ['user_id'], 'user_id') || null;
      // Nova checks no project here: deleting a project's overrides after the project is gone must work
      await deleteQuotas(ctx.deps.db, ctx.params.project_id, userId);
      ctx.status = 202;
      ctx.body = '';
    },
  });

  mount(router, {
    method: 'get',
    path: '/v2.1/os-quota-class-sets/:id',
    policy: adminRule('os-quota-class-sets:show'),
    errors: [],
    handler: async (ctx) => {
      const values = await classLimits(ctx.deps.db, ctx.deps.config, ctx.params.id);
      ctx.body = quotaClassSetView(values, mvOf(ctx), ctx.params.id);
    },
  });
  mount(router, {
    method: 'put',
    path: '/v2.1/os-quota-class-sets/:id',
    policy: adminRule('os-quota-class-sets:update'),
    body: quotaClassUpdateSchema,
    errors: [],
    handler: async (ctx) => {
      const id = ctx.params.id;
      if (id.length > 255)
        throw new BadRequest(`quota_class_name has ${id.length} characters, more than 255.`);
      const set = (ctx.state.body as { quota_class_set: Record<string, unknown> }).quota_class_set;
      await updateClassQuotas(ctx.deps.db, id, requested(set, 'quota_class_set'));
      const values = await classLimits(ctx.deps.db, ctx.deps.config, id);
      ctx.body = quotaClassSetView(values, mvOf(ctx), null);
    },
  });
}
