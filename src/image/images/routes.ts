import type Router from '@koa/router';
import type { AppContext, AppState, AuthContext, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { actorOf, policies, type Actor } from '../policy.js';
import { PATCH_TYPES, parsePatch } from './patch.js';
import {
  addTag,
  createImage,
  deleteImage,
  listImages,
  openImageData,
  removeTag,
  setActivation,
  showImage,
  updateImage,
  uploadImageData,
  type ImageDeps,
} from './service.js';
import { imageView } from './view.js';

export const depsOf = (ctx: Ctx): ImageDeps => ({
  db: ctx.deps.db,
  config: ctx.deps.config,
  now: ctx.deps.now,
  log: ctx.state.log,
});
export const actor = (ctx: Ctx): Actor => actorOf(ctx.state.auth as AuthContext);
const anyJson = {};

/** /v2/images and everything under it but the members. */
export function mountImageRoutes(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'post',
    path: '/v2/images',
    policy: policies.addImage,
    body: anyJson,
    errors: [400, 403, 409, 413],
    handler: async (ctx) => {
      const image = await createImage(depsOf(ctx), actor(ctx), ctx.state.body);
      ctx.status = 201;
      ctx.set('Location', `/v2/images/${image.id}`);
      ctx.body = imageView(image);
    },
  });

  mount(router, {
    method: 'get',
    path: '/v2/images',
    policy: policies.getImages,
    errors: [400],
    handler: async (ctx) => {
      const params = [...new URLSearchParams(ctx.querystring).entries()];
      const result = await listImages(depsOf(ctx), actor(ctx), params);
      ctx.body = {
        images: result.images.map(imageView),
        first: result.first,
        schema: '/v2/schemas/images',
        ...(result.next ? { next: result.next } : {}),
      };
    },
  });

  mount(router, {
    method: 'get',
    path: '/v2/images/:image_id',
    policy: policies.getImage,
    errors: [404],
    handler: async (ctx) => {
      ctx.body = imageView(await showImage(depsOf(ctx), actor(ctx), ctx.params.image_id));
    },
  });

  mount(router, {
    method: 'patch',
    path: '/v2/images/:image_id',
    policy: policies.modifyImage,
    contentTypes: Object.keys(PATCH_TYPES),
    body: anyJson,
    errors: [400, 403, 404, 409, 413],
    handler: async (ctx) => {
      const mediaType = ctx.get('content-type').split(';')[0].trim().toLowerCase();
      const changes = parsePatch(ctx.deps.config, ctx.state.body, mediaType);
      ctx.body = imageView(await updateImage(depsOf(ctx), actor(ctx), ctx.params.image_id, changes));
    },
  });

  mount(router, {
    method: 'delete',
    path: '/v2/images/:image_id',
    policy: policies.deleteImage,
    errors: [403, 404, 409],
    handler: async (ctx) => {
      await deleteImage(depsOf(ctx), actor(ctx), ctx.params.image_id);
      ctx.status = 204;
    },
  });

  // The upload reads the request itself (no body parsing, no [api] max_request_body_size).
  mount(router, {
    method: 'put',
    path: '/v2/images/:image_id/file',
    policy: policies.uploadImage,
    contentTypes: ['application/octet-stream'],
    errors: [400, 403, 404, 409, 410, 413, 415],
    handler: async (ctx) => {
      try {
        await uploadImageData(depsOf(ctx), actor(ctx), ctx.params.image_id, ctx.req, ctx.request.length);
      } catch (err) {
        // The rest of the body is not worth reading: answer, then close instead of draining it.
        if (!ctx.req.complete) ctx.set('Connection', 'close');
        throw err;
      }
      ctx.status = 204;
    },
  });

  mount(router, {
    method: 'get',
    path: '/v2/images/:image_id/file',
    policy: policies.downloadImage,
    errors: [403, 404],
    handler: async (ctx) => {
      const data = await openImageData(depsOf(ctx), actor(ctx), ctx.params.image_id);
      if (!data) {
        ctx.status = 204; // Glance: an image without data has no content
        return;
      }
      ctx.type = 'application/octet-stream';
      ctx.length = data.size;
      if (data.checksum) ctx.set('Content-MD5', data.checksum);
      ctx.body = data.stream;
    },
  });

  for (const method of ['put', 'delete'] as const) {
    mount(router, {
      method,
      path: '/v2/images/:image_id/tags/:tag',
      policy: policies.modifyImage,
      errors: [400, 403, 404, 413],
      handler: async (ctx) => {
        const f = method === 'put' ? addTag : removeTag;
        await f(depsOf(ctx), actor(ctx), ctx.params.image_id, ctx.params.tag);
        ctx.status = 204;
      },
    });
  }

  for (const action of ['deactivate', 'reactivate'] as const) {
    mount(router, {
      method: 'post',
      path: `/v2/images/:image_id/actions/${action}`,
      policy: policies[action],
      errors: [403, 404],
      handler: async (ctx) => {
        await setActivation(depsOf(ctx), actor(ctx), ctx.params.image_id, action);
        ctx.status = 204;
      },
    });
  }
}
