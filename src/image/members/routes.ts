import type Router from '@koa/router';
import type { AppContext, AppState } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { actor, depsOf } from '../images/routes.js';
import { policies } from '../policy.js';
import { addMember, deleteMember, getMember, listMembers, updateMember } from './service.js';
import { memberView } from './view.js';

const objectBody = { type: 'object' };

/** /v2/images/{image_id}/members[/{member_id}]. */
export function mountMemberRoutes(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2/images/:image_id/members',
    policy: policies.getMembers,
    errors: [403, 404],
    handler: async (ctx) => {
      const members = await listMembers(depsOf(ctx), actor(ctx), ctx.params.image_id);
      ctx.body = { members: members.map(memberView), schema: '/v2/schemas/members' };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v2/images/:image_id/members',
    policy: policies.addMember,
    body: objectBody,
    errors: [400, 403, 404, 409, 413],
    handler: async (ctx) => {
      ctx.body = memberView(await addMember(depsOf(ctx), actor(ctx), ctx.params.image_id, ctx.state.body));
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2/images/:image_id/members/:member_id',
    policy: policies.getMember,
    errors: [404],
    handler: async (ctx) => {
      ctx.body = memberView(
        await getMember(depsOf(ctx), actor(ctx), ctx.params.image_id, ctx.params.member_id),
      );
    },
  });
  mount(router, {
    method: 'put',
    path: '/v2/images/:image_id/members/:member_id',
    policy: policies.modifyMember,
    body: objectBody,
    errors: [400, 403, 404],
    handler: async (ctx) => {
      const m = await updateMember(
        depsOf(ctx),
        actor(ctx),
        ctx.params.image_id,
        ctx.params.member_id,
        ctx.state.body,
      );
      ctx.body = memberView(m);
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v2/images/:image_id/members/:member_id',
    policy: policies.deleteMember,
    errors: [403, 404],
    handler: async (ctx) => {
      await deleteMember(depsOf(ctx), actor(ctx), ctx.params.image_id, ctx.params.member_id);
      ctx.status = 204;
    },
  });
}
