import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { BadRequest } from './errors.js';
import type { Microversion } from './microversion.js';

export type JsonSchema = Record<string, unknown>;

/** A request schema per microversion range, as Nova's @validation.schema(min_version=, max_version=). */
export interface VersionedSchema {
  min?: string;
  max?: string;
  schema: JsonSchema;
}

const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false, useDefaults: false });
addFormats.default(ajv);
const compiled = new WeakMap<JsonSchema, ValidateFunction>();

function compile(schema: JsonSchema): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

/** Picks the schema for the request's microversion; none matching means the action does not exist there. */
export function schemaFor(
  schemas: JsonSchema | VersionedSchema[],
  version?: Microversion,
): JsonSchema | null {
  if (!Array.isArray(schemas)) return schemas;
  const hit = schemas.find((s) => !version || version.within(s.min, s.max));
  return hit ? hit.schema : null;
}

/** Validates, or throws 400 with a message in the style of OpenStack's jsonschema validators. */
export function validate(schema: JsonSchema, value: unknown): void {
  const fn = compile(schema);
  if (!fn(value)) throw new BadRequest(describe(fn.errors?.[0], value));
}

function describe(err: ErrorObject | undefined, root: unknown): string {
  if (!err) return 'Invalid input.';
  const path = err.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const field = path.length ? path.join('/') : '(request body)';
  let detail: string;
  switch (err.keyword) {
    case 'additionalProperties':
      detail = `Additional properties are not allowed ('${(err.params as { additionalProperty: string }).additionalProperty}' was unexpected)`;
      break;
    case 'required':
      detail = `'${(err.params as { missingProperty: string }).missingProperty}' is a required property`;
      break;
    case 'type':
      detail = `${JSON.stringify(valueAt(root, path))} is not of type '${(err.params as { type: string }).type}'`;
      break;
    case 'enum':
      detail = `${JSON.stringify(valueAt(root, path))} is not one of ${JSON.stringify((err.params as { allowedValues: unknown[] }).allowedValues)}`;
      break;
    default:
      detail = `${JSON.stringify(valueAt(root, path))} ${err.message ?? 'is invalid'}`;
  }
  return `Invalid input for field '${field}': ${detail}`;
}

function valueAt(root: unknown, path: string[]): unknown {
  let v: unknown = root;
  for (const p of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

// Reusable schema pieces.
export const nonEmptyString = (maxLength = 255): JsonSchema => ({ type: 'string', minLength: 1, maxLength });
export const nullableString = (maxLength = 255): JsonSchema => ({ type: ['string', 'null'], maxLength });
export const booleanSchema: JsonSchema = { type: 'boolean' };
export const idSchema: JsonSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9_\\-]+$',
};
