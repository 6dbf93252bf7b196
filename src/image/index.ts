import Router from '@koa/router';
import type { AppContext, AppState } from '../common/context.js';
import { mount } from '../common/http/route.js';
import { mountImageRoutes } from './images/routes.js';
import { mountMemberRoutes } from './members/routes.js';
import { mountSchemaRoutes } from './schemas-routes.js';

export const IMAGE_PREFIX = '/image';

/**
 * Glance v2: the version list (v2.9 current, v2.0–v2.8 supported), images and their data, tags, members and
 * schemas. Routing under /v2 is strict, as Glance's: `/v2/images/` (an empty id) is a 404, not the list. No image import
 * (`/v2/info/import` and `/v2/images/{id}/import` are 404), so no OpenStack-image-import-methods header.
 */
export function imageRouter(): Router<AppState, AppContext> {
  const router = new Router<AppState, AppContext>({ prefix: IMAGE_PREFIX });
  for (const path of ['/', '/versions']) mountVersions(router, path);
  const v2 = new Router<AppState, AppContext>({ strict: true });
  for (const path of ['/v2', '/v2/']) mountVersions(v2, path);
  mountSchemaRoutes(v2);
  mountImageRoutes(v2);
  mountMemberRoutes(v2);
  router.use(v2.routes(), v2.allowedMethods({ throw: false }));
  return router;
}

function mountVersions(router: Router<AppState, AppContext>, path: string): void {
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
      // Glance answers the bare root with 300 Multiple Choices, an explicit version path with 200
      ctx.status = path === '/' ? 300 : 200;
      ctx.body = { versions };
    },
  });
}
