import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import type { Microversion } from '../../common/microversion.js';
import { adminRule } from '../policy.js';
import { actionSchema, createSchema, updateSchema } from './schemas.js';
import {
  addAggregateHost,
  createAggregate,
  deleteAggregate,
  getAggregate,
  listAggregates,
  parseAggregateId,
  removeAggregateHost,
  setAggregateMetadata,
  updateAggregate,
} from './service.js';
import { aggregateView } from './view.js';

const mvOf = (ctx: Ctx): Microversion => ctx.state.microversion as Microversion;
const defaultZone = (ctx: Ctx): string => ctx.deps.config.compute.default_availability_zone;

/** /v2.1/os-aggregates (Nova's aggregates.py); admin only. */
export function mountAggregates(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.1/os-aggregates',
    policy: adminRule('os-aggregates:index'),
    errors: [],
    handler: async (ctx) => {
      ctx.body = { aggregates: (await listAggregates(ctx.deps.db)).map((a) => aggregateView(a, mvOf(ctx))) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v2.1/os-aggregates',
    policy: adminRule('os-aggregates:create'),
    body: createSchema,
    errors: [409],
    handler: async (ctx) => {
      const { name, availability_zone } = (
        ctx.state.body as { aggregate: { name: string; availability_zone?: string | null } }
      ).aggregate;
      const a = await createAggregate(ctx.deps.db, name, availability_zone ?? null, ctx.deps.now());
      ctx.body = { aggregate: aggregateView(a, mvOf(ctx), { create: true }) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/os-aggregates/:id',
    policy: adminRule('os-aggregates:show'),
    errors: [404],
    handler: async (ctx) => {
      const a = await getAggregate(ctx.deps.db, parseAggregateId(ctx.params.id));
      ctx.body = { aggregate: aggregateView(a, mvOf(ctx)) };
    },
  });
  mount(router, {
    method: 'put',
    path: '/v2.1/os-aggregates/:id',
    policy: adminRule('os-aggregates:update'),
    body: updateSchema,
    errors: [404, 409],
    handler: async (ctx) => {
      const id = parseAggregateId(ctx.params.id);
      const changes = (ctx.state.body as { aggregate: { name?: string; availability_zone?: string | null } })
        .aggregate;
      const a = await updateAggregate(ctx.deps.db, id, changes, defaultZone(ctx), ctx.deps.now());
      ctx.body = { aggregate: aggregateView(a, mvOf(ctx)) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v2.1/os-aggregates/:id',
    policy: adminRule('os-aggregates:delete'),
    errors: [404],
    handler: async (ctx) => {
      await deleteAggregate(ctx.deps.db, parseAggregateId(ctx.params.id));
      ctx.status = 200; // Nova answers 200 with an empty body
      ctx.body = '';
    },
  });
  mount(router, {
    method: 'post',
    path: '/v2.1/os-aggregates/:id/action',
    // the policy names the action; the check is the same admin rule for all three
    policy: adminRule('os-aggregates:set_metadata'),
    body: actionSchema,
    errors: [404, 409],
    handler: async (ctx) => {
      const id = parseAggregateId(ctx.params.id);
      const body = ctx.state.body as {
        add_host?: { host: string };
        remove_host?: { host: string };
        set_metadata?: { metadata: Record<string, string | null> };
      };
      const now = ctx.deps.now();
      const db = ctx.deps.db;
      const a = body.add_host
        ? await addAggregateHost(db, id, body.add_host.host, defaultZone(ctx), now)
        : body.remove_host
          ? await removeAggregateHost(db, id, body.remove_host.host, defaultZone(ctx), now)
          : await setAggregateMetadata(db, id, body.set_metadata!.metadata, defaultZone(ctx), now);
      ctx.body = { aggregate: aggregateView(a, mvOf(ctx)) };
    },
  });
}
