/** Request schemas of Nova's schemas/quota_sets.py and quota_classes.py. */
import type { JsonSchema, VersionedSchema } from '../../common/validation.js';
import { novaBoolean } from '../parameter-types.js';
import type { QuotaResource } from './service.js';

/** Nova's _common_quota: an integer (or its string) from -1 (unlimited) to the database's MAX_INT. */
const quota: JsonSchema = {
  type: ['integer', 'string'],
  pattern: '^-?[0-9]+$',
  minimum: -1,
  maximum: 0x7fffffff,
};

/** The nova-network resources, gone from 2.36 (quota sets) / 2.50 (quota classes). */
export const NETWORK_QUOTAS: QuotaResource[] = [
  'fixed_ips',
  'floating_ips',
  'security_group_rules',
  'security_groups',
];
/** The personality resources, gone from 2.57. */
export const INJECTED_QUOTAS: QuotaResource[] = [
  'injected_file_content_bytes',
  'injected_file_path_bytes',
  'injected_files',
];
const ALL: QuotaResource[] = [
  'instances',
  'cores',
  'ram',
  'floating_ips',
  'fixed_ips',
  'metadata_items',
  'key_pairs',
  'security_groups',
  'security_group_rules',
  'injected_files',
  'injected_file_content_bytes',
  'injected_file_path_bytes',
  'server_groups',
  'server_group_members',
];

function body(key: string, dropped: QuotaResource[], force: boolean): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const r of ALL) if (!dropped.includes(r)) properties[r] = quota;
  if (force) properties.force = novaBoolean;
  return {
    type: 'object',
    properties: { [key]: { type: 'object', properties, additionalProperties: false } },
    required: [key],
    additionalProperties: false,
  };
}

export const quotaSetUpdateSchema: VersionedSchema[] = [
  { max: '2.35', schema: body('quota_set', [], true) },
  { min: '2.36', max: '2.56', schema: body('quota_set', NETWORK_QUOTAS, true) },
  { min: '2.57', schema: body('quota_set', [...NETWORK_QUOTAS, ...INJECTED_QUOTAS], true) },
];

export const quotaClassUpdateSchema: VersionedSchema[] = [
  { max: '2.49', schema: body('quota_class_set', [], false) },
  { min: '2.50', max: '2.56', schema: body('quota_class_set', NETWORK_QUOTAS, false) },
  { min: '2.57', schema: body('quota_class_set', [...NETWORK_QUOTAS, ...INJECTED_QUOTAS], false) },
];
