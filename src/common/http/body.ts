import getRawBody from 'raw-body';
import { BadRequest, PayloadTooLarge, UnsupportedMediaType } from '../errors.js';
import type { Ctx } from '../context.js';

const JSON_TYPES = /^application\/(json|[\w.+-]+\+json|openstack-images-v2\.\d+-json-patch)\b/i;

/**
 * Reads and parses a JSON request body. Oversized bodies are refused with 413 before they are read whole
 * (Content-Length) or as soon as the limit is crossed (chunked); malformed JSON is a 400. A body of another
 * media type is a 415 unless the route's own contentTypes list has already been checked (opts.typeChecked).
 */
export async function readJsonBody(
  ctx: Ctx,
  limit: number,
  opts: { typeChecked?: boolean } = {},
): Promise<unknown> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit) throw tooLarge(limit);
  const type = ctx.get('content-type');
  let raw: string;
  try {
    raw = await getRawBody(ctx.req, { limit, encoding: 'utf8', length: declared });
  } catch (err) {
    const e = err as { type?: string; status?: number };
    if (e.type === 'entity.too.large') throw tooLarge(limit);
    throw new BadRequest('The request body could not be read.');
  }
  if (raw.trim() === '') return undefined;
  // A route that lists its own media types has checked them already (route.ts contentTypes).
  if (type && !opts.typeChecked && !JSON_TYPES.test(type))
    throw new UnsupportedMediaType(`Unsupported Content-Type: ${type.split(';')[0]}`);
  try {
    return JSON.parse(raw);
  } catch {
    throw new BadRequest('Malformed request body: the body is not valid JSON.');
  }
}

function tooLarge(limit: number): PayloadTooLarge {
  return new PayloadTooLarge(`Request is too large: the body exceeds the limit of ${limit} bytes.`);
}
