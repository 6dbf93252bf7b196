import Router from '@koa/router';
import type { AppContext, AppState } from '../common/context.js';
import { mount } from '../common/http/route.js';

export const NETWORK_PREFIX = '/networking';

/** Neutron's version list. The network resources arrive with the network issue. */
export function networkRouter(): Router<AppState, AppContext> {
  const router = new Router<AppState, AppContext>({ prefix: NETWORK_PREFIX });
  mount(router, {
    method: 'get',
    path: '/',
    auth: 'none',
    errors: [],
    handler: (ctx) => {
      ctx.body = {
        versions: [
          {
            id: 'v2.0',
            status: 'CURRENT',
            links: [{ rel: 'self', href: `${ctx.deps.config.api.public_url}${NETWORK_PREFIX}/v2.0/` }],
          },
        ],
      };
    },
  });
  return router;
}
