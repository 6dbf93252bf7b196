/** Request schemas of Nova's schemas/server_tags.py and parameter_types.tag. */
import type { JsonSchema } from '../../../common/validation.js';

export const MAX_TAG_COUNT = 50;
export const MAX_TAG_LENGTH = 60;

export const tag: JsonSchema = {
  type: 'string',
  pattern: '^[^,/]*$',
  minLength: 1,
  maxLength: MAX_TAG_LENGTH,
};

/** PUT /servers/{id}/tags. */
export const updateAllSchema: JsonSchema = {
  type: 'object',
  properties: { tags: { type: 'array', items: tag, maxItems: MAX_TAG_COUNT } },
  required: ['tags'],
  additionalProperties: false,
};

/** PUT /servers/{id}/tags/{tag}: no body (or a JSON null). */
export const updateSchema: JsonSchema = { type: 'null' };
