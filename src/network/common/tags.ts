/**
 * The tags API of the standard-attr-tag extension, for any resource table with `id`, `project_id`,
 * `revision_number` and `updated_at`:
 *   GET    /v2.0/{collection}/{id}/tags          → 200 {"tags": [...]}
 *   PUT    /v2.0/{collection}/{id}/tags          {"tags": [...]} → 200 {"tags": [...]} (replaces)
 *   POST   /v2.0/{collection}/{id}/tags          {"tags": [...]} → 201 {"tags": [...]} (adds)
 *   DELETE /v2.0/{collection}/{id}/tags          → 204
 *   GET    /v2.0/{collection}/{id}/tags/{tag}    → 204, or 404 TagNotFound
 *   PUT    /v2.0/{collection}/{id}/tags/{tag}    → 201 (adds one)
 *   DELETE /v2.0/{collection}/{id}/tags/{tag}    → 204, or 404 TagNotFound
 * Every change bumps the resource's revision_number. Another project's resource is a 404; a visible resource
 * the caller does not own (a shared network) is a 403 on change.
 */
import type Router from '@koa/router';
import type { Knex } from 'knex';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import type { ApiError } from '../../common/errors.js';
import { mount } from '../../common/http/route.js';
import { callerIsAdmin, callerProject, enforce, enforceWrite, neutronRule } from './auth.js';
import { badRequest, notFound } from './errors.js';
import {
  bumpRevision,
  loadTags,
  MAX_TAGS_COUNT,
  replaceTags,
  TAGS_TABLE,
  validateTag,
  validateTags,
} from './standard-attrs.js';

export interface TaggedResource {
  /** URL segment: 'networks', 'security-groups'. */
  collection: string;
  /** Singular, as in policy names and the tags table: 'network', 'security_group'. */
  resourceType: string;
  table: string;
  notFound: (id: string) => ApiError;
  /** A row of another project the caller may still see (shared or external networks). */
  visibleToOthers?: (row: Record<string, unknown>) => boolean;
}

const API_PREFIX = '/v2.0';

export function mountTagRoutes(router: Router<AppState, AppContext>, res: TaggedResource): void {
  const base = `${API_PREFIX}/${res.collection}/:id/tags`;
  const rule = (verb: string) => `${verb}_${res.resourceType}:tags`;

  /** The resource as the caller may see it, or its 404; with `write`, ownership is required (403). */
  async function resource(ctx: Ctx, db: Knex, write: boolean, verb: string): Promise<string> {
    const id = ctx.params.id;
    const row = (await db(res.table).where({ id }).first()) as Record<string, unknown> | undefined;
    const own = !!row && (callerIsAdmin(ctx) || row.project_id === callerProject(ctx));
    if (!row || (!own && !res.visibleToOthers?.(row))) throw res.notFound(id);
    if (write) {
      enforceWrite(ctx, rule(verb));
      enforce(own, rule(verb));
    }
    return id;
  }

  const tagsBody = (ctx: Ctx): string[] => {
    const body = ctx.state.body as Record<string, unknown>;
    if (!body || typeof body !== 'object' || !('tags' in body))
      throw badRequest('Invalid input for operation: Invalid tags body.', 'InvalidInput');
    return validateTags(body.tags, res.resourceType);
  };
  const anyBody = { type: 'object' };

  mount(router, {
    method: 'get',
    path: base,
    policy: neutronRule(rule('get')),
    errors: [404],
    handler: async (ctx) => {
      const id = await resource(ctx, ctx.deps.db, false, 'get');
      ctx.body = { tags: (await loadTags(ctx.deps.db, res.resourceType, [id])).get(id) };
    },
  });
  for (const [method, verb, status] of [
    ['put', 'update', 200],
    ['post', 'create', 201],
  ] as const) {
    mount(router, {
      method,
      path: base,
      policy: neutronRule(rule(verb)),
      body: anyBody,
      errors: [404],
      handler: async (ctx) => {
        const wanted = tagsBody(ctx);
        const tags = await ctx.deps.db.transaction(async (trx) => {
          const id = await resource(ctx, trx, true, verb);
          const current = (await loadTags(trx, res.resourceType, [id])).get(id) ?? [];
          const next = method === 'put' ? wanted : [...new Set([...current, ...wanted])];
          validateTags(next, res.resourceType);
          await replaceTags(trx, res.resourceType, id, next);
          await bumpRevision(trx, res.table, id, ctx.deps.now());
          return [...next].sort();
        });
        ctx.status = status;
        ctx.body = { tags };
      },
    });
  }
  mount(router, {
    method: 'delete',
    path: base,
    policy: neutronRule(rule('delete')),
    errors: [404],
    handler: async (ctx) => {
      await ctx.deps.db.transaction(async (trx) => {
        const id = await resource(ctx, trx, true, 'delete');
        await replaceTags(trx, res.resourceType, id, []);
        await bumpRevision(trx, res.table, id, ctx.deps.now());
      });
      ctx.status = 204;
    },
  });

  const one = `${base}/:tag`;
  const tagNotFound = (tag: string) => notFound('TagNotFound', `Tag ${tag} could not be found.`);
  mount(router, {
    method: 'get',
    path: one,
    policy: neutronRule(rule('get')),
    errors: [404],
    handler: async (ctx) => {
      const tag = validateTag(ctx.params.tag);
      const id = await resource(ctx, ctx.deps.db, false, 'get');
      const hit = await ctx.deps
        .db(TAGS_TABLE)
        .where({ resource_type: res.resourceType, resource_id: id, tag })
        .first('tag');
      if (!hit) throw tagNotFound(tag);
      ctx.status = 204;
    },
  });
  mount(router, {
    method: 'put',
    path: one,
    policy: neutronRule(rule('update')),
    errors: [404],
    handler: async (ctx) => {
      const tag = validateTag(ctx.params.tag);
      await ctx.deps.db.transaction(async (trx) => {
        const id = await resource(ctx, trx, true, 'update');
        const current = (await loadTags(trx, res.resourceType, [id])).get(id) ?? [];
        if (current.includes(tag)) return; // already there: 201 all the same, as Neutron
        if (current.length + 1 > MAX_TAGS_COUNT) validateTags([...current, tag], res.resourceType);
        // A concurrent PUT of the same tag may win the insert: the tag is there all the same.
        await trx(TAGS_TABLE)
          .insert({ resource_type: res.resourceType, resource_id: id, tag })
          .onConflict(['resource_id', 'tag'])
          .ignore();
        await bumpRevision(trx, res.table, id, ctx.deps.now());
      });
      ctx.status = 201;
    },
  });
  mount(router, {
    method: 'delete',
    path: one,
    policy: neutronRule(rule('delete')),
    errors: [404],
    handler: async (ctx) => {
      const tag = validateTag(ctx.params.tag);
      await ctx.deps.db.transaction(async (trx) => {
        const id = await resource(ctx, trx, true, 'delete');
        const n = await trx(TAGS_TABLE)
          .where({ resource_type: res.resourceType, resource_id: id, tag })
          .delete();
        if (!n) throw tagNotFound(tag);
        await bumpRevision(trx, res.table, id, ctx.deps.now());
      });
      ctx.status = 204;
    },
  });
}
