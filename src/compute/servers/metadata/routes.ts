/** /v2.1/servers/{id}/metadata[/{key}] (Nova's server_metadata.py). */
import type Router from '@koa/router';
import type { AppContext, AppState, AuthContext, Ctx } from '../../../common/context.js';
import { BadRequest } from '../../../common/errors.js';
import { mount } from '../../../common/http/route.js';
import { memberRule, readerRule } from '../../policy.js';
import { getVisibleServer } from '../model.js';
import { metadataSchema, metaItemSchema } from './schemas.js';
import {
  deleteMetadataItem,
  getMetadataItem,
  serverMetadata,
  updateMetadata,
  type Metadata,
} from './service.js';

const authOf = (ctx: Ctx): AuthContext => ctx.state.auth as AuthContext;

/** [compute] quota_metadata_items (Nova's [quota] metadata_items), 128 as Nova's until the option exists. */
export const metadataLimit = (ctx: Ctx): number =>
  (ctx.deps.config.compute as { quota_metadata_items?: number }).quota_metadata_items ?? 128;

const server = (ctx: Ctx) => getVisibleServer(ctx.deps.db, authOf(ctx), ctx.params.id);

export function mountServerMetadata(router: Router<AppState, AppContext>): void {
  const base = '/v2.1/servers/:id/metadata';
  mount(router, {
    method: 'get',
    path: base,
    policy: readerRule('server-metadata:index'),
    errors: [404],
    handler: async (ctx) => {
      const s = await server(ctx);
      ctx.body = { metadata: (await serverMetadata(ctx.deps.db, [s.uuid])).get(s.uuid) };
    },
  });
  // POST merges, PUT replaces; both answer 200 with the resulting metadata (Nova keeps 200 for compatibility)
  for (const [method, policy, replace] of [
    ['post', 'create', false],
    ['put', 'update_all', true],
  ] as const) {
    mount(router, {
      method,
      path: base,
      policy: memberRule(`server-metadata:${policy}`),
      body: metadataSchema,
      errors: [403, 404, 409],
      handler: async (ctx) => {
        const s = await server(ctx);
        const md = (ctx.state.body as { metadata: Metadata }).metadata;
        const u = { server: s, auth: authOf(ctx), limit: metadataLimit(ctx) };
        ctx.body = { metadata: await updateMetadata(ctx.deps.db, u, md, replace) };
      },
    });
  }
  mount(router, {
    method: 'get',
    path: `${base}/:key`,
    policy: readerRule('server-metadata:show'),
    errors: [404],
    handler: async (ctx) => {
      const s = await server(ctx);
      const key = ctx.params.key;
      ctx.body = { meta: { [key]: await getMetadataItem(ctx.deps.db, s.uuid, key) } };
    },
  });
  mount(router, {
    method: 'put',
    path: `${base}/:key`,
    policy: memberRule('server-metadata:update'),
    body: metaItemSchema,
    errors: [403, 404, 409],
    handler: async (ctx) => {
      const s = await server(ctx);
      const meta = (ctx.state.body as { meta: Metadata }).meta;
      if (!Object.hasOwn(meta, ctx.params.key)) throw new BadRequest('Request body and URI mismatch');
      const u = { server: s, auth: authOf(ctx), limit: metadataLimit(ctx) };
      await updateMetadata(ctx.deps.db, u, meta, false);
      ctx.body = { meta };
    },
  });
  mount(router, {
    method: 'delete',
    path: `${base}/:key`,
    policy: memberRule('server-metadata:delete'),
    errors: [404, 409],
    handler: async (ctx) => {
      const s = await server(ctx);
      await deleteMetadataItem(ctx.deps.db, { server: s, auth: authOf(ctx) }, ctx.params.key);
      ctx.status = 204;
      ctx.body = null;
    },
  });
}
