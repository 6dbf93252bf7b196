import Router from '@koa/router';
import type { AppContext, AppState } from '../common/context.js';
import { mount } from '../common/http/route.js';

export const IMAGE_PREFIX = '/image';

/** Glance's version list: v2.9 current, v2.0–v2.8 supported. The image resources arrive with the image issue. */
export function imageRouter(): Router<AppState, AppContext> {
  const router = new Router<AppState, AppContext>({ prefix: IMAGE_PREFIX });
  for (const path of ['/', '/versions']) {
    mount(router, {
      method: 'get',
      path,
      auth: 'none',
      errors: [],
      handler: (ctx) => {
        const href = `${ctx.deps.config.api.public_url}${IMAGE_PREFIX}/v2/`;
        const versions = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0].map((minor) => ({
          id: `v2.${minor}`,
          status: minor === 9 ? 'CURRENT' : 'SUPPORTED',
          links: [{ rel: 'self', href }],
        }));
        ctx.status = path === '/' ? 300 : 200;
        ctx.body = { versions };
      },
    });
  }
  return router;
}
