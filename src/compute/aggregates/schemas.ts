import type { JsonSchema } from '../../common/validation.js';
import { fqdn } from '../parameter-types.js';

/** Nova's parameter_types.name / az_name: printable, no leading or trailing whitespace (az: no ':'). */
const name: JsonSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 255,
  pattern: '^(?!\\s)[^\\x00-\\x1f]*(?<!\\s)$',
};
const azName: JsonSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 255,
  pattern: '^(?!\\s)[^\\x00-\\x1f:]*(?<!\\s)$',
};
const az: JsonSchema = { oneOf: [azName, { type: 'null' }] };

export const createSchema: JsonSchema = {
  type: 'object',
  properties: {
    aggregate: {
      type: 'object',
      properties: { name, availability_zone: az },
      required: ['name'],
      additionalProperties: false,
    },
  },
  required: ['aggregate'],
  additionalProperties: false,
};

export const updateSchema: JsonSchema = {
  type: 'object',
  properties: {
    aggregate: {
      type: 'object',
      properties: { name, availability_zone: az },
      additionalProperties: false,
      anyOf: [{ required: ['name'] }, { required: ['availability_zone'] }],
    },
  },
  required: ['aggregate'],
  additionalProperties: false,
};

const hostAction = (action: string): JsonSchema => ({
  type: 'object',
  properties: {
    [action]: {
      type: 'object',
      properties: { host: fqdn },
      required: ['host'],
      additionalProperties: false,
    },
  },
  required: [action],
  additionalProperties: false,
});

/** POST /os-aggregates/{id}/action: exactly one of Nova's three actions. */
export const actionSchema: JsonSchema = {
  oneOf: [
    hostAction('add_host'),
    hostAction('remove_host'),
    {
      type: 'object',
      properties: {
        set_metadata: {
          type: 'object',
          properties: {
            // Nova's metadata_with_null
            metadata: {
              type: 'object',
              patternProperties: {
                '^[a-zA-Z0-9-_:. ]{1,255}$': { type: ['string', 'null'], maxLength: 255 },
              },
              additionalProperties: false,
            },
          },
          required: ['metadata'],
          additionalProperties: false,
        },
      },
      required: ['set_metadata'],
      additionalProperties: false,
    },
  ],
};
