import type { JsonSchema, VersionedSchema } from '../../common/validation.js';

/** Nova's parameter_types.fqdn and .boolean (strings such as "yes"/"off" are booleans too). */
export const fqdn: JsonSchema = {
  type: 'string',
  pattern: '^[a-zA-Z0-9-._]*$',
  minLength: 1,
  maxLength: 255,
};
export const novaBoolean: JsonSchema = {
  type: ['boolean', 'string'],
  enum: [
    true,
    'True',
    'TRUE',
    'true',
    '1',
    'ON',
    'On',
    'on',
    'YES',
    'Yes',
    'yes',
    false,
    'False',
    'FALSE',
    'false',
    '0',
    'OFF',
    'Off',
    'off',
    'NO',
    'No',
    'no',
  ],
};
export const boolFromNova = (v: unknown): boolean =>
  v === true || (typeof v === 'string' && ['true', '1', 'on', 'yes'].includes(v.toLowerCase()));

const reason: JsonSchema = { type: 'string', minLength: 1, maxLength: 255 };
const update: JsonSchema = {
  type: 'object',
  properties: {
    host: fqdn,
    binary: { type: 'string', minLength: 1, maxLength: 255 },
    disabled_reason: reason,
  },
  required: ['host', 'binary'],
  additionalProperties: false,
};
const updateV211: JsonSchema = {
  ...update,
  properties: { ...(update.properties as object), forced_down: novaBoolean },
};
const updateV253: JsonSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['enabled', 'disabled'] },
    disabled_reason: reason,
    forced_down: novaBoolean,
  },
  additionalProperties: false,
};

/** PUT /os-services/{action|id}, as Nova's schemas/services.py. */
export const updateSchemas: VersionedSchema[] = [
  { max: '2.10', schema: update },
  { min: '2.11', max: '2.52', schema: updateV211 },
  { min: '2.53', schema: updateV253 },
];
