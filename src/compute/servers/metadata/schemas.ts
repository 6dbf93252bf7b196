/** Request schemas of Nova's schemas/server_metadata.py. */
import type { JsonSchema } from '../../../common/validation.js';
import { metadata } from '../../parameter-types.js';

const wrapped = (key: string, value: JsonSchema): JsonSchema => ({
  type: 'object',
  properties: { [key]: value },
  required: [key],
  additionalProperties: false,
});

/** POST (merge) and PUT (replace) /servers/{id}/metadata. */
export const metadataSchema = wrapped('metadata', metadata);
/** PUT /servers/{id}/metadata/{key}: exactly one item. */
export const metaItemSchema = wrapped('meta', { ...metadata, minProperties: 1, maxProperties: 1 });
