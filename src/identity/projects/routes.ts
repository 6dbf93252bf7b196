import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { nullableString, type JsonSchema } from '../../common/validation.js';
import { boolQuery, listLinks, selfLink, v3Base } from '../links.js';
import { policies } from '../policy.js';
import type { IdentityRuntime } from '../runtime.js';
import { userProjectIds } from '../role-assignments/service.js';
import { deleteDomain, updateDomain, type Domain } from '../domains/service.js';
import {
  addProjectTag,
  checkProjectTag,
  createProject,
  createProjectActingAsDomain,
  deleteProject,
  getProject,
  getProjectOrDomain,
  listDomainsAsProjects,
  listProjects,
  removeProjectTag,
  setProjectTags,
  updateProject,
  type Project,
  type ProjectFilter,
  type ProjectInput,
} from './service.js';

const projectProps: JsonSchema = {
  name: { type: 'string', minLength: 1, maxLength: 64 },
  description: nullableString(65535),
  domain_id: { type: ['string', 'null'], minLength: 1, maxLength: 64 },
  parent_id: { type: ['string', 'null'], minLength: 1, maxLength: 64 },
  enabled: { type: 'boolean' },
  is_domain: { type: 'boolean' },
  tags: {
    type: 'array',
    maxItems: 80,
    items: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^,/]*$' },
  },
  options: { type: 'object' },
};
const createSchema: JsonSchema = {
  type: 'object',
  properties: {
    project: { type: 'object', properties: projectProps, required: ['name'], additionalProperties: true },
  },
  required: ['project'],
  additionalProperties: false,
};
const updateSchema: JsonSchema = {
  type: 'object',
  properties: {
    project: { type: 'object', properties: projectProps, minProperties: 1, additionalProperties: true },
  },
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

/** A domain seen through the projects API: Keystone's project acting as a domain. */
export function domainAsProjectView(ctx: Ctx, d: Domain): Record<string, unknown> {
  return {
    ...d.extra,
    id: d.id,
    name: d.name,
    domain_id: null,
    description: d.description ?? '',
    enabled: d.enabled,
    parent_id: null,
    is_domain: true,
    tags: [],
    options: {},
    links: selfLink(ctx, `projects/${d.id}`),
  };
}

const tagList = (v: unknown): string[] | undefined =>
  typeof v === 'string' ? v.split(',').filter((t) => t !== '') : undefined;

function filters(ctx: Ctx): ProjectFilter {
  return {
    name: ctx.query.name as string | undefined,
    domainId: ctx.query.domain_id as string | undefined,
    enabled: boolQuery(ctx.query.enabled),
    parentId: ctx.query.parent_id as string | undefined,
    isDomain: boolQuery(ctx.query.is_domain),
    tags: tagList(ctx.query.tags),
    tagsAny: tagList(ctx.query['tags-any']),
    notTags: tagList(ctx.query['not-tags']),
    notTagsAny: tagList(ctx.query['not-tags-any']),
  };
}

/** Projects matching the filters; with is_domain=true, the domains. */
async function listView(ctx: Ctx, f: ProjectFilter): Promise<Record<string, unknown>[]> {
  if (f.isDomain === true)
    return (await listDomainsAsProjects(ctx.deps.db, f)).map((d) => domainAsProjectView(ctx, d));
  return (await listProjects(ctx.deps.db, f)).map((p) => projectView(ctx, p));
}

const tagsSchema: JsonSchema = {
  type: 'object',
  properties: { tags: projectProps.tags },
  required: ['tags'],
  additionalProperties: false,
};

export function projectRoutes(router: Router<AppState, AppContext>, rt: IdentityRuntime): void {
  mount(router, {
    method: 'get',
    path: '/v3/projects',
    policy: policies.listProjects,
    errors: [],
    handler: async (ctx) => {
      ctx.body = { projects: await listView(ctx, filters(ctx)), links: listLinks(ctx) };
    },
  });
  mount(router, {
    method: 'post',
    path: '/v3/projects',
    policy: policies.createProject,
    body: createSchema,
    errors: [404, 409],
    handler: async (ctx) => {
      const { project } = ctx.state.body as { project: ProjectInput };
      ctx.status = 201;
      if (project.is_domain) {
        ctx.body = {
          project: domainAsProjectView(
            ctx,
            await createProjectActingAsDomain(ctx.deps.db, project, ctx.deps.now()),
          ),
        };
        return;
      }
      const created = await createProject(
        ctx.deps.db,
        project,
        ctx.deps.config.identity.default_domain_id,
        ctx.deps.now(),
      );
      ctx.body = { project: projectView(ctx, created) };
    },
  });
  mount(router, {
    method: 'get',
    path: '/v3/projects/:project_id',
    policy: policies.getProject,
    errors: [404],
    handler: async (ctx) => {
      const found = await getProjectOrDomain(ctx.deps.db, ctx.params.project_id);
      ctx.body = {
        project:
          found.kind === 'project' ? projectView(ctx, found.project) : domainAsProjectView(ctx, found.domain),
      };
    },
  });
  mount(router, {
    method: 'patch',
    path: '/v3/projects/:project_id',
    policy: policies.updateProject,
    body: updateSchema,
    errors: [403, 404, 409],
    handler: async (ctx) => {
      const { project } = ctx.state.body as { project: ProjectInput };
      const id = ctx.params.project_id;
      if ((await getProjectOrDomain(ctx.deps.db, id)).kind === 'domain') {
        const { domain_id: _d, parent_id: _p, is_domain: _i, tags: _t, options: _o, ...patch } = project;
        ctx.body = {
          project: domainAsProjectView(ctx, await updateDomain(ctx.deps.db, rt.revocations, id, patch)),
        };
        return;
      }
      const updated = await updateProject(ctx.deps.db, rt.revocations, id, project, ctx.deps.now());
      ctx.body = { project: projectView(ctx, updated) };
    },
  });
  mount(router, {
    method: 'delete',
    path: '/v3/projects/:project_id',
    policy: policies.deleteProject,
    errors: [403, 404],
    handler: async (ctx) => {
      const id = ctx.params.project_id;
      if ((await getProjectOrDomain(ctx.deps.db, id)).kind === 'domain') {
        await deleteDomain(ctx.deps.db, rt.revocations, id, ctx.deps.config.identity.default_domain_id);
      } else {
        await deleteProject(ctx.deps.db, rt.revocations, id);
      }
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
      ctx.body = { projects: await listView(ctx, { ...filters(ctx), ids }), links: listLinks(ctx) };
    },
  });
  // Project tags
  const tags = '/v3/projects/:project_id/tags';
  mount(router, {
    method: 'get',
    path: tags,
    policy: policies.listProjectTags,
    errors: [404],
    handler: async (ctx) => {
      ctx.body = { tags: (await getProject(ctx.deps.db, ctx.params.project_id)).tags };
    },
  });
  mount(router, {
    method: 'put',
    path: tags,
    policy: policies.updateProjectTags,
    body: tagsSchema,
    errors: [404],
    handler: async (ctx) => {
      const { tags: wanted } = ctx.state.body as { tags: string[] };
      ctx.body = { tags: await setProjectTags(ctx.deps.db, ctx.params.project_id, wanted, ctx.deps.now()) };
    },
  });
  mount(router, {
    method: 'delete',
    path: tags,
    policy: policies.deleteProjectTags,
    errors: [404],
    handler: async (ctx) => {
      await setProjectTags(ctx.deps.db, ctx.params.project_id, [], ctx.deps.now());
      ctx.status = 204;
    },
  });
  mount(router, {
    method: 'put',
    path: `${tags}/:tag`,
    policy: policies.createProjectTag,
    errors: [404],
    handler: async (ctx) => {
      await addProjectTag(ctx.deps.db, ctx.params.project_id, ctx.params.tag, ctx.deps.now());
      ctx.status = 201; // Keystone: an empty body and the tag's URL
      ctx.set(
        'Location',
        `${v3Base(ctx)}/projects/${ctx.params.project_id}/tags/${encodeURIComponent(ctx.params.tag)}`,
      );
      ctx.body = '';
    },
  });
  for (const method of ['head', 'get'] as const) {
    mount(router, {
      method,
      path: `${tags}/:tag`,
      policy: policies.getProjectTag,
      errors: [404],
      handler: async (ctx) => {
        await checkProjectTag(ctx.deps.db, ctx.params.project_id, ctx.params.tag);
        ctx.status = 204;
      },
    });
  }
  mount(router, {
    method: 'delete',
    path: `${tags}/:tag`,
    policy: policies.deleteProjectTag,
    errors: [404],
    handler: async (ctx) => {
      await removeProjectTag(ctx.deps.db, ctx.params.project_id, ctx.params.tag, ctx.deps.now());
      ctx.status = 204;
    },
  });
}
