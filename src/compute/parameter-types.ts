/** Nova's validation/parameter_types.py: the request-schema pieces every compute resource shares. */
import ipaddr from 'ipaddr.js';
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

/** Printable, no leading or trailing whitespace (Nova's format 'name'). */
export const name: JsonSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 255,
  pattern: '^(?!\\s)[^\\x00-\\x1f\\x7f]*(?<!\\s)$',
};
/** Nova's parameter_types.description. */
export const description: JsonSchema = {
  type: ['string', 'null'],
  minLength: 0,
  maxLength: 65535,
  pattern: '^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$',
};
/** Nova's parameter_types.metadata: string keys 1..255 without dots-only, string values ≤ 255. */
export const metadata: JsonSchema = {
  type: 'object',
  patternProperties: {
    '^[a-zA-Z0-9-_:. ]{1,255}$': { type: 'string', maxLength: 255 },
  },
  additionalProperties: false,
};

/** accessIPv6 as Nova stores it (netaddr's compact form: '::babe:dc0c:1602'); anything unparsable as given. */
export function normalizeIpv6(v: string): string {
  try {
    return ipaddr.IPv6.parse(v).toString();
  } catch {
    return v;
  }
}

/** Nova's parameter_types.non_negative_integer / positive_integer: an integer or a string of digits. */
const integerFrom = (minimum: number): JsonSchema => ({
  type: ['integer', 'string'],
  pattern: '^[0-9]*$',
  minimum,
  minLength: 1,
});
export const nonNegativeInteger = integerFrom(0);
export const positiveInteger = integerFrom(1);
