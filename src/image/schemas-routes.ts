import type Router from '@koa/router';
import type { AppContext, AppState } from '../common/context.js';
import { mount } from '../common/http/route.js';
import { collectionSchema, imageSchemaFor, memberSchema } from './images/schemas.js';
import { policies } from './policy.js';

/** GET /v2/schemas/{image,images,member,members}: the JSON schemas glanceclient builds its requests from. */
export function mountSchemaRoutes(router: Router<AppState, AppContext>): void {
  const schemas = {
    image: (c: AppContext['deps']['config']) => imageSchemaFor(c),
    images: (c: AppContext['deps']['config']) => collectionSchema('images', imageSchemaFor(c)),
    member: () => memberSchema,
    members: () => collectionSchema('members', memberSchema),
  };
  for (const [name, schema] of Object.entries(schemas)) {
    mount(router, {
      method: 'get',
      path: `/v2/schemas/${name}`,
      policy: policies.schemas,
      errors: [],
      handler: (ctx) => {
        ctx.body = schema(ctx.deps.config);
      },
    });
  }
}
