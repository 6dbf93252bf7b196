import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { nullableString, type JsonSchema } from '../../common/validation.js';
import { boolQuery, listLinks, selfLink } from '../links.js';
import { policies } from '../policy.js';
import type { IdentityRuntime } from '../runtime.js';
import { userProjectIds } from '../role-assignments/service.js';
import { createProject, deleteProject, getProject, listProjects, updateProject, type Project } from './service.js';

const projectProps: JsonSchema = {
  name: { type: 'string', minLength: 1, maxLength: 64 },
  description: nullableString(65535),
  domain_id: { type: ['string', 'null'], minLength: 1, maxLength: 64 },
  parent_id: { type: ['string', 'null'], minLength: 1, maxLength: 64 },
  enabled: { type: 'boolean' },
  is_domain: { type: 'boolean' },
  tags: { type: 'array', maxItems: 80, items: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^,/]*$' } },
  options: { type: 'object' },
};
const createSchema: JsonSchema = {
  type: 'object',
  properties: { project: { type: 'object', properties: projectProps, required: ['name'], additionalProperties: true } },
  required: ['project'],
  additionalProperties: false,
};
const updateSchema: JsonSchema = {
  type: 'object',
  properties: { project: { type: 'object', properties: projectProps, minProperties: 1, additionalProperties: true } },
  required: ['project'],
  additionalProperties: false,
};

export function projectView(ctx: Ctx, p: Project): Record<string, unknown> {
  return {
    ...p.extra,
    id: p.id,
    name: p.name,
    domain_id: p.domainId,
    description: p.description,
    enabled: p.enabled,
    parent_id: p.parentId,
    is_domain: false,
    tags: p.tags,
    options: {},
    links: selfLink(ctx, `projects/${p.id}`),
  };
}

function filters(ctx: Ctx) {
  return {
    name: ctx.query.name as string | undefined,
    domainId: ctx.query.domain_id as string | undefined,
    enabled: boolQuery(ctx.query.enabled),
    parentId: ctx.query.parent_id as string | undefined,
    isDomain: boolQuery(ctx.query.is_domain),
  };
}

export function projectRoutes(router: Router<AppState, AppContext>, rt: IdentityRuntime): void {
  mount(router, {
    method: 'get',
    path: '/v3/projects',
    policy: policies.listProjects,
    errors: [],
    handler: async (ctx) => {
      const projects = await listProjects(ctx.deps.db, filters(ctx));
      ctx.body = { projects: projects.map((p) => projectView(ctx, p)), links: listLinks(ctx) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v3/projects',
    policy: policies.createProject,
    body: createSchema,
    errors: [404, 409],
    handler: async (ctx) => {
      const { project } = ctx.state.body as { project: { name: string } };
      const created = await createProject(ctx.deps.db, project, ctx.deps.config.identity.default_domain_id, ctx.deps.now());
      ctx.status = 201;
      ctx.body = { project: projectView(ctx, created) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/projects/:project_id',
    policy: policies.getProject,
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { project: projectView(ctx, await getProject(ctx.deps.db, ctx.params.project_id)) };
    },
  });
  mount(router, {
    method: 'patch',
    path: '/v3/projects/:project_id',
    policy: policies.updateProject,
    body: updateSchema,
    errors: [403, 404, 409],
    handler: async (ctx) => {
      const { project } = ctx.state.body as { project: Record<string, unknown> };
      const updated = await updateProject(ctx.deps.db, rt.revocations, ctx.params.project_id, project, ctx.deps.now());
      ctx.body = { project: projectView(ctx, updated) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v3/projects/:project_id',
    policy: policies.deleteProject,
    errors: [403, 404],
    handler: async (ctx) => {
      await deleteProject(ctx.deps.db, rt.revocations, ctx.params.project_id);
      ctx.status = 204;
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/users/:user_id/projects',
    policy: policies.listUserProjects,
    errors: [404],
    handler: async (ctx) => {
      const ids = await userProjectIds(ctx.deps.db, ctx.params.user_id);
      const projects = await listProjects(ctx.deps.db, { ...filters(ctx), ids });
      ctx.body = { projects: projects.map((p) => projectView(ctx, p)), links: listLinks(ctx) };
    },
  });
}
