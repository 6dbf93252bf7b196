/** Nova's validation/parameter_types.py: the request-schema pieces every compute resource shares. */
import type { JsonSchema } from '../common/validation.js';

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
