import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { isoMicrosFromMicros } from '../../common/time.js';
import type { JsonSchema } from '../../common/validation.js';
import { listLinks, selfLink } from '../links.js';
import { policies } from '../policy.js';
import type { IdentityRuntime } from '../runtime.js';
import {
  createApplicationCredential,
  deleteApplicationCredential,
  getApplicationCredential,
  listApplicationCredentials,
  type ApplicationCredential,
  type ApplicationCredentialInput,
} from './service.js';

// As Keystone's schema: unknown fields are refused here (additionalProperties false).
const createSchema: JsonSchema = {
  type: 'object',
  properties: {
    application_credential: {
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 255 },
        description: { type: ['string', 'null'] },
        secret: { type: ['string', 'null'] },
        expires_at: { type: ['string', 'null'] },
        roles: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              name: { type: 'string' },
              domain_id: { type: ['string', 'null'] },
            },
            minProperties: 1,
            additionalProperties: false,
          },
        },
        unrestricted: { type: ['boolean', 'null'] },
        access_rules: { type: 'array', maxItems: 0 },
      },
      required: ['name'],
      additionalProperties: false,
    },
  },
  required: ['application_credential'],
  additionalProperties: false,
};

export function appCredView(ctx: Ctx, c: ApplicationCredential, secret?: string): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    description: c.description,
    user_id: c.userId,
    project_id: c.projectId,
    expires_at: c.expiresAtUs === null ? null : isoMicrosFromMicros(c.expiresAtUs),
    unrestricted: c.unrestricted,
    system: null,
    roles: c.roles.map((r) => ({ id: r.id, name: r.name, domain_id: null })),
    access_rules: [],
    ...(secret !== undefined ? { secret } : {}),
    links: selfLink(ctx, `users/${c.userId}/application_credentials/${c.id}`),
  };
}

export function applicationCredentialRoutes(router: Router<AppState, AppContext>, rt: IdentityRuntime): void {
  const base = '/v3/users/:user_id/application_credentials';
  mount(router, {
    method: 'post',
    path: base,
    policy: policies.createApplicationCredential,
    body: createSchema,
    errors: [404, 409],
    handler: async (ctx) => {
      const { application_credential: input } = ctx.state.body as {
        application_credential: ApplicationCredentialInput;
      };
      const { credential, secret } = await createApplicationCredential(
        ctx.deps.db,
        rt.passwords,
        ctx.state.auth!,
        ctx.params.user_id,
        input,
        ctx.deps.now(),
      );
      ctx.status = 201;
      ctx.body = { application_credential: appCredView(ctx, credential, secret) };
    },
  });
  mount(router, {
    method: 'get',
    path: base,
    policy: policies.listApplicationCredentials,
    errors: [404],
    handler: async (ctx) => {
      const list = await listApplicationCredentials(
        ctx.deps.db,
        ctx.params.user_id,
        ctx.query.name as string | undefined,
      );
      ctx.body = { application_credentials: list.map((c) => appCredView(ctx, c)), links: listLinks(ctx) };
    },
  });
  mount(router, {
    method: 'get',
    path: `${base}/:credential_id`,
    policy: policies.getApplicationCredential,
    errors: [404],
    handler: async (ctx) => {
      ctx.body = {
        application_credential: appCredView(
          ctx,
          await getApplicationCredential(ctx.deps.db, ctx.params.user_id, ctx.params.credential_id),
        ),
      };
    },
  });
  mount(router, {
    method: 'delete',
    path: `${base}/:credential_id`,
    policy: policies.deleteApplicationCredential,
    errors: [404],
    handler: async (ctx) => {
      await deleteApplicationCredential(
        ctx.deps.db,
        rt.revocations,
        ctx.state.auth!,
        ctx.params.user_id,
        ctx.params.credential_id,
      );
      ctx.status = 204;
    },
  });
}
