import type { Ctx } from '../common/context.js';

/** Base of Keystone v3 links, e.g. http://host:5000/identity/v3. */
export const v3Base = (ctx: Ctx): string => `${ctx.deps.config.api.public_url}/identity/v3`;

export const selfLink = (ctx: Ctx, path: string): { self: string } => ({ self: `${v3Base(ctx)}/${path}` });

/** Keystone list "links": the request itself, no paging. */
export function listLinks(ctx: Ctx): { self: string; previous: null; next: null } {
  return { self: `${ctx.deps.config.api.public_url}${ctx.originalUrl}`, previous: null, next: null };
}

/** Query filters Keystone accepts on lists: a value, or "true"/"false" for booleans. */
export function boolQuery(value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  return !/^(0|false|no|off)$/i.test(String(value));
}
