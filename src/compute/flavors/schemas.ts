/** Request schemas of Nova's schemas/flavors.py, flavors_extraspecs.py and flavor_access.py (2.1–2.79). */
import type { JsonSchema, VersionedSchema } from '../../common/validation.js';
import { description, name, novaBoolean } from '../parameter-types.js';

const MAX_INT = 0x7fffffff;
// Integers may come as strings of digits (as Nova accepts); the range is checked again after conversion.
const positive: JsonSchema = {
  type: ['integer', 'string'],
  pattern: '^[0-9]+$',
  minimum: 1,
  maximum: MAX_INT,
};
const nonNegative: JsonSchema = { ...positive, minimum: 0 };

const flavorProps = (withDescription: boolean): Record<string, JsonSchema> => ({
  name,
  id: {
    type: ['string', 'number', 'null'],
    minLength: 1,
    maxLength: 255,
    pattern: '^(?! )[a-zA-Z0-9. _-]+(?<! )$',
  },
  ram: positive,
  vcpus: positive,
  disk: nonNegative,
  'OS-FLV-EXT-DATA:ephemeral': nonNegative,
  swap: nonNegative,
  rxtx_factor: {
    type: ['number', 'string'],
    pattern: '^[0-9]+(\\.[0-9]+)?$',
    exclusiveMinimum: 0,
    maximum: 3.40282e38,
  },
  'os-flavor-access:is_public': novaBoolean,
  ...(withDescription ? { description } : {}),
});

const createBody = (withDescription: boolean): JsonSchema => ({
  type: 'object',
  properties: {
    flavor: {
      type: 'object',
      properties: flavorProps(withDescription),
      required: ['name', 'ram', 'vcpus', 'disk'],
      additionalProperties: false,
    },
  },
  required: ['flavor'],
  additionalProperties: false,
});

export const createSchema: VersionedSchema[] = [
  { max: '2.54', schema: createBody(false) },
  { min: '2.55', schema: createBody(true) },
];

/** PUT /flavors/{id} exists from 2.55: the description only. */
export const updateSchema: VersionedSchema[] = [
  {
    min: '2.55',
    schema: {
      type: 'object',
      properties: {
        flavor: {
          type: 'object',
          properties: { description },
          required: ['description'],
          additionalProperties: false,
        },
      },
      required: ['flavor'],
      additionalProperties: false,
    },
  },
];

const SPEC_KEY = '^[a-zA-Z0-9-_:. ]{1,255}$';
/** Extra spec values are strings, numbers accepted and stored as strings (Nova's flavors_extraspecs). */
const specs: JsonSchema = {
  type: 'object',
  patternProperties: { [SPEC_KEY]: { type: ['string', 'number'], maxLength: 255 } },
  additionalProperties: false,
};
export const extraSpecsCreateSchema: JsonSchema = {
  type: 'object',
  properties: { extra_specs: specs },
  required: ['extra_specs'],
  additionalProperties: false,
};
export const extraSpecUpdateSchema: JsonSchema = { ...specs, minProperties: 1, maxProperties: 1 };

const access = (action: string): JsonSchema => ({
  type: 'object',
  properties: {
    [action]: {
      type: 'object',
      properties: { tenant: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[a-zA-Z0-9-_]*$' } },
      required: ['tenant'],
      additionalProperties: false,
    },
  },
  required: [action],
  additionalProperties: false,
});
/** POST /flavors/{id}/action: addTenantAccess or removeTenantAccess. */
export const actionSchema: JsonSchema = { oneOf: [access('addTenantAccess'), access('removeTenantAccess')] };

export const SORT_KEYS = [
  'created_at',
  'description',
  'disabled',
  'ephemeral_gb',
  'flavorid',
  'id',
  'is_public',
  'memory_mb',
  'name',
  'root_gb',
  'rxtx_factor',
  'swap',
  'updated_at',
  'vcpu_weight',
  'vcpus',
];
