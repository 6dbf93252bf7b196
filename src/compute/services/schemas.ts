import type { JsonSchema, VersionedSchema } from '../../common/validation.js';
import { fqdn, novaBoolean } from '../parameter-types.js';

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
