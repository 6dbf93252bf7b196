import Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../common/context.js';
import { microversions } from '../common/http/microversion-middleware.js';
import { mount } from '../common/http/route.js';
import { COMPUTE_MICROVERSIONS, advertisedComputeMax } from './microversions.js';
import { mountServices } from './services/routes.js';
import { mountHypervisors } from './hypervisors/routes.js';
import { mountAvailabilityZones } from './availability-zones/routes.js';
import { mountAggregates } from './aggregates/routes.js';
import { mountFlavors } from './flavors/routes.js';
import { mountKeypairs } from './keypairs/routes.js';
import { mountQuotas } from './quotas/routes.js';
import { mountLimits } from './limits/routes.js';
import { mountServerGroups } from './server-groups/routes.js';
import { mountServers } from './servers/routes.js';
import { mountServerMetadata } from './servers/metadata/routes.js';
import { mountServerTags } from './servers/tags/routes.js';
import { mountServerIps } from './servers/ips/routes.js';
import { mountInstanceActions } from './servers/instance-actions/routes.js';
import { mountServerInterfaces } from './servers/interfaces/routes.js';

export const COMPUTE_PREFIX = '/compute';

function v21(ctx: Ctx): Record<string, unknown> {
  const base = `${ctx.deps.config.api.public_url}${COMPUTE_PREFIX}`;
  return {
    id: 'v2.1',
    status: 'CURRENT',
    version: advertisedComputeMax(ctx.get('user-agent'), ctx.deps.config.compute.novaclient_max_microversion),
    min_version: COMPUTE_MICROVERSIONS.min,
    updated: '2013-07-23T11:33:21Z',
    links: [
      { rel: 'self', href: `${base}/v2.1/` },
      { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' },
    ],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
  };
}

/** Nova's version documents; the compute resources arrive with the compute issue. */
export function computeRouter(): Router<AppState, AppContext> {
  const router = new Router<AppState, AppContext>({ prefix: COMPUTE_PREFIX });
  // Everything under /v2.1 negotiates a microversion (406 outside the range) and echoes it, as Nova does.
  router.use('/v2.1', microversions(COMPUTE_MICROVERSIONS));
  mount(router, {
    method: 'get',
    path: '/',
    auth: 'none',
    errors: [],
    handler: (ctx) => {
      const base = `${ctx.deps.config.api.public_url}${COMPUTE_PREFIX}`;
      ctx.body = {
        versions: [
          {
            id: 'v2.0',
            status: 'SUPPORTED',
            version: '',
            min_version: '',
            updated: '2011-01-21T11:33:21Z',
            links: [{ rel: 'self', href: `${base}/v2/` }],
          },
          { ...v21(ctx), links: [{ rel: 'self', href: `${base}/v2.1/` }] },
        ],
      };
    },
  });
  // the legacy v2 document GET / links to (Nova still serves it: Tempest fetches every listed version)
  for (const path of ['/v2', '/v2/']) {
    mount(router, {
      method: 'get',
      path,
      auth: 'none',
      errors: [],
      handler: (ctx) => {
        const base = `${ctx.deps.config.api.public_url}${COMPUTE_PREFIX}`;
        ctx.body = {
          version: {
            id: 'v2.0',
            status: 'SUPPORTED',
            version: '',
            min_version: '',
            updated: '2011-01-21T11:33:21Z',
            links: [
              { rel: 'self', href: `${base}/v2/` },
              { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' },
            ],
            'media-types': [
              { base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2' },
            ],
          },
        };
      },
    });
  }
  for (const path of ['/v2.1', '/v2.1/']) {
    mount(router, {
      method: 'get',
      path,
      auth: 'none',
      errors: [],
      handler: (ctx) => void (ctx.body = { version: v21(ctx) }),
    });
  }
  mountServices(router);
  mountHypervisors(router);
  mountAvailabilityZones(router);
  mountAggregates(router);
  mountFlavors(router);
  mountKeypairs(router);
  mountQuotas(router);
  mountLimits(router);
  mountServerGroups(router);
  mountServers(router);
  mountServerMetadata(router);
  mountServerTags(router);
  mountServerIps(router);
  mountInstanceActions(router);
  mountServerInterfaces(router);
  return router;
}
