/**
 * Request attribute checks with Neutron's messages ("Invalid input for mtu. Reason: 'x' is not an integer.").
 * `parseAttrs(body, spec)` converts the attributes present, rejects unknown ones ("Unrecognized attribute(s)
 * 'x'") and never fills defaults: the service decides those.
 */
import { badRequest, invalidAttribute } from './errors.js';

export type Attr = (v: unknown, name: string) => unknown;

const repr = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

export const str =
  (max = 255): Attr =>
  (v, name) => {
    if (typeof v !== 'string') throw invalidAttribute(name, `'${repr(v)}' is not a valid string`);
    if (v.length > max) throw invalidAttribute(name, `'${v}' exceeds maximum length of ${max}`);
    return v;
  };

/** neutron-lib convert_to_boolean. */
export const bool: Attr = (v, name) => {
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === 'string' && /^(true|false|0|1)$/i.test(v)) return /^(true|1)$/i.test(v);
  throw invalidAttribute(name, `'${repr(v)}' cannot be converted to boolean`);
};

export const int =
  (min?: number, max?: number): Attr =>
  (v, name) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n)) throw invalidAttribute(name, `'${repr(v)}' is not an integer`);
    if (min !== undefined && n < min)
      throw invalidAttribute(name, `'${n}' is too small - must be at least '${min}'`);
    if (max !== undefined && n > max)
      throw invalidAttribute(name, `'${n}' is too large - must be no larger than '${max}'`);
    return n;
  };

export const nullable =
  (inner: Attr): Attr =>
  (v, name) =>
    v === null ? null : inner(v, name);

export const list =
  (item: Attr): Attr =>
  (v, name) => {
    if (!Array.isArray(v)) throw invalidAttribute(name, `'${repr(v)}' is not a list`);
    return v.map((x) => item(x, name));
  };

export const dict: Attr = (v, name) => {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw invalidAttribute(name, `'${repr(v)}' is not a dictionary`);
  return v;
};

export const any: Attr = (v) => v;

/** The resource's attributes from the request body, converted; unknown keys are a 400 as in Neutron. */
export function parseAttrs(
  body: Record<string, unknown>,
  spec: Record<string, Attr>,
): Record<string, unknown> {
  const unknown = Object.keys(body).filter((k) => !(k in spec));
  if (unknown.length) throw badRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) out[k] = spec[k](v, k);
  return out;
}

/** The request body's single resource object: {"network": {...}}. */
export function resourceBody(body: unknown, resource: string): Record<string, unknown> {
  const inner = (body as Record<string, unknown> | undefined)?.[resource];
  if (!inner || typeof inner !== 'object' || Array.isArray(inner)) throw badRequest(`Resource body required`);
  return inner as Record<string, unknown>;
}

/** The request's resources: the single one (`{"network": {...}}`) or the bulk list (`{"networks": [...]}`). */
export function createBodies(
  body: unknown,
  one: string,
  many: string,
): { bulk: boolean; raw: Record<string, unknown>[] } {
  const b = body as Record<string, unknown> | undefined;
  const bulk = Array.isArray(b?.[many]);
  const raw = bulk ? (b?.[many] as unknown[]) : [resourceBody(b, one)];
  if (bulk && !raw.length) throw badRequest('Resources required');
  for (const r of raw)
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw badRequest('Resource body required');
  return { bulk, raw: raw as Record<string, unknown>[] };
}
