import type Router from '@koa/router';
import type { Middleware } from 'koa';
import {
  ApiError,
  BadRequest,
  Forbidden,
  InternalError,
  Unauthorized,
  UnsupportedMediaType,
} from '../errors.js';
import type { AppContext, AppState, AuthContext, Ctx } from '../context.js';

type RouteMiddleware = Middleware<AppState, AppContext & { params: Record<string, string> }>;
import { schemaFor, validate, type JsonSchema, type VersionedSchema } from '../validation.js';
import { readJsonBody } from './body.js';

/** A policy rule: a name shown in 403 messages (as Keystone's "identity:get_project") and its check. */
export interface PolicyRule {
  name: string;
  check: (auth: AuthContext, ctx: Ctx) => boolean;
}

export type Method = 'get' | 'head' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteSpec {
  method: Method;
  path: string;
  /** 'token' (default): X-Auth-Token must be valid. 'none': public route (version documents, auth). */
  auth?: 'token' | 'none';
  /** Required for token routes: there is no route without an explicit policy. */
  policy?: PolicyRule;
  /** JSON body schema (or one per microversion range). Routes without one get no body parsing. */
  body?: JsonSchema | VersionedSchema[];
  /** Whether the body may be absent (validated only when present). */
  bodyOptional?: boolean;
  /**
   * The media types this route accepts (e.g. Glance's PATCH takes only its json-patch types, its upload only
   * application/octet-stream): any other Content-Type, or none, is a 415 before the body is read. Unset: JSON
   * bodies as everywhere else.
   */
  contentTypes?: string[];
  /**
   * The error statuses this handler may raise besides the chain's own (400 body, 401 auth, 403 policy, 413 size),
   * as Nova's expected_errors: anything else is a bug and becomes a 500 with the request id in the log.
   */
  errors: number[];
  handler: (ctx: Ctx) => Promise<void> | void;
}

const CHAIN_ERRORS = [400, 401, 403, 406, 413, 415];

/** Mounts one route as the chain auth → policy → validate → handler. */
export function mount(router: Router<AppState, AppContext>, spec: RouteSpec): void {
  const chain: RouteMiddleware[] = [];
  if ((spec.auth ?? 'token') === 'token') {
    if (!spec.policy) throw new Error(`route ${spec.method.toUpperCase()} ${spec.path} has no policy`);
    chain.push(authenticate, authorize(spec.policy));
  }
  if (spec.contentTypes) chain.push(checkContentType(spec.contentTypes));
  if (spec.body) chain.push(parseBody(spec.body, spec.bodyOptional ?? false, !!spec.contentTypes));
  chain.push(expectErrors(spec));
  // @koa/router's context carries params; its typings do not know our Ctx, hence the cast.
  (router[spec.method] as (path: string, ...mw: RouteMiddleware[]) => unknown).call(
    router,
    spec.path,
    ...chain,
  );
}

/** Validates X-Auth-Token (no DB read) and stores who is calling in ctx.state.auth. */
export const authenticate: RouteMiddleware = async (ctx, next) => {
  const token = ctx.get('x-auth-token');
  if (!token) throw new Unauthorized('The request you have made requires authentication.');
  ctx.state.auth = await ctx.deps.tokens.validate(token);
  ctx.state.log = ctx.state.log.child({
    user_id: ctx.state.auth.userId,
    project_id: ctx.state.auth.projectId,
  });
  await next();
};

function authorize(rule: PolicyRule): RouteMiddleware {
  return async (ctx, next) => {
    if (!rule.check(ctx.state.auth as AuthContext, ctx)) throw policyDenied(rule.name);
    await next();
  };
}

export function policyDenied(ruleName: string): Forbidden {
  return new Forbidden(`You are not authorized to perform the requested action: ${ruleName}.`);
}

function checkContentType(types: string[]): RouteMiddleware {
  const accepted = new Set(types.map((t) => t.toLowerCase()));
  return async (ctx, next) => {
    const type = (ctx.get('content-type').split(';')[0] ?? '').trim().toLowerCase();
    if (!accepted.has(type)) {
      throw new UnsupportedMediaType(
        `Unsupported Content-Type: ${type || '(none)'}; expected one of: ${[...accepted].sort().join(', ')}`,
      );
    }
    await next();
  };
}

function parseBody(
  schemas: JsonSchema | VersionedSchema[],
  optional: boolean,
  typeChecked: boolean,
): RouteMiddleware {
  return async (ctx, next) => {
    const body = await readJsonBody(ctx, ctx.deps.config.api.max_request_body_size, { typeChecked });
    const schema = schemaFor(schemas, ctx.state.microversion);
    if (!schema) throw new BadRequest('This action is not supported at the requested microversion.');
    if (body === undefined) {
      if (!optional) throw new BadRequest('The request body is empty: a JSON body is required.');
    } else {
      validate(schema, body);
    }
    ctx.state.body = body;
    await next();
  };
}

function expectErrors(spec: RouteSpec): RouteMiddleware {
  const allowed = new Set([...CHAIN_ERRORS, ...spec.errors]);
  return async (ctx) => {
    try {
      await spec.handler(ctx);
    } catch (err) {
      if (err instanceof ApiError && !allowed.has(err.status)) {
        ctx.state.log.error(
          { err, route: `${spec.method.toUpperCase()} ${spec.path}` },
          `handler raised an undeclared ${err.status}`,
        );
        throw new InternalError('An unexpected error prevented the server from fulfilling your request.');
      }
      throw err;
    }
  };
}
