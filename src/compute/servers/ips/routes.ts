/** /v2.1/servers/{id}/ips[/{network_label}] (Nova's ips.py): only addr and version, the pre-OS-EXT-IPS form. */
import type Router from '@koa/router';
import type { AppContext, AppState, AuthContext, Ctx } from '../../../common/context.js';
import { NotFound } from '../../../common/errors.js';
import { mount } from '../../../common/http/route.js';
import { readerRule } from '../../policy.js';
import { getVisibleServer } from '../model.js';
import { serverAddresses, type Address } from './service.js';

const authOf = (ctx: Ctx): AuthContext => ctx.state.auth as AuthContext;
const basic = (a: Address) => ({ version: a.version, addr: a.addr });

async function addressesOf(ctx: Ctx): Promise<Record<string, Address[]>> {
  const s = await getVisibleServer(ctx.deps.db, authOf(ctx), ctx.params.id);
  return (await serverAddresses(ctx.deps.db, [s.uuid])).get(s.uuid) ?? {};
}

export function mountServerIps(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.1/servers/:id/ips',
    policy: readerRule('ips:index'),
    errors: [404],
    handler: async (ctx) => {
      const nets = await addressesOf(ctx);
      ctx.body = {
        addresses: Object.fromEntries(Object.entries(nets).map(([label, list]) => [label, list.map(basic)])),
      };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.1/servers/:id/ips/:label',
    policy: readerRule('ips:show'),
    errors: [404],
    handler: async (ctx) => {
      const nets = await addressesOf(ctx);
      const label = ctx.params.label;
      if (!Object.hasOwn(nets, label)) throw new NotFound('Instance is not a member of specified network');
      ctx.body = { [label]: nets[label].map(basic) };
    },
  });
}
