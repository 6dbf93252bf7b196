import type { Config } from '../../common/config/options.js';
import { BadRequest } from '../../common/errors.js';
import { validate, type JsonSchema } from '../../common/validation.js';

const UUID_PATTERN =
  '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$';

export const listOption = (text: string): string[] =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/**
 * Glance's image schema (glance/api/v2/images.py get_base_properties, plus the properties of the schema-image.json
 * Glance ships): served at /v2/schemas/image, used by glanceclient to build its requests, and the schema bodies
 * are validated against. Unknown properties must be strings (Glance's PermissiveSchema).
 */
export function imageSchema(config: Config): JsonSchema {
  const nullableString = (description: string, maxLength?: number) => ({
    type: ['null', 'string'],
    description,
    ...(maxLength ? { maxLength } : {}),
  });
  return {
    name: 'image',
    properties: {
      id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
      name: nullableString('Descriptive name for the image', 255),
      status: {
        type: 'string',
        readOnly: true,
        description: 'Status of the image',
        enum: [
          'queued',
          'saving',
          'active',
          'killed',
          'deleted',
          'uploading',
          'importing',
          'pending_delete',
          'deactivated',
        ],
      },
      visibility: {
        type: 'string',
        description: 'Scope of image accessibility',
        enum: ['community', 'public', 'private', 'shared'],
      },
      protected: { type: 'boolean', description: 'If true, image will not be deletable.' },
      os_hidden: {
        type: 'boolean',
        description: 'If true, image will not appear in default image list response.',
      },
      checksum: { ...nullableString('md5 hash of image contents.', 32), readOnly: true },
      os_hash_algo: { ...nullableString('Algorithm to calculate the os_hash_value', 64), readOnly: true },
      os_hash_value: {
        ...nullableString(
          'Hexdigest of the image contents using the algorithm specified by the os_hash_algo',
          128,
        ),
        readOnly: true,
      },
      owner: nullableString('Owner of the image', 255),
      size: { type: ['null', 'integer'], readOnly: true, description: 'Size of image file in bytes' },
      virtual_size: {
        type: ['null', 'integer'],
        readOnly: true,
        description: 'Virtual size of image in bytes',
      },
      container_format: {
        type: ['null', 'string'],
        description: 'Format of the container',
        enum: [null, ...listOption(config.image.container_formats)],
      },
      disk_format: {
        type: ['null', 'string'],
        description: 'Format of the disk',
        enum: [null, ...listOption(config.image.disk_formats)],
      },
      created_at: { type: 'string', readOnly: true, description: 'Date and time of image registration' },
      updated_at: {
        type: 'string',
        readOnly: true,
        description: 'Date and time of the last image modification',
      },
      tags: {
        type: 'array',
        description: 'List of strings related to the image',
        items: { type: 'string', maxLength: 255 },
      },
      direct_url: {
        type: 'string',
        readOnly: true,
        description: 'URL to access the image file kept in external store',
      },
      min_ram: { type: 'integer', description: 'Amount of ram (in MB) required to boot image.' },
      min_disk: { type: 'integer', description: 'Amount of disk space (in GB) required to boot image.' },
      self: { type: 'string', readOnly: true, description: 'An image self url' },
      file: { type: 'string', readOnly: true, description: 'An image file url' },
      stores: { type: 'string', readOnly: true, description: 'Store in which image data resides.' },
      schema: { type: 'string', readOnly: true, description: 'An image schema url' },
      locations: {
        type: 'array',
        items: {
          type: 'object',
          properties: { url: { type: 'string', maxLength: 255 }, metadata: { type: 'object' } },
          required: ['url', 'metadata'],
        },
        description: 'A set of URLs to access the image file kept in external store',
      },
      // schema-image.json, as Glance installs it
      kernel_id: {
        type: ['null', 'string'],
        pattern: UUID_PATTERN,
        description:
          'ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.',
        is_base: false,
      },
      ramdisk_id: {
        type: ['null', 'string'],
        pattern: UUID_PATTERN,
        description:
          'ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.',
        is_base: false,
      },
      instance_uuid: {
        type: 'string',
        description:
          'Metadata which can be used to record which instance this image is associated with. (Informational only, does not create an instance snapshot.)',
        is_base: false,
      },
      architecture: {
        description:
          'Operating system architecture as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html',
        type: 'string',
        is_base: false,
      },
      os_distro: {
        description:
          'Common name of operating system distribution as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html',
        type: 'string',
        is_base: false,
      },
      os_version: {
        description: 'Operating system version as specified by the distributor.',
        type: 'string',
        is_base: false,
      },
      description: {
        description: 'A human-readable string describing this image.',
        type: 'string',
        is_base: false,
      },
      cinder_encryption_key_id: {
        description:
          'Identifier in the OpenStack Key Management Service for the encryption key for the Block Storage Service to use when mounting a volume created from this image',
        type: 'string',
        is_base: false,
      },
      cinder_encryption_key_deletion_policy: {
        description:
          "States the condition under which the Image Service will delete the object associated with the 'cinder_encryption_key_id' image property.  If this property is missing, the Image Service will take no action",
        type: 'string',
        enum: ['on_image_deletion', 'do_not_delete'],
        is_base: false,
      },
    },
    additionalProperties: { type: 'string' },
    links: [
      { rel: 'self', href: '{self}' },
      { rel: 'enclosure', href: '{file}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

/** Glance's CollectionSchema around an item schema: the list body with its first/next/schema links. */
export function collectionSchema(name: string, item: JsonSchema): JsonSchema {
  return {
    name,
    properties: {
      [name]: { type: 'array', items: item },
      first: { type: 'string' },
      next: { type: 'string' },
      schema: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

export const memberSchema: JsonSchema = {
  name: 'member',
  properties: {
    member_id: { type: 'string', description: 'An identifier for the image member (tenantId)' },
    image_id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
    created_at: { type: 'string', description: 'Date and time of image member creation' },
    updated_at: { type: 'string', description: 'Date and time of last modification of image member' },
    status: {
      type: 'string',
      description: 'The status of this image member',
      enum: ['pending', 'accepted', 'rejected'],
    },
    schema: { readOnly: true, type: 'string' },
  },
  additionalProperties: false,
};

/** One schema object per configuration: compiled once by the shared ajv (validation.ts caches by identity). */
const cache = new WeakMap<Config, JsonSchema>();
export function imageSchemaFor(config: Config): JsonSchema {
  let s = cache.get(config);
  if (!s) {
    s = imageSchema(config);
    cache.set(config, s);
  }
  return s;
}

/** Validates (part of) an image against the schema with Glance's InvalidObject message. */
export function validateImage(config: Config, value: unknown): void {
  try {
    validate(imageSchemaFor(config), value);
  } catch (err) {
    if (err instanceof BadRequest) {
      throw new BadRequest(
        `Provided object does not match schema 'image': ${err.message.replace(/^Invalid input for /, '')}`,
      );
    }
    throw err;
  }
}
