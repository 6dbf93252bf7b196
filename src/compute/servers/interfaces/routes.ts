/**
 * /v2.1/servers/{id}/os-interface[/{port_id}] (Nova's attach_interfaces.py): list and show. Attach and
 * detach are not served yet: the router answers 404 for them.
 */
import type Router from '@koa/router';
import type { AppContext, AppState, AuthContext, Ctx } from '../../../common/context.js';
import { mount } from '../../../common/http/route.js';
import type { Microversion } from '../../../common/microversion.js';
import { isAdmin, readerRule } from '../../policy.js';
import { getVisibleServer } from '../model.js';
import { getAttachment, listAttachments } from './service.js';
import { attachmentView } from './view.js';

const authOf = (ctx: Ctx): AuthContext => ctx.state.auth as AuthContext;
const mvOf = (ctx: Ctx): Microversion => ctx.state.microversion as Microversion;

export function mountServerInterfaces(router: Router<AppState, AppContext>): void {
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
