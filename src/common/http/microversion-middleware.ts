import type { Middleware } from 'koa';
import type { AppContext, AppState } from '../context.js';
import { microversionHeaders, negotiateMicroversion, type MicroversionPolicy } from '../microversion.js';

/** Negotiates the request's microversion (406 outside the range) and echoes it on the response, errors included. */
export function microversions(policy: MicroversionPolicy): Middleware<AppState, AppContext> {
  return async (ctx, next) => {
    const v = negotiateMicroversion(policy, (name) => ctx.get(name) || undefined);
    ctx.state.microversion = v;
    for (const [k, value] of Object.entries(microversionHeaders(policy, v))) ctx.set(k, value);
    await next();
  };
}
