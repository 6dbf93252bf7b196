/** /v2.1/servers (Nova's servers.py): create, list, show, update, delete, and the action dispatcher. */
import type Router from '@koa/router';
import type { AppContext, AppState, AuthContext, Ctx } from '../../common/context.js';
import { BadRequest } from '../../common/errors.js';
import { mount, policyDenied } from '../../common/http/route.js';
import type { Microversion } from '../../common/microversion.js';
import { nextLinks } from '../../common/paging.js';
import { schemaFor, validate, type JsonSchema } from '../../common/validation.js';
import { readJsonBody } from '../../common/http/body.js';
import { isAdmin, memberRule, readerRule } from '../policy.js';
import { normalizeIpv6 } from '../parameter-types.js';
import { TaskRunner } from '../tasks/runner.js';
import { DELETE_TASK, type DeletePayload } from '../tasks/delete.js';
import { consoleActions } from './actions/console.js';
import { lockActions } from './actions/lock.js';
import { adminActions } from './actions/admin-actions.js';
import { deferredDeleteActions } from './actions/deferred-delete.js';
import { securityGroupActions } from './actions/security-groups.js';
import { powerActions } from './actions/power.js';
import { rebuildActions } from './actions/rebuild.js';
import { createImageActions } from './actions/create-image.js';
import { passwordActions } from './actions/change-password.js';
import { checkUnlocked, invalidState } from './actions/transition.js';
import type { ActionHandler } from './actions/types.js';
import { createServers } from './create.js';
import { loadExtras } from './extras.js';
import { recordAction } from './instance-actions/record.js';
import { listServers } from './list.js';
import { getVisibleServer, serverFromRow, serverNotFound, type ServerRow } from './model.js';
import { createSchemas, updateSchemas } from './schemas.js';
import { serverBriefView, serverView, updateAnswerView } from './view.js';

const mvOf = (ctx: Ctx): Microversion => ctx.state.microversion as Microversion;
const authOf = (ctx: Ctx): AuthContext => ctx.state.auth as AuthContext;
const base = (ctx: Ctx): string => `${ctx.deps.config.api.public_url}/compute`;
const kick = (ctx: Ctx) => (ids: string[]) => ctx.deps.tasks?.kick(ids);

/** Every action this API serves, by its body key. */
const ACTIONS = new Map<string, ActionHandler>(
  [
    ...powerActions,
    ...lockActions,
    ...consoleActions,
    ...rebuildActions,
    ...createImageActions,
    ...passwordActions,
    ...adminActions,
    ...deferredDeleteActions,
    ...securityGroupActions,
  ].map((a) => [a.name, a]),
);

/** Renders servers in full for the caller at the request's microversion. */
async function fullViews(ctx: Ctx, servers: ServerRow[]): Promise<Record<string, unknown>[]> {
  const extras = await loadExtras(ctx.deps.db, ctx.deps.config, servers, ctx.deps.now());
  const o = { base: base(ctx), admin: isAdmin(authOf(ctx)), mv: mvOf(ctx) };
  return servers.map((s) => serverView(s, extras, o));
}

/** Starts the delete of a server (DELETE and forceDelete): task_state `deleting`, a `delete` action and task. */
async function startDelete(ctx: Ctx, server: ServerRow, requireIdle: boolean): Promise<void> {
  const auth = authOf(ctx);
  checkUnlocked(server, auth);
  if (server.taskState === 'deleting') return; // already on its way
  const now = ctx.deps.now();
  const taskId = await ctx.deps.db.transaction(async (trx) => {
    const q = trx('servers').where({ uuid: server.uuid }).whereNull('deleted_at');
    if (requireIdle) q.whereNull('task_state');
    else q.where((w) => w.whereNull('task_state').orWhereNot('task_state', 'deleting'));
    const n = await q.update({ task_state: 'deleting', updated_at: now });
    if (n !== 1) {
      const row = await trx('servers').where({ uuid: server.uuid }).whereNull('deleted_at').first();
      if (!row) throw serverNotFound(server.uuid);
      const current = serverFromRow(row);
      if (current.taskState === 'deleting') return null;
      throw invalidState('force_delete', current);
    }
    const actionId = await recordAction(trx, {
      serverUuid: server.uuid,
      requestId: ctx.state.requestId,
      action: 'delete',
      projectId: auth.projectId ?? server.projectId,
      userId: auth.userId,
      now,
    });
    const payload: DeletePayload = { actionId };
    return TaskRunner.create(trx, { kind: DELETE_TASK, serverUuid: server.uuid, step: 'wait', payload, now });
  });
  if (taskId) kick(ctx)([taskId]);
}

/** The policy check of one action: the server's project (member) or an admin; admin-only actions. */
function authorizeAction(ctx: Ctx, action: ActionHandler, server: ServerRow): void {
  const auth = authOf(ctx);
  const name = `os_compute_api:${action.policy}`;
  if (isAdmin(auth)) return;
  if (action.adminOnly) throw policyDenied(name);
  const member = auth.roles.some((r) => r.name === 'member');
  if (!member || auth.projectId !== server.projectId) throw policyDenied(name);
}

export function mountServers(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'post',
    path: '/v2.1/servers',
    policy: memberRule('servers:create'),
    body: createSchemas,
    errors: [400, 403, 404, 409],
    handler: async (ctx) => {
      const mv = mvOf(ctx);
      const body = ctx.state.body as Record<string, unknown>;
      const result = await createServers(
        {
          db: ctx.deps.db,
          config: ctx.deps.config,
          now: ctx.deps.now,
          log: ctx.state.log,
          auth: authOf(ctx),
          mv,
          requestId: ctx.state.requestId,
        },
        body,
      );
      kick(ctx)(result.taskIds);
      ctx.status = 202;
      const server = body.server as Record<string, unknown>;
      const { return_reservation_id: returnReservation } = server;
      if (returnReservation === true || String(returnReservation).toLowerCase() === 'true') {
        ctx.body = { reservation_id: result.reservationId };
        return;
      }
      const first = result.servers[0];
      const view: Record<string, unknown> = {
        id: first.uuid,
        links: [
          { rel: 'self', href: `${base(ctx)}/v2.1/servers/${first.uuid}` },
          { rel: 'bookmark', href: `${base(ctx)}/servers/${first.uuid}` },
        ],
        'OS-DCF:diskConfig': 'MANUAL',
      };
      if (result.securityGroups.length)
        view.security_groups = result.securityGroups.map((name) => ({ name }));
      if (first.adminPass) view.adminPass = first.adminPass;
      ctx.set('Location', `${base(ctx)}/v2.1/servers/${first.uuid}`);
      ctx.body = { server: view };
    },
  });

  for (const detail of [false, true]) {
    mount(router, {
      method: 'get',
      path: detail ? '/v2.1/servers/detail' : '/v2.1/servers',
      policy: readerRule(detail ? 'servers:detail' : 'servers:index'),
      errors: [400],
      handler: async (ctx) => {
        const auth = authOf(ctx);
        if (ctx.query.all_tenants !== undefined && !isAdmin(auth) && ctx.query.all_tenants !== 'False') {
          // Nova's index:get_all_tenants rule: others are refused, not silently narrowed
          throw policyDenied(`os_compute_api:servers:${detail ? 'detail' : 'index'}:get_all_tenants`);
        }
        const { servers, hasMore, limit } = await listServers(
          ctx.deps.db,
          auth,
          mvOf(ctx),
          ctx.query as Record<string, unknown>,
          ctx.deps.config.api.max_limit,
        );
        const items = detail
          ? await fullViews(ctx, servers)
          : servers.map((s) => serverBriefView(s, { base: base(ctx) }));
        const body: Record<string, unknown> = { servers: items };
        const links = nextLinks(
          new URL(`${ctx.deps.config.api.public_url}${ctx.originalUrl}`),
          servers.length ? servers[servers.length - 1].uuid : null,
          hasMore,
          limit,
        );
        if (links.length) body.servers_links = links;
        ctx.body = body;
      },
    });
  }

  mount(router, {
    method: 'get',
    path: '/v2.1/servers/:id',
    policy: readerRule('servers:show'),
    errors: [404],
    handler: async (ctx) => {
      const server = await getVisibleServer(ctx.deps.db, authOf(ctx), ctx.params.id);
      ctx.body = { server: (await fullViews(ctx, [server]))[0] };
    },
  });

  mount(router, {
    method: 'put',
    path: '/v2.1/servers/:id',
    policy: memberRule('servers:update'),
    body: updateSchemas,
    errors: [400, 404],
    handler: async (ctx) => {
      const server = await getVisibleServer(ctx.deps.db, authOf(ctx), ctx.params.id);
      const s = (ctx.state.body as { server: Record<string, unknown> }).server;
      const fields: Record<string, unknown> = { updated_at: ctx.deps.now() };
      if (s.name !== undefined) fields.name = s.name;
      if (s.description !== undefined) fields.description = s.description;
      if (s.accessIPv4 !== undefined) fields.access_ip_v4 = s.accessIPv4;
      if (s.accessIPv6 !== undefined) fields.access_ip_v6 = normalizeIpv6(s.accessIPv6 as string);
      await ctx.deps.db('servers').where({ uuid: server.uuid }).update(fields);
      const updated = await getVisibleServer(ctx.deps.db, authOf(ctx), server.uuid);
      ctx.body = { server: updateAnswerView((await fullViews(ctx, [updated]))[0], mvOf(ctx)) };
    },
  });

  mount(router, {
    method: 'delete',
    path: '/v2.1/servers/:id',
    policy: memberRule('servers:delete'),
    errors: [404, 409],
    handler: async (ctx) => {
      const server = await getVisibleServer(ctx.deps.db, authOf(ctx), ctx.params.id);
      await startDelete(ctx, server, false);
      ctx.status = 204;
    },
  });

  mount(router, {
    method: 'post',
    path: '/v2.1/servers/:id/action',
    // each action checks its own rule below (Nova's per-action policies); a token of a project is needed here
    policy: readerRule('servers:action'),
    errors: [400, 403, 404, 409, 501],
    handler: async (ctx) => {
      const server = await getVisibleServer(ctx.deps.db, authOf(ctx), ctx.params.id);
      const body = await readJsonBody(ctx, ctx.deps.config.api.max_request_body_size, { typeChecked: false });
      if (!body || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length !== 1)
        throw new BadRequest('Malformed request body: one action is expected');
      const [name] = Object.keys(body);
      const value = (body as Record<string, unknown>)[name];
      const mv = mvOf(ctx);
      if (name === 'forceDelete') {
        authorizeAction(
          ctx,
          {
            name,
            policy: 'os-deferred-delete:force',
            errors: [],
            schema: {},
            run: async () => ({ status: 202 }),
          },
          server,
        );
        await startDelete(ctx, server, true);
        ctx.status = 202;
        ctx.body = ''; // Nova's empty 202 (Koa would send the status text)
        return;
      }
      const action = ACTIONS.get(name);
      if (
        !action ||
        (action.min && !mv.atLeast(action.min)) ||
        (action.max && mv.atLeast(nextVersion(action.max)))
      )
        throw new BadRequest(`There is no such action: ${name}`);
      authorizeAction(ctx, action, server);
      const schema = schemaFor(action.schema, mv) as JsonSchema | null;
      if (!schema) throw new BadRequest(`There is no such action: ${name}`);
      validate(schema, value);
      const result = await action.run({
        db: ctx.deps.db,
        config: ctx.deps.config,
        log: ctx.state.log,
        now: ctx.deps.now,
        auth: authOf(ctx),
        mv,
        requestId: ctx.state.requestId,
        base: base(ctx),
        server,
        body: value,
        kick: kick(ctx),
        render: async (s) => (await fullViews(ctx, [s]))[0],
      });
      for (const [k, v] of Object.entries(result.headers ?? {})) ctx.set(k, v);
      ctx.status = result.status;
      ctx.body = result.body === undefined ? '' : result.body; // an empty body, not Koa's status text
    },
  });
}

/** "2.72" → "2.73": the first microversion above an action's max. */
function nextVersion(v: string): string {
  const [maj, min] = v.split('.').map(Number);
  return `${maj}.${min + 1}`;
}
