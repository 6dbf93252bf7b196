import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AppContext, AppState } from '../context.js';

/** Prometheus metrics of one API process: per route, counts and latency. */
export class HttpMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'kvmstack_http_requests_total',
    help: 'HTTP requests served, by service, method, route template and status.',
    labelNames: ['service', 'method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'kvmstack_http_request_duration_seconds',
    help: 'HTTP request latency, by service, method and route template.',
    labelNames: ['service', 'method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor(withProcessMetrics = true) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'kvmstack_' });
  }
}

/**
 * Gives every request an id (x-openstack-request-id, and x-compute-request-id on compute), a child logger
 * carrying it, one access-log line and its metrics. Runs outermost so it sees the rendered status.
 */
export function observe(metrics: HttpMetrics | null): Middleware<AppState, AppContext> {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const requestId = `req-${randomUUID()}`;
    ctx.state.requestId = requestId;
    ctx.state.log = ctx.deps.log.child({ req_id: requestId });
    ctx.set('x-openstack-request-id', requestId);
    try {
      await next();
    } finally {
      if (ctx.state.service?.name === 'compute') ctx.set('x-compute-request-id', requestId);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route =
        (ctx as unknown as { _matchedRoute?: string })._matchedRoute ??
        (ctx.status === 404 ? 'unmatched' : ctx.path);
      const service = ctx.state.service?.name ?? 'none';
      metrics?.requests.inc({
        service,
        method: ctx.method,
        route: String(route),
        status: String(ctx.status),
      });
      metrics?.latency.observe({ service, method: ctx.method, route: String(route) }, seconds);
      ctx.state.log.info(
        { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(seconds * 1e4) / 10 },
        'request',
      );
    }
  };
}
