import type { Middleware } from 'koa';
import { ApiError, InternalError } from '../errors.js';
import type { AppContext, AppState } from '../context.js';
import { renderKeystoneError } from './renderers.js';

/**
 * Renders every error in the native body of the service that owns the route. 401 always has Keystone's body,
 * as keystonemiddleware sends it for every service. Anything that is not an ApiError is a 500 whose details
 * stay in the log (with the request id), never in the response.
 */
export const renderErrors: Middleware<AppState, AppContext> = async (ctx, next) => {
  try {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) throw notFoundRoute();
    if (ctx.status === 405 && ctx.body === undefined) throw methodNotAllowed(ctx.method);
  } catch (thrown) {
    let err: ApiError;
    if (thrown instanceof ApiError) {
      err = thrown;
    } else {
      ctx.state.log.error({ err: thrown }, 'unexpected error');
      err = new InternalError('An unexpected error prevented the server from fulfilling your request.');
    }
    if (err.status >= 500) ctx.state.log.error({ err }, 'server error');
    const render =
      err.status === 401 ? renderKeystoneError : (ctx.state.service?.renderError ?? renderKeystoneError);
    const out = render(err.status, err.message, err);
    ctx.status = err.status;
    if (err.status === 401) {
      ctx.set('WWW-Authenticate', `Keystone uri="${ctx.deps.config.api.public_url}/identity"`);
    }
    for (const [k, v] of Object.entries(err.headers ?? {})) ctx.set(k, v);
    ctx.body = out.body;
    if (out.contentType) ctx.type = out.contentType;
  }
};

class RouteNotFound extends ApiError {
  readonly status = 404;
}
class RouteMethodNotAllowed extends ApiError {
  readonly status = 405;
}

function notFoundRoute(): ApiError {
  return new RouteNotFound('The resource could not be found.', { type: 'HTTPNotFound' });
}
function methodNotAllowed(method: string): ApiError {
  return new RouteMethodNotAllowed(`The method ${method} is not allowed for this resource.`, {
    type: 'HTTPMethodNotAllowed',
  });
}
