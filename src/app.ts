import Koa from 'koa';
import type Router from '@koa/router';
import type { AppContext, AppDeps, AppState, ServiceTag } from './common/context.js';
import { renderErrors } from './common/http/error-middleware.js';
import { HttpMetrics, observe } from './common/http/observe.js';
import {
  renderGlanceError,
  renderKeystoneError,
  renderNeutronError,
  renderNovaFault,
} from './common/http/renderers.js';
import { CLUSTER_PREFIX, clusterRouter } from './cluster/index.js';
import { COMPUTE_PREFIX, computeRouter } from './compute/index.js';
import { IDENTITY_PREFIX, identityRouter, identityVersion } from './identity/index.js';
import type { IdentityRuntime } from './identity/runtime.js';
import { IMAGE_PREFIX, imageRouter } from './image/index.js';
import { NETWORK_PREFIX, networkRouter } from './network/index.js';
import { VOLUME_PREFIX, volumeRouter } from './volume/index.js';

/** Which service owns a path, by its DevStack-style prefix: it decides the error body. */
const SERVICES: [string, ServiceTag][] = [
  [IDENTITY_PREFIX, { name: 'identity', renderError: renderKeystoneError }],
  [COMPUTE_PREFIX, { name: 'compute', renderError: renderNovaFault }],
  [VOLUME_PREFIX, { name: 'volume', renderError: renderNovaFault }],
  [IMAGE_PREFIX, { name: 'image', renderError: renderGlanceError }],
  [NETWORK_PREFIX, { name: 'network', renderError: renderNeutronError }],
  [CLUSTER_PREFIX, { name: 'kvmstack', renderError: renderKeystoneError }],
];

export interface ApiApp {
  app: Koa<AppState, AppContext>;
  metrics: HttpMetrics | null;
}

/**
 * The API service: every OpenStack service on one port, each under its prefix. Order of the chain:
 * observe (request id, log, metrics) → service tag → error rendering → routers (auth → policy → validate → handler).
 */
export function createApp(
  deps: AppDeps,
  identity: IdentityRuntime,
  opts: { processMetrics?: boolean } = {},
): ApiApp {
  const app = new Koa<AppState, AppContext>({ proxy: false });
  app.context.deps = deps;
  app.silent = true; // errors are logged by renderErrors with the request id
  const metrics = deps.config.api.metrics_enabled ? new HttpMetrics(opts.processMetrics ?? true) : null;

  app.use(observe(metrics));
  app.use(async (ctx, next) => {
    ctx.state.service = SERVICES.find(
      ([prefix]) => ctx.path === prefix || ctx.path.startsWith(`${prefix}/`),
    )?.[1] ?? {
      name: 'kvmstack',
      renderError: renderKeystoneError,
    };
    await next();
  });
  app.use(renderErrors);

  app.use(async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (ctx.path === '/') {
      // auth_url without a path: answer with the identity versions, as a Keystone at the root would.
      ctx.status = 300;
      ctx.body = {
        versions: { values: [identityVersion(`${deps.config.api.public_url}${IDENTITY_PREFIX}`)] },
      };
      return;
    }
    if (ctx.path === '/healthcheck') {
      try {
        await deps.db.raw('select 1');
        ctx.type = 'text/plain';
        ctx.body = 'OK';
      } catch {
        ctx.status = 503;
        ctx.type = 'text/plain';
        ctx.body = 'database unreachable';
      }
      return;
    }
    if (ctx.path === '/metrics' && metrics) {
      ctx.type = metrics.registry.contentType;
      ctx.body = await metrics.registry.metrics();
      return;
    }
    return next();
  });

  const routers: Router<AppState, AppContext>[] = [
    identityRouter(identity),
    computeRouter(),
    volumeRouter(),
    imageRouter(),
    networkRouter(),
    clusterRouter(),
  ];
  for (const r of routers) {
    app.use(r.routes());
    app.use(r.allowedMethods({ throw: false }));
  }
  return { app, metrics };
}
