/**
 * Glance's image PATCH bodies (glance/api/v2/images.py RequestDeserializer.update): a JSON array of operations in
 * one of two dialects, chosen by the media type:
 *   application/openstack-images-v2.1-json-patch (JSON Schema draft 10): {"op": "replace", "path": "/name", "value": ..}
 *   application/openstack-images-v2.0-json-patch (draft 4):              {"replace": "/name", "value": ..}
 */
import type { Config } from '../../common/config/options.js';
import { BadRequest, Forbidden } from '../../common/errors.js';
import { validateImage } from './schemas.js';

export const PATCH_TYPES: Record<string, 4 | 10> = {
  'application/openstack-images-v2.0-json-patch': 4,
  'application/openstack-images-v2.1-json-patch': 10,
};

export type PatchOp = 'add' | 'remove' | 'replace';
const OPS: PatchOp[] = ['add', 'remove', 'replace'];

export interface Change {
  op: PatchOp;
  /** The decoded JSON pointer; always one element for the attributes kvmstack serves. */
  path: string[];
  value?: unknown;
  draft: 4 | 10;
}

/** Attributes nobody may write (Glance's _readonly_properties). */
export const READONLY = new Set([
  'created_at',
  'updated_at',
  'status',
  'checksum',
  'size',
  'virtual_size',
  'direct_url',
  'self',
  'file',
  'schema',
  'id',
  'os_hash_algo',
  'os_hash_value',
]);
/** Attributes reserved for Glance itself (and, with os_glance_reserved, the os_glance_ namespace). */
export const RESERVED = new Set(['location', 'deleted', 'deleted_at']);
export const RESERVED_NAMESPACE = 'os_glance';

const bad = (msg: string) => new BadRequest(msg);

function opOf(raw: Record<string, unknown>, draft: 4 | 10): { op: PatchOp; path: unknown } {
  if (draft === 10) {
    const op = raw.op;
    if (op === undefined || op === null) {
      throw bad(
        `Unable to find \`op\` in JSON Schema change. It must be one of the following: ${OPS.join(', ')}.`,
      );
    }
    if (!OPS.includes(op as PatchOp)) {
      throw bad(`Invalid operation: \`${String(op)}\`. It must be one of the following: ${OPS.join(', ')}.`);
    }
    if (!('path' in raw)) throw bad("Unable to find 'path' in JSON Schema change");
    return { op: op as PatchOp, path: raw.path };
  }
  const present = OPS.filter((k) => k in raw);
  if (present.length > 1) {
    throw bad('Operation objects must contain only one member named "add", "remove", or "replace".');
  }
  if (present.length === 0) {
    throw bad('Operation objects must contain exactly one member named "add", "remove", or "replace".');
  }
  return { op: present[0], path: raw[present[0]] };
}

/** Glance's _decode_json_pointer with its restrictions on the pointer's form. */
export function decodePointer(pointer: unknown): string[] {
  if (typeof pointer !== 'string') throw bad(`Pointer \`${String(pointer)}\` does not start with "/".`);
  if (!pointer.startsWith('/')) throw bad(`Pointer \`${pointer}\` does not start with "/".`);
  if (/\/\s*?\//.test(pointer.slice(1))) throw bad(`Pointer \`${pointer}\` contains adjacent "/".`);
  if (pointer.length > 1 && pointer.endsWith('/')) throw bad(`Pointer \`${pointer}\` end with "/".`);
  if (pointer.slice(1).trim() === '/') throw bad(`Pointer \`${pointer}\` does not contains valid token.`);
  if (/~[^01]/.test(pointer) || pointer.endsWith('~')) {
    throw bad(`Pointer \`${pointer}\` contains "~" not part of a recognized escape sequence.`);
  }
  return pointer
    .replace(/^\/+/, '')
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~').trim());
}

/**
 * Parses and validates a PATCH body: 400 for a malformed body, operation or pointer and for a value the image
 * schema refuses; 403 for read-only or reserved attributes. Nothing is applied here.
 */
export function parsePatch(config: Config, body: unknown, mediaType: string): Change[] {
  const draft = PATCH_TYPES[mediaType];
  if (!Array.isArray(body)) throw bad('Request body must be a JSON array of operation objects.');
  const changes: Change[] = [];
  for (const raw of body) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw bad('Operations must be JSON objects.');
    }
    const r = raw as Record<string, unknown>;
    const { op, path: pointer } = opOf(r, draft);
    const path = decodePointer(pointer);
    // Only single-token paths: Glance allows deeper ones for 'locations' alone, which kvmstack does not serve.
    if (path.length !== 1 || path[0] === '') {
      throw bad(`Invalid JSON pointer for this resource: '/${path.join('/')}'`);
    }
    const change: Change = { op, path, draft };
    if (op !== 'remove') {
      if (!('value' in r)) throw bad(`Operation "${op}" requires a member named "value".`);
      change.value = r.value;
    }
    const root = path[0];
    if (READONLY.has(root)) throw new Forbidden(`Attribute '${root}' is read-only.`);
    if (RESERVED.has(root) || root.startsWith(RESERVED_NAMESPACE)) {
      throw new Forbidden(`Attribute '${root}' is reserved.`);
    }
    if (op !== 'remove') validateImage(config, { [root]: change.value });
    changes.push(change);
  }
  return changes;
}
