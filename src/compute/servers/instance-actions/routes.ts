/** /v2.1/servers/{id}/os-instance-actions (Nova's instance_actions.py). */
import type Router from '@koa/router';
import type { AppContext, AppState, AuthContext, Ctx } from '../../../common/context.js';
import { BadRequest, NotFound } from '../../../common/errors.js';
import { mount } from '../../../common/http/route.js';
import type { Microversion } from '../../../common/microversion.js';
import { nextLinks } from '../../../common/paging.js';
import { parseIsoTime } from '../../../common/time.js';
import { isAdmin, readerRule } from '../../policy.js';
import { serverFromRow, serverNotFound, type ServerRow } from '../model.js';
import { actionEvents, getAction, listActions, type ActionQuery } from './service.js';
import { actionView, eventView } from './view.js';

const mvOf = (ctx: Ctx): Microversion => ctx.state.microversion as Microversion;
const authOf = (ctx: Ctx): AuthContext => ctx.state.auth as AuthContext;

/**
 * The server, deleted ones included from 2.21 (Nova reads with read_deleted='yes' there, so the owner can
 * still see why a server went away); another project's server is 404 unless the caller is an admin.
 */
async function serverForActions(ctx: Ctx, id: string): Promise<ServerRow> {
  const q = ctx.deps.db('servers').where({ uuid: id });
  if (!mvOf(ctx).atLeast('2.21')) q.whereNull('deleted_at');
  const row = await q.first();
  if (!row) throw serverNotFound(id);
  const server = serverFromRow(row);
  const auth = authOf(ctx);
  if (server.projectId !== auth.projectId && !isAdmin(auth)) throw serverNotFound(id);
  return server;
}

const invalidQuery = (name: string, value: unknown, why: string): BadRequest =>
  new BadRequest(`Invalid input for query parameters ${name}. Value: ${String(value)}. ${why}`);

/** Nova's index_query_v258 / _v266: only these keys, each given once; limit a non-negative integer. */
function parseQuery(ctx: Ctx): ActionQuery {
  const mv = mvOf(ctx);
  const none: ActionQuery = { limit: null, marker: null, changesSince: null, changesBefore: null };
  if (!mv.atLeast('2.58')) return none; // anything goes, and nothing is used
  const known = ['limit', 'marker', 'changes-since', ...(mv.atLeast('2.66') ? ['changes-before'] : [])];
  const q: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.query)) {
    if (!known.includes(k))
      throw new BadRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
    if (Array.isArray(v)) throw invalidQuery(k, `[${v.map((x) => `'${x}'`).join(', ')}]`, 'is too long');
    q[k] = String(v);
  }
  const maxLimit = ctx.deps.config.api.max_limit;
  let limit = maxLimit;
  if (q.limit !== undefined) {
    if (!/^[0-9]+$/.test(q.limit))
      throw invalidQuery('limit', q.limit, `'${q.limit}' does not match '^[0-9]*$'`);
    limit = Math.min(Number(q.limit), maxLimit);
  }
  const time = (name: string): number | null => {
    const v = q[name];
    if (v === undefined) return null;
    const ms = /^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?([zZ]|[+-]\d\d:?\d\d)?$/.test(v)
      ? parseIsoTime(v)
      : null;
    if (ms === null) throw invalidQuery(name, v, `'${v}' is not a 'date-time'`);
    return ms;
  };
  const changesSince = time('changes-since');
  const changesBefore = time('changes-before');
  if (changesSince !== null && changesBefore !== null && changesBefore < changesSince)
    throw new BadRequest('The value of changes-since must be less than or equal to changes-before.');
  return { limit, marker: q.marker ?? null, changesSince, changesBefore };
}

export function mountInstanceActions(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.1/servers/:id/os-instance-actions',
    policy: readerRule('os-instance-actions:list'),
    errors: [404],
    handler: async (ctx) => {
      const mv = mvOf(ctx);
      const server = await serverForActions(ctx, ctx.params.id);
      const query = parseQuery(ctx);
      const { actions, hasMore } = await listActions(ctx.deps.db, server.uuid, query);
      const body: Record<string, unknown> = { instanceActions: actions.map((a) => actionView(a, mv)) };
      if (query.limit !== null) {
        const url = new URL(`${ctx.deps.config.api.public_url}${ctx.originalUrl}`);
        const last = actions[actions.length - 1];
        const links = nextLinks(url, last ? last.requestId : null, hasMore, query.limit);
        if (links.length) body.links = links; // 2.58; Nova names the key just "links" here
      }
      ctx.body = body;
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/servers/:id/os-instance-actions/:requestId',
    policy: readerRule('os-instance-actions:show'),
    errors: [404],
    handler: async (ctx) => {
      const mv = mvOf(ctx);
      const server = await serverForActions(ctx, ctx.params.id);
      const action = await getAction(ctx.deps.db, server.uuid, ctx.params.requestId);
      if (!action) throw new NotFound(`Action ${ctx.params.requestId} not found`);
      const body = actionView(action, mv);
      // os-instance-actions:events is admin-only: admins see every event field at every version; from 2.51
      // the owner sees the events too, without the traceback; hostId (obfuscated) is for all from 2.62.
      const admin = isAdmin(authOf(ctx));
      if (admin || mv.atLeast('2.51')) {
        const show = {
          traceback: admin,
          host: admin && mv.atLeast('2.62'),
          hostId: mv.atLeast('2.62'),
          projectId: action.projectId || server.projectId,
        };
        body.events = (await actionEvents(ctx.deps.db, action.id)).map((e) => eventView(e, show));
      }
      ctx.body = { instanceAction: body };
    },
  });
}
