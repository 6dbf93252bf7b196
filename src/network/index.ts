import Router from '@koa/router';
import type { AppContext, AppState } from '../common/context.js';
import { mount } from '../common/http/route.js';
import { neutronRule } from './common/auth.js';
import { notFound } from './common/errors.js';
import { mountQuotas } from './common/quotas.js';
import { EXTENSIONS, extensionView } from './extensions.js';
import { mountNetworks } from './networks/routes.js';
import { mountPorts } from './ports/routes.js';
import { mountSecurityGroups } from './security-groups/routes.js';
import { mountSubnets } from './subnets/routes.js';

export const NETWORK_PREFIX = '/networking';

/** The collections GET /v2.0 lists (Neutron's resource index). */
const RESOURCES: [string, string][] = [
  ['network', 'networks'],
  ['subnet', 'subnets'],
  ['port', 'ports'],
  ['security_group', 'security-groups'],
  ['security_group_rule', 'security-group-rules'],
  ['quota', 'quotas'],
];

/** Neutron v2.0: version documents, extensions, networks, subnets, ports, quotas and security groups. */
export function networkRouter(): Router<AppState, AppContext> {
  const router = new Router<AppState, AppContext>({ prefix: NETWORK_PREFIX });
  const v2Url = (publicUrl: string) => `${publicUrl}${NETWORK_PREFIX}/v2.0`;
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
            links: [{ rel: 'self', href: `${v2Url(ctx.deps.config.api.public_url)}/` }],
          },
        ],
      };
    },
  });
  for (const path of ['/v2.0', '/v2.0/'])
    mount(router, {
      method: 'get',
      path,
      policy: neutronRule('get_resources'),
      errors: [],
      handler: (ctx) => {
        const base = v2Url(ctx.deps.config.api.public_url);
        ctx.body = {
          resources: RESOURCES.map(([name, collection]) => ({
            name,
            collection,
            links: [{ rel: 'self', href: `${base}/${collection}` }],
          })),
        };
      },
    });
  mount(router, {
    method: 'get',
    path: '/v2.0/extensions',
    policy: neutronRule('get_extensions'),
    errors: [],
    handler: (ctx) => {
      ctx.body = { extensions: EXTENSIONS.map(extensionView) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v2.0/extensions/:alias',
    policy: neutronRule('get_extension'),
    errors: [404],
    handler: (ctx) => {
      const ext = EXTENSIONS.find((e) => e.alias === ctx.params.alias);
      if (!ext) throw notFound('HTTPNotFound', `Extension with alias ${ctx.params.alias} does not exist`);
      ctx.body = { extension: extensionView(ext) };
    },
  });
  mountNetworks(router);
  mountSubnets(router);
  mountPorts(router);
  mountSecurityGroups(router);
  mountQuotas(router);
  return router;
}
