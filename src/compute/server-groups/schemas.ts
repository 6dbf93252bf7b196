/** Request schemas of Nova's schemas/server_groups.py. */
import type { JsonSchema, VersionedSchema } from '../../common/validation.js';
import { name, positiveInteger } from '../parameter-types.js';

const POLICIES = ['anti-affinity', 'affinity'];
const SOFT = ['soft-anti-affinity', 'soft-affinity']; // 2.15

/** ≤ 2.63: "policies", a list of exactly one policy. */
const legacy = (policies: string[]): JsonSchema => ({
  type: 'object',
  properties: {
    server_group: {
      type: 'object',
      properties: {
        name,
        policies: {
          type: 'array',
          items: [{ type: 'string', enum: policies }],
          uniqueItems: true,
          minItems: 1,
          maxItems: 1,
          additionalItems: false,
        },
      },
      required: ['name', 'policies'],
      additionalProperties: false,
    },
  },
  required: ['server_group'],
  additionalProperties: false,
});

/** Nova's parameter_types.positive_integer. */
/** 2.64: one "policy" and its "rules". */
const v264: JsonSchema = {
  type: 'object',
  properties: {
    server_group: {
      type: 'object',
      properties: {
        name,
        policy: { type: 'string', enum: [...POLICIES, ...SOFT] },
        rules: {
          type: 'object',
          properties: { max_server_per_host: positiveInteger },
          additionalProperties: false,
        },
      },
      required: ['name', 'policy'],
      additionalProperties: false,
    },
  },
  required: ['server_group'],
  additionalProperties: false,
};

export const createSchema: VersionedSchema[] = [
  { max: '2.14', schema: legacy(POLICIES) },
  { min: '2.15', max: '2.63', schema: legacy([...POLICIES, ...SOFT]) },
  { min: '2.64', schema: v264 },
];
