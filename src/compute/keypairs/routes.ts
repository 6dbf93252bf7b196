import type Router from '@koa/router';
import type { AppContext, AppState, AuthContext, Ctx } from '../../common/context.js';
import { BadRequest } from '../../common/errors.js';
import { mount, policyDenied } from '../../common/http/route.js';
import type { Microversion } from '../../common/microversion.js';
import { nextLinks } from '../../common/paging.js';
import { isAdmin, readerRule } from '../policy.js';
import { createSchema } from './schemas.js';
import { createKeyPair, deleteKeyPair, getKeyPair, listKeyPairs, type KeyType } from './service.js';
import { keypairCreateView, keypairListItem, keypairShowView } from './view.js';

const mvOf = (ctx: Ctx): Microversion => ctx.state.microversion as Microversion;
const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** Query parameters each microversion knows; from 2.75 any other is a 400 (additionalProperties: false). */
function checkQuery(ctx: Ctx, paging: boolean): void {
  const mv = mvOf(ctx);
  if (!mv.atLeast('2.75')) return;
  const known = ['user_id', ...(paging ? ['limit', 'marker'] : [])];
  const extra = Object.keys(ctx.query).find((k) => !known.includes(k));
  if (extra) throw new BadRequest(`Additional properties are not allowed ('${extra}' was unexpected)`);
}

/**
 * The user whose key pairs are meant: `user_id` (query, or body on create) from 2.10, else the caller.
 * Nova's rule "admin or user_id:%(user_id)s": another user's key pairs are for admins only.
 */
function targetUser(ctx: Ctx, action: string, requested: string | undefined): string {
  const auth = ctx.state.auth as AuthContext;
  const userId = (mvOf(ctx).atLeast('2.10') ? requested : undefined) || auth.userId;
  if (userId !== auth.userId && !isAdmin(auth)) throw policyDenied(`os_compute_api:os-keypairs:${action}`);
  return userId;
}

/** /v2.1/os-keypairs (Nova's keypairs.py). */
export function mountKeypairs(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.1/os-keypairs',
    policy: readerRule('os-keypairs:index'),
    errors: [],
    handler: async (ctx) => {
      const mv = mvOf(ctx);
      const paging = mv.atLeast('2.35');
      checkQuery(ctx, paging);
      const userId = targetUser(ctx, 'index', one(ctx.query.user_id));
      let limit: number | null = null;
      let marker: string | null = null;
      if (paging) {
        const maxLimit = ctx.deps.config.api.max_limit;
        limit = maxLimit;
        const l = one(ctx.query.limit);
        if (l !== undefined) {
          if (!/^[0-9]+$/.test(l)) {
            throw new BadRequest(
              `Invalid input for query parameters limit. Value: ${l}. '${l}' does not match '^[0-9]*$'`,
            );
          }
          limit = Math.min(Number(l), maxLimit);
        }
        marker = one(ctx.query.marker) ?? null;
      }
      const { keypairs, hasMore } = await listKeyPairs(ctx.deps.db, userId, { limit, marker });
      const body: Record<string, unknown> = {
        keypairs: keypairs.map((k) => ({ keypair: keypairListItem(k, mv) })),
      };
      if (paging && limit !== null) {
        const last = keypairs[keypairs.length - 1];
        const url = new URL(`${ctx.deps.config.api.public_url}${ctx.originalUrl}`);
        const links = nextLinks(url, last ? last.name : null, hasMore, limit);
        if (links.length) body.keypairs_links = links;
      }
      ctx.body = body;
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/os-keypairs/:name',
    policy: readerRule('os-keypairs:show'),
    errors: [404],
    handler: async (ctx) => {
      checkQuery(ctx, false);
      const userId = targetUser(ctx, 'show', one(ctx.query.user_id));
      const k = await getKeyPair(ctx.deps.db, userId, ctx.params.name);
      ctx.body = { keypair: keypairShowView(k, mvOf(ctx)) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v2.1/os-keypairs',
    policy: readerRule('os-keypairs:create'),
    body: createSchema,
    errors: [409],
    handler: async (ctx) => {
      const mv = mvOf(ctx);
      const b = (
        ctx.state.body as { keypair: { name: string; public_key?: string; type?: KeyType; user_id?: string } }
      ).keypair;
      const userId = targetUser(ctx, 'create', b.user_id);
      const { keypair, privateKey } = await createKeyPair(
        ctx.deps.db,
        {
          userId,
          name: b.name,
          type: b.type ?? 'ssh',
          publicKey: b.public_key,
          quota: ctx.deps.config.compute.quota_key_pairs,
          limits: { config: ctx.deps.config, projectId: (ctx.state.auth as AuthContext).projectId },
        },
        ctx.deps.now(),
      );
      ctx.status = mv.atLeast('2.2') ? 201 : 200;
      ctx.body = { keypair: keypairCreateView(keypair, mv, privateKey) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v2.1/os-keypairs/:name',
    policy: readerRule('os-keypairs:delete'),
    errors: [404],
    handler: async (ctx) => {
      checkQuery(ctx, false);
      const userId = targetUser(ctx, 'delete', one(ctx.query.user_id));
      await deleteKeyPair(ctx.deps.db, userId, ctx.params.name);
      ctx.status = mvOf(ctx).atLeast('2.2') ? 204 : 202;
      ctx.body = mvOf(ctx).atLeast('2.2') ? null : '';
    },
  });
}
