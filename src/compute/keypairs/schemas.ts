/** Request schemas of Nova's schemas/keypairs.py (2.1–2.79: before 2.92's stricter names). */
import type { JsonSchema, VersionedSchema } from '../../common/validation.js';

/** Nova's keypair_name_special_chars: printable without edge whitespace, and only [_- a-zA-Z0-9]. */
const name: JsonSchema = {
  allOf: [
    { type: 'string', minLength: 1, maxLength: 255, pattern: '^(?!\\s)[^\\x00-\\x1f\\x7f]*(?<!\\s)$' },
    { type: 'string', minLength: 1, maxLength: 255, pattern: '^[_\\- a-zA-Z0-9]+$' },
  ],
};

const body = (extra: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  properties: {
    keypair: {
      type: 'object',
      properties: { name, public_key: { type: 'string' }, ...extra },
      required: ['name'],
      additionalProperties: false,
    },
  },
  required: ['keypair'],
  additionalProperties: false,
});

const type: JsonSchema = { type: 'string', enum: ['ssh', 'x509'] };

export const createSchema: VersionedSchema[] = [
  { max: '2.1', schema: body({}) },
  { min: '2.2', max: '2.9', schema: body({ type }) },
  { min: '2.10', schema: body({ type, user_id: { type: 'string' } }) },
];
