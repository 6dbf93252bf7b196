/** Request schemas of Nova's schemas/servers.py for create and update, per microversion (2.1–2.79). */
import type { JsonSchema, VersionedSchema } from '../../common/validation.js';
import { description, metadata, name, novaBoolean } from '../parameter-types.js';

const uuid: JsonSchema = { type: 'string', format: 'uuid' };
const ipv4: JsonSchema = { type: 'string', format: 'ipv4' };
const ipv6: JsonSchema = { type: 'string', format: 'ipv6' };
const positiveInt: JsonSchema = {
  type: ['integer', 'string'],
  pattern: '^[0-9]*$',
  minimum: 1,
  minLength: 1,
};
/** imageRef: a UUID, an image URL, or '' (boot from volume). */
const imageRef: JsonSchema = { type: 'string', maxLength: 255 };
const flavorRef: JsonSchema = { type: ['string', 'integer'], minLength: 1 };
const tag: JsonSchema = { type: 'string', minLength: 1, maxLength: 60, pattern: '^[^,/]*$' };

function networkItem(withTag: boolean): JsonSchema {
  return {
    type: 'object',
    properties: {
      fixed_ip: { type: 'string', oneOf: [ipv4, ipv6] },
      port: { oneOf: [uuid, { type: 'null' }] },
      uuid,
      ...(withTag ? { tag } : {}),
    },
    additionalProperties: false,
  };
}

interface CreateOptions {
  description: boolean; // 2.19
  tagNetworks: boolean; // 2.32 (and 2.42)
  autoNetworks: boolean; // 2.37: networks is required, and may be 'auto' or 'none'
  tags: boolean; // 2.52
  personality: boolean; // removed in 2.57
  trustedCerts: boolean; // 2.63
  host: boolean; // 2.74
}

function createSchema(o: CreateOptions): JsonSchema {
  const networks: JsonSchema = o.autoNetworks
    ? {
        oneOf: [
          { type: 'array', items: networkItem(o.tagNetworks) },
          { type: 'string', enum: ['none', 'auto'] },
        ],
      }
    : { type: 'array', items: networkItem(o.tagNetworks) };
  const server: JsonSchema = {
    type: 'object',
    properties: {
      name,
      imageRef,
      flavorRef,
      adminPass: { type: 'string' },
      metadata,
      networks,
      'OS-DCF:diskConfig': { type: 'string', enum: ['AUTO', 'MANUAL'] },
      accessIPv4: ipv4,
      accessIPv6: ipv6,
      availability_zone: { type: 'string', minLength: 1, maxLength: 255 },
      block_device_mapping: { type: 'array', maxItems: 0 },
      block_device_mapping_v2: { type: 'array', maxItems: 0 },
      config_drive: novaBoolean,
      key_name: { type: 'string', minLength: 1, maxLength: 255 },
      min_count: positiveInt,
      max_count: positiveInt,
      return_reservation_id: novaBoolean,
      security_groups: {
        type: 'array',
        items: {
          type: 'object',
          properties: { name: { type: 'string', minLength: 1, maxLength: 255 } },
          additionalProperties: false,
        },
      },
      user_data: { type: 'string', format: 'byte', maxLength: 65535 },
      ...(o.personality
        ? {
            personality: {
              type: 'array',
              items: {
                type: 'object',
                properties: { path: { type: 'string' }, contents: { type: 'string', format: 'byte' } },
                additionalProperties: false,
              },
            },
          }
        : {}),
      ...(o.description ? { description } : {}),
      ...(o.tags ? { tags: { type: 'array', items: tag, maxItems: 50 } } : {}),
      ...(o.trustedCerts ? { trusted_image_certificates: { type: ['array', 'null'], maxItems: 0 } } : {}),
      ...(o.host
        ? {
            host: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[a-zA-Z0-9-._]*$' },
            hypervisor_hostname: {
              type: 'string',
              minLength: 1,
              maxLength: 255,
              pattern: '^[a-zA-Z0-9-._]*$',
            },
          }
        : {}),
    },
    required: o.autoNetworks ? ['name', 'flavorRef', 'networks'] : ['name', 'flavorRef'],
    additionalProperties: false,
  };
  const hints: JsonSchema = {
    type: 'object',
    properties: {
      group: uuid,
      different_host: { oneOf: [uuid, { type: 'array', items: uuid }] },
      same_host: { oneOf: [uuid, { type: 'array', items: uuid }] },
    },
    additionalProperties: true,
  };
  return {
    type: 'object',
    properties: { server, 'os:scheduler_hints': hints, 'OS-SCH-HNT:scheduler_hints': hints },
    required: ['server'],
    additionalProperties: false,
  };
}

const base: CreateOptions = {
  description: false,
  tagNetworks: false,
  autoNetworks: false,
  tags: false,
  personality: true,
  trustedCerts: false,
  host: false,
};

export const createSchemas: VersionedSchema[] = [
  { max: '2.18', schema: createSchema(base) },
  { min: '2.19', max: '2.31', schema: createSchema({ ...base, description: true }) },
  { min: '2.32', max: '2.36', schema: createSchema({ ...base, description: true, tagNetworks: true }) },
  {
    min: '2.37',
    max: '2.51',
    schema: createSchema({ ...base, description: true, tagNetworks: true, autoNetworks: true }),
  },
  {
    min: '2.52',
    max: '2.56',
    schema: createSchema({ ...base, description: true, tagNetworks: true, autoNetworks: true, tags: true }),
  },
  {
    min: '2.57',
    max: '2.62',
    schema: createSchema({
      ...base,
      description: true,
      tagNetworks: true,
      autoNetworks: true,
      tags: true,
      personality: false,
    }),
  },
  {
    min: '2.63',
    max: '2.73',
    schema: createSchema({
      ...base,
      description: true,
      tagNetworks: true,
      autoNetworks: true,
      tags: true,
      personality: false,
      trustedCerts: true,
    }),
  },
  {
    min: '2.74',
    schema: createSchema({
      description: true,
      tagNetworks: true,
      autoNetworks: true,
      tags: true,
      personality: false,
      trustedCerts: true,
      host: true,
    }),
  },
];

function updateSchema(withDescription: boolean): JsonSchema {
  return {
    type: 'object',
    properties: {
      server: {
        type: 'object',
        properties: {
          name,
          accessIPv4: ipv4,
          accessIPv6: ipv6,
          'OS-DCF:diskConfig': { type: 'string', enum: ['AUTO', 'MANUAL'] },
          ...(withDescription ? { description } : {}),
        },
        additionalProperties: false,
      },
    },
    required: ['server'],
    additionalProperties: false,
  };
}

export const updateSchemas: VersionedSchema[] = [
  { max: '2.18', schema: updateSchema(false) },
  { min: '2.19', schema: updateSchema(true) },
];
