/**
 * /v2.1/servers/{id}/os-interface[/{port_id}] (Nova's attach_interfaces.py): list, show, attach (200 with
 * the attachment) and detach (202).
 */
import type Router from '@koa/router';
import type { AppContext, AppState, AuthContext, Ctx } from '../../../common/context.js';
import { mount } from '../../../common/http/route.js';
import type { Microversion } from '../../../common/microversion.js';
import { isAdmin, memberRule, readerRule } from '../../policy.js';
import { getVisibleServer } from '../model.js';
import type { JsonSchema, VersionedSchema } from '../../../common/validation.js';
import { attachInterface, detachInterface, type AttachDeps, type AttachRequest } from './attach.js';
import { getAttachment, listAttachments } from './service.js';
import { attachmentView } from './view.js';

const authOf = (ctx: Ctx): AuthContext => ctx.state.auth as AuthContext;
const mvOf = (ctx: Ctx): Microversion => ctx.state.microversion as Microversion;

const uuid: JsonSchema = { type: 'string', format: 'uuid' };
const attachment = (withTag: boolean): JsonSchema => ({
  type: 'object',
  properties: {
    net_id: uuid,
    port_id: uuid,
    fixed_ips: {
      type: 'array',
      minItems: 1,
      maxItems: 1,
      items: {
        type: 'object',
        properties: { ip_address: { type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] } },
        required: ['ip_address'],
        additionalProperties: false,
      },
    },
    ...(withTag ? { tag: { type: 'string', minLength: 1, maxLength: 60, pattern: '^[^,/]*$' } } : {}),
  },
  additionalProperties: false,
});
/** Nova's attach_interfaces create schema; `interfaceAttachment` may be left out (any usable network). */
const attachSchemas: VersionedSchema[] = [false, true].map((withTag) => ({
  ...(withTag ? { min: '2.49' } : { max: '2.48' }),
  schema: {
    type: 'object',
    properties: { interfaceAttachment: attachment(withTag) },
    additionalProperties: false,
  },
}));

const attachDeps = (ctx: Ctx): AttachDeps => ({
  db: ctx.deps.db,
  config: ctx.deps.config,
  log: ctx.state.log,
  now: ctx.deps.now,
  tasks: ctx.deps.tasks,
});

export function mountServerInterfaces(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'post',
    path: '/v2.1/servers/:id/os-interface',
    policy: memberRule('os-attach-interfaces:create'),
    body: attachSchemas,
    errors: [400, 403, 404, 409, 500, 501],
    handler: async (ctx) => {
      const auth = authOf(ctx);
      const s = await getVisibleServer(ctx.deps.db, auth, ctx.params.id);
      const body = (ctx.state.body as { interfaceAttachment?: AttachRequest }).interfaceAttachment ?? {};
      const deps = attachDeps(ctx);
      const a = await attachInterface(deps, auth, s, body, ctx.state.requestId);
      ctx.body = { interfaceAttachment: attachmentView(a, mvOf(ctx)) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v2.1/servers/:id/os-interface/:portId',
    policy: memberRule('os-attach-interfaces:delete'),
    errors: [403, 404, 409, 501],
    handler: async (ctx) => {
      const auth = authOf(ctx);
      const s = await getVisibleServer(ctx.deps.db, auth, ctx.params.id);
      const deps = attachDeps(ctx);
      await detachInterface(deps, auth, s, ctx.params.portId, ctx.state.requestId);
      ctx.status = 202;
      ctx.body = ''; // Nova's empty 202 (Koa would send the status text)
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/servers/:id/os-interface',
    policy: readerRule('os-attach-interfaces:list'),
    errors: [404],
    handler: async (ctx) => {
      const s = await getVisibleServer(ctx.deps.db, authOf(ctx), ctx.params.id);
      const list = await listAttachments(ctx.deps.db, s);
      ctx.body = { interfaceAttachments: list.map((a) => attachmentView(a, mvOf(ctx))) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/servers/:id/os-interface/:portId',
    policy: readerRule('os-attach-interfaces:show'),
    errors: [404],
    handler: async (ctx) => {
      const auth = authOf(ctx);
      const s = await getVisibleServer(ctx.deps.db, auth, ctx.params.id);
      const a = await getAttachment(ctx.deps.db, s, ctx.params.portId, {
        projectId: auth.projectId,
        admin: isAdmin(auth),
      });
      ctx.body = { interfaceAttachment: attachmentView(a, mvOf(ctx)) };
    },
  });
}
