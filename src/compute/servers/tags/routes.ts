/** /v2.1/servers/{id}/tags[/{tag}] (Nova's server_tags.py, microversion 2.26). */
import type Router from '@koa/router';
import type { AppContext, AppState, AuthContext, Ctx } from '../../../common/context.js';
import { BadRequest, NotFound } from '../../../common/errors.js';
import { readJsonBody } from '../../../common/http/body.js';
import { mount, type Method } from '../../../common/http/route.js';
import type { Microversion } from '../../../common/microversion.js';
import { validate, type JsonSchema } from '../../../common/validation.js';
import { memberRule, readerRule } from '../../policy.js';
import { getVisibleServer, type ServerRow } from '../model.js';
import { updateAllSchema, updateSchema } from './schemas.js';
import { addTag, clearTags, hasTag, removeTag, replaceTags, serverTags } from './service.js';

const authOf = (ctx: Ctx): AuthContext => ctx.state.auth as AuthContext;

/**
 * Below 2.26 the tag routes do not exist: the router's 404, before the server or the body is looked at (so
 * the body is read here, after this check, rather than by mount's validator, which would answer 400 first).
 */
async function begin(ctx: Ctx, schema?: JsonSchema): Promise<ServerRow> {
  if (!(ctx.state.microversion as Microversion).atLeast('2.26'))
    throw new NotFound('The resource could not be found.');
  const server = await getVisibleServer(ctx.deps.db, authOf(ctx), ctx.params.id);
  if (schema) {
    const body = await readJsonBody(ctx, ctx.deps.config.api.max_request_body_size);
    if (body === undefined) {
      if (schema !== updateSchema)
        throw new BadRequest('The request body is empty: a JSON body is required.');
    } else validate(schema, body);
    ctx.state.body = body;
  }
  return server;
}

export function mountServerTags(router: Router<AppState, AppContext>): void {
  const base = '/v2.1/servers/:id/tags';
  const route = (
    method: Method,
    path: string,
    policy: string,
    errors: number[],
    handler: (ctx: Ctx) => Promise<void>,
  ) =>
    mount(router, {
      method,
      path,
      policy: ['index', 'show'].includes(policy)
        ? readerRule(`os-server-tags:${policy}`)
        : memberRule(`os-server-tags:${policy}`),
      errors: [404, ...errors],
      handler,
    });

  route('get', base, 'index', [], async (ctx) => {
    const s = await begin(ctx);
    ctx.body = { tags: (await serverTags(ctx.deps.db, [s.uuid])).get(s.uuid) };
  });
  route('put', base, 'update_all', [409], async (ctx) => {
    const s = await begin(ctx, updateAllSchema);
    ctx.body = { tags: await replaceTags(ctx.deps.db, s.uuid, (ctx.state.body as { tags: string[] }).tags) };
  });
  route('delete', base, 'delete_all', [409], async (ctx) => {
    const s = await begin(ctx);
    await clearTags(ctx.deps.db, s.uuid);
    ctx.status = 204;
    ctx.body = null;
  });
  route('get', `${base}/:tag`, 'show', [], async (ctx) => {
    const s = await begin(ctx);
    if (!(await hasTag(ctx.deps.db, s.uuid, ctx.params.tag)))
      throw new NotFound(`Server ${s.uuid} has no tag '${ctx.params.tag}'`);
    ctx.status = 204;
    ctx.body = null;
  });
  route('put', `${base}/:tag`, 'update', [409], async (ctx) => {
    const s = await begin(ctx, updateSchema);
    const tag = ctx.params.tag;
    const added = await addTag(ctx.deps.db, s.uuid, tag);
    ctx.body = null; // before the status: Koa turns a null body's status into 204
    ctx.status = added ? 201 : 204;
    if (added)
      ctx.set(
        'Location',
        `${ctx.deps.config.api.public_url}/compute/v2.1/servers/${s.uuid}/tags/${encodeURIComponent(tag)}`,
      );
  });
  route('delete', `${base}/:tag`, 'delete', [409], async (ctx) => {
    const s = await begin(ctx);
    await removeTag(ctx.deps.db, s.uuid, ctx.params.tag);
    ctx.status = 204;
    ctx.body = null;
  });
}
