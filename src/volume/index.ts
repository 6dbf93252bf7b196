import Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../common/context.js';
import { microversions } from '../common/http/microversion-middleware.js';
import { mount } from '../common/http/route.js';
import type { MicroversionPolicy } from '../common/microversion.js';

export const VOLUME_PREFIX = '/volume';

/** Cinder v3's microversion range; the volume resources arrive with the volume issue. */
export const VOLUME_MICROVERSIONS: MicroversionPolicy = { service: 'volume', min: '3.0', max: '3.60' };

function v3(ctx: Ctx): Record<string, unknown> {
  return {
    id: 'v3.0',
    status: 'CURRENT',
    version: VOLUME_MICROVERSIONS.max,
    min_version: VOLUME_MICROVERSIONS.min,
    updated: '2016-02-08T12:20:21Z',
    links: [{ rel: 'self', href: `${ctx.deps.config.api.public_url}${VOLUME_PREFIX}/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.volume+json;version=3' }],
  };
}

export function volumeRouter(): Router<AppState, AppContext> {
  const router = new Router<AppState, AppContext>({ prefix: VOLUME_PREFIX });
  router.use('/v3', microversions(VOLUME_MICROVERSIONS));
  mount(router, {
    method: 'get',
    path: '/',
    auth: 'none',
    errors: [],
    handler: (ctx) => {
      ctx.status = 300;
      ctx.body = { versions: [v3(ctx)] };
    },
  });
  for (const path of ['/v3', '/v3/']) {
    mount(router, {
      method: 'get',
      path,
      auth: 'none',
      errors: [],
      handler: (ctx) => void (ctx.body = { versions: [v3(ctx)] }),
    });
  }
  return router;
}
