import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { nullableString, type JsonSchema } from '../../common/validation.js';
import { boolQuery, listLinks, selfLink } from '../links.js';
import { policies } from '../policy.js';
import type { IdentityRuntime } from '../runtime.js';
import { createDomain, deleteDomain, getDomain, listDomains, updateDomain, type Domain } from './service.js';

const domainProps: JsonSchema = {
  name: { type: 'string', minLength: 1, maxLength: 64 },
  description: nullableString(),
  enabled: { type: 'boolean' },
  tags: { type: 'array', items: { type: 'string' } },
  options: { type: 'object' },
};
const createSchema: JsonSchema = {
  type: 'object',
  properties: {
    domain: { type: 'object', properties: domainProps, required: ['name'], additionalProperties: true },
  },
  required: ['domain'],
  additionalProperties: false,
};
const updateSchema: JsonSchema = {
  type: 'object',
  properties: {
    domain: { type: 'object', properties: domainProps, minProperties: 1, additionalProperties: true },
  },
  required: ['domain'],
  additionalProperties: false,
};

export function domainView(ctx: Ctx, d: Domain): Record<string, unknown> {
  return {
    ...d.extra,
    id: d.id,
    name: d.name,
    description: d.description ?? '',
    enabled: d.enabled,
    tags: [],
    options: {},
    links: selfLink(ctx, `domains/${d.id}`),
  };
}

export function domainRoutes(router: Router<AppState, AppContext>, rt: IdentityRuntime): void {
  mount(router, {
    method: 'get',
    path: '/v3/domains',
    policy: policies.listDomains,
    errors: [],
    handler: async (ctx) => {
      const domains = await listDomains(ctx.deps.db, {
        name: ctx.query.name as string | undefined,
        enabled: boolQuery(ctx.query.enabled),
      });
      ctx.body = { domains: domains.map((d) => domainView(ctx, d)), links: listLinks(ctx) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v3/domains',
    policy: policies.createDomain,
    body: createSchema,
    errors: [409],
    handler: async (ctx) => {
      const { domain } = ctx.state.body as { domain: { name: string } };
      ctx.status = 201;
      ctx.body = { domain: domainView(ctx, await createDomain(ctx.deps.db, domain, ctx.deps.now())) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/domains/:domain_id',
    policy: policies.getDomain,
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { domain: domainView(ctx, await getDomain(ctx.deps.db, ctx.params.domain_id)) };
    },
  });
  mount(router, {
    method: 'patch',
    path: '/v3/domains/:domain_id',
    policy: policies.updateDomain,
    body: updateSchema,
    errors: [404, 409],
    handler: async (ctx) => {
      const { domain } = ctx.state.body as { domain: Record<string, unknown> };
      const updated = await updateDomain(ctx.deps.db, rt.revocations, ctx.params.domain_id, domain);
      ctx.body = { domain: domainView(ctx, updated) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v3/domains/:domain_id',
    policy: policies.deleteDomain,
    errors: [403, 404],
    handler: async (ctx) => {
      await deleteDomain(
        ctx.deps.db,
        rt.revocations,
        ctx.params.domain_id,
        ctx.deps.config.identity.default_domain_id,
      );
      ctx.status = 204;
    },
  });
}
