import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import type { JsonSchema } from '../../common/validation.js';
import { listLinks, selfLink } from '../links.js';
import { policies } from '../policy.js';
import * as catalog from './service.js';

const wrap = (key: string, props: JsonSchema, required: string[]): JsonSchema => ({
  type: 'object',
  properties: {
    [key]: {
      type: 'object',
      properties: props,
      required,
      minProperties: required.length ? 0 : 1,
      additionalProperties: true,
    },
  },
  required: [key],
  additionalProperties: false,
});
const regionProps: JsonSchema = {
  id: { type: 'string', minLength: 1, maxLength: 255 },
  description: { type: ['string', 'null'] },
  parent_region_id: { type: ['string', 'null'] },
};
const serviceProps: JsonSchema = {
  type: { type: 'string', minLength: 1, maxLength: 255 },
  name: { type: 'string', maxLength: 255 },
  description: { type: ['string', 'null'] },
  enabled: { type: 'boolean' },
};
const endpointProps: JsonSchema = {
  service_id: { type: 'string', minLength: 1, maxLength: 64 },
  interface: { type: 'string', enum: ['public', 'internal', 'admin'] },
  region_id: { type: ['string', 'null'] },
  region: { type: ['string', 'null'] },
  url: { type: 'string', minLength: 1, maxLength: 225, pattern: '^[a-zA-Z0-9+.-]+://' },
  enabled: { type: 'boolean' },
};

export const regionView = (ctx: Ctx, r: catalog.Region) => ({
  id: r.id,
  description: r.description,
  parent_region_id: r.parentRegionId,
  links: selfLink(ctx, `regions/${r.id}`),
});
export const serviceView = (ctx: Ctx, s: catalog.Service) => ({
  ...s.extra,
  id: s.id,
  type: s.type,
  name: s.name,
  description: s.description,
  enabled: s.enabled,
  links: selfLink(ctx, `services/${s.id}`),
});
export const endpointView = (ctx: Ctx, e: catalog.Endpoint) => ({
  id: e.id,
  interface: e.interface,
  region: e.regionId,
  region_id: e.regionId,
  service_id: e.serviceId,
  url: e.url,
  enabled: e.enabled,
  links: selfLink(ctx, `endpoints/${e.id}`),
});

const q = (ctx: Ctx, name: string) => ctx.query[name] as string | undefined;

export function catalogRoutes(router: Router<AppState, AppContext>): void {
  // Regions
  mount(router, {
    method: 'get',
    path: '/v3/regions',
    policy: policies.listRegions,
    errors: [],
    handler: async (ctx) => {
      const regions = await catalog.listRegions(ctx.deps.db, { parentRegionId: q(ctx, 'parent_region_id') });
      ctx.body = { regions: regions.map((r) => regionView(ctx, r)), links: listLinks(ctx) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v3/regions',
    policy: policies.createRegion,
    body: wrap('region', regionProps, []),
    errors: [404, 409],
    handler: async (ctx) => {
      const { region } = ctx.state.body as { region: Record<string, string> };
      ctx.status = 201;
      ctx.body = { region: regionView(ctx, await catalog.createRegion(ctx.deps.db, region)) };
    },
  });
  mount(router, {
    method: 'put',
    path: '/v3/regions/:region_id',
    policy: policies.createRegion,
    body: wrap('region', regionProps, []),
    errors: [404, 409],
    handler: async (ctx) => {
      const { region } = ctx.state.body as { region: Record<string, string> };
      ctx.status = 201;
      ctx.body = {
        region: regionView(
          ctx,
          await catalog.createRegion(ctx.deps.db, { ...region, id: ctx.params.region_id }),
        ),
      };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/regions/:region_id',
    policy: policies.getRegion,
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { region: regionView(ctx, await catalog.getRegion(ctx.deps.db, ctx.params.region_id)) };
    },
  });
  mount(router, {
    method: 'patch',
    path: '/v3/regions/:region_id',
    policy: policies.updateRegion,
    body: wrap('region', regionProps, []),
    errors: [404],
    handler: async (ctx) => {
      const { region } = ctx.state.body as { region: Record<string, string> };
      ctx.body = {
        region: regionView(ctx, await catalog.updateRegion(ctx.deps.db, ctx.params.region_id, region)),
      };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v3/regions/:region_id',
    policy: policies.deleteRegion,
    errors: [404, 409],
    handler: async (ctx) => {
      await catalog.deleteRegion(ctx.deps.db, ctx.params.region_id);
      ctx.status = 204;
    },
  });

  // Services
  mount(router, {
    method: 'get',
    path: '/v3/services',
    policy: policies.listServices,
    errors: [],
    handler: async (ctx) => {
      const services = await catalog.listServices(ctx.deps.db, {
        type: q(ctx, 'type'),
        name: q(ctx, 'name'),
      });
      ctx.body = { services: services.map((s) => serviceView(ctx, s)), links: listLinks(ctx) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v3/services',
    policy: policies.createService,
    body: wrap('service', serviceProps, ['type']),
    errors: [],
    handler: async (ctx) => {
      const { service } = ctx.state.body as { service: { type: string } };
      ctx.status = 201;
      ctx.body = { service: serviceView(ctx, await catalog.createService(ctx.deps.db, service)) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/services/:service_id',
    policy: policies.getService,
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { service: serviceView(ctx, await catalog.getService(ctx.deps.db, ctx.params.service_id)) };
    },
  });
  mount(router, {
    method: 'patch',
    path: '/v3/services/:service_id',
    policy: policies.updateService,
    body: wrap('service', serviceProps, []),
    errors: [404],
    handler: async (ctx) => {
      const { service } = ctx.state.body as { service: Record<string, string> };
      ctx.body = {
        service: serviceView(ctx, await catalog.updateService(ctx.deps.db, ctx.params.service_id, service)),
      };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v3/services/:service_id',
    policy: policies.deleteService,
    errors: [404],
    handler: async (ctx) => {
      await catalog.deleteService(ctx.deps.db, ctx.params.service_id);
      ctx.status = 204;
    },
  });

  // Endpoints
  mount(router, {
    method: 'get',
    path: '/v3/endpoints',
    policy: policies.listEndpoints,
    errors: [],
    handler: async (ctx) => {
      const endpoints = await catalog.listEndpoints(ctx.deps.db, {
        serviceId: q(ctx, 'service_id'),
        interface: q(ctx, 'interface'),
        regionId: q(ctx, 'region_id'),
      });
      ctx.body = { endpoints: endpoints.map((e) => endpointView(ctx, e)), links: listLinks(ctx) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v3/endpoints',
    policy: policies.createEndpoint,
    body: wrap('endpoint', endpointProps, ['service_id', 'interface', 'url']),
    errors: [],
    handler: async (ctx) => {
      const { endpoint } = ctx.state.body as { endpoint: catalog.EndpointInput };
      ctx.status = 201;
      ctx.body = { endpoint: endpointView(ctx, await catalog.createEndpoint(ctx.deps.db, endpoint)) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/endpoints/:endpoint_id',
    policy: policies.getEndpoint,
    errors: [404],
    handler: async (ctx) => {
      ctx.body = {
        endpoint: endpointView(ctx, await catalog.getEndpoint(ctx.deps.db, ctx.params.endpoint_id)),
      };
    },
  });
  mount(router, {
    method: 'patch',
    path: '/v3/endpoints/:endpoint_id',
    policy: policies.updateEndpoint,
    body: wrap('endpoint', endpointProps, []),
    errors: [404],
    handler: async (ctx) => {
      const { endpoint } = ctx.state.body as { endpoint: catalog.EndpointInput };
      ctx.body = {
        endpoint: endpointView(
          ctx,
          await catalog.updateEndpoint(ctx.deps.db, ctx.params.endpoint_id, endpoint),
        ),
      };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v3/endpoints/:endpoint_id',
    policy: policies.deleteEndpoint,
    errors: [404],
    handler: async (ctx) => {
      await catalog.deleteEndpoint(ctx.deps.db, ctx.params.endpoint_id);
      ctx.status = 204;
    },
  });
}
