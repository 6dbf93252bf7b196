/**
 * Glance v2 images: create, list, show, update (JSON patch), delete, data upload and download, tags and
 * deactivation. Rules and messages follow glance/api/v2/images.py, image_data.py and glance/domain.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from '../../common/config/options.js';
import { BadRequest, Conflict, Forbidden, NotFound, OverQuota } from '../../common/errors.js';
import { newUuid } from '../../common/ids.js';
import { isDuplicateKey } from '../../db/columns.js';
import { denied, type Actor } from '../policy.js';
import { loadImage, ownsImage, visibleImage, type Image } from './model.js';
import type { Change } from './patch.js';
import { READONLY, RESERVED, RESERVED_NAMESPACE } from './patch.js';
import { validateImage } from './schemas.js';
import { absoluteImagePath, relativeImagePath, removeQuietly, strayFiles } from './store.js';
import { UPLOAD_STALE_MS } from './data.js';

export type { Image } from './model.js';
export { imageLocation, openImageData, uploadImageData, type ImageData } from './data.js';
export { listImages, type ListResult } from './list.js';

/** Glance's default quotas on one image (image_property_quota, image_tag_quota). */
export const MAX_PROPERTIES = 128;
export const MAX_TAGS = 128;

export interface ImageDeps {
  db: Knex;
  config: Config;
  now: () => number;
  log: Logger;
}

/** Attributes of the image itself (Glance's hasattr(image, name)); everything else is a string property. */
const BASE_WRITABLE = new Set([
  'name',
  'visibility',
  'protected',
  'os_hidden',
  'min_disk',
  'min_ram',
  'owner',
  'disk_format',
  'container_format',
  'tags',
]);
const NOT_CREATABLE = ['direct_url', 'self', 'file', 'schema', 'stores'];

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function tooManyProperties(n: number): OverQuota {
  return new OverQuota(
    `The limit has been exceeded on the number of allowed image properties. Attempted: ${n}, Maximum: ${MAX_PROPERTIES}`,
    413,
  );
}
function tooManyTags(n: number): OverQuota {
  return new OverQuota(
    `The limit has been exceeded on the number of allowed image tags. Attempted: ${n}, Maximum: ${MAX_TAGS}`,
    413,
  );
}
function checkNotNegative(param: string, value: unknown): void {
  if (typeof value === 'number' && value < 0) {
    throw new BadRequest(`Invalid value '${value}' for parameter '${param}': Cannot be a negative value`);
  }
}
function checkVisibility(actor: Actor, visibility: unknown): void {
  if (visibility === 'public' && !actor.admin) throw denied('publicize_image');
  if (visibility === 'community' && !actor.member) throw denied('communitize_image');
}

/** The columns a row update writes from an image. */
function columnsOf(image: Image): Record<string, unknown> {
  return {
    name: image.name,
    status: image.status,
    visibility: image.visibility,
    protected: image.protected,
    os_hidden: image.osHidden,
    owner: image.owner,
    disk_format: image.diskFormat,
    container_format: image.containerFormat,
    min_disk: image.minDisk,
    min_ram: image.minRam,
    updated_at: image.updatedAt,
  };
}

async function writeProperties(trx: Knex, id: string, image: Image): Promise<void> {
  await trx('image_properties').where({ image_id: id }).delete();
  const rows = Object.entries(image.properties).map(([name, value]) => ({ image_id: id, name, value }));
  if (rows.length) await trx('image_properties').insert(rows);
}
async function writeTags(trx: Knex, id: string, tags: string[]): Promise<void> {
  await trx('image_tags').where({ image_id: id }).delete();
  if (tags.length) await trx('image_tags').insert(tags.map((value) => ({ image_id: id, value })));
}

// ---------------------------------------------------------------------------------------------- create

export async function createImage(deps: ImageDeps, actor: Actor, body: unknown): Promise<Image> {
  const { db, config } = deps;
  if (!isObject(body)) {
    throw new BadRequest("Provided object does not match schema 'image': the body must be a JSON object");
  }
  for (const key of NOT_CREATABLE) {
    if (key in body) throw new Forbidden(`Attribute '${key}' is read-only.`);
  }
  validateImage(config, body);
  for (const key of Object.keys(body)) {
    if (READONLY.has(key) && key !== 'id') throw new Forbidden(`Attribute '${key}' is read-only.`);
  }
  const properties: Record<string, string> = {};
  for (const [key, value] of Object.entries(body)) {
    if (BASE_WRITABLE.has(key) || key === 'id') continue;
    if (key.length > 255) throw new BadRequest('Custom property should not be greater than 255 characters.');
    if (RESERVED.has(key) || key === 'locations' || key.startsWith(RESERVED_NAMESPACE)) {
      throw new Forbidden(`Attribute '${key}' is reserved.`);
    }
    if (value !== null) properties[key] = String(value);
  }
  const owner = body.owner === undefined ? actor.projectId : (body.owner as string | null);
  if (!actor.admin && owner !== actor.projectId) {
    throw new Forbidden(`You are not permitted to create images owned by '${String(owner)}'.`);
  }
  const visibility = (body.visibility as string | undefined) ?? 'shared';
  checkVisibility(actor, visibility);
  checkNotNegative('min_disk', body.min_disk);
  checkNotNegative('min_ram', body.min_ram);
  const tags = [...new Set((body.tags as string[] | undefined) ?? [])];
  if (Object.keys(properties).length > MAX_PROPERTIES) {
    throw tooManyProperties(Object.keys(properties).length);
  }
  if (tags.length > MAX_TAGS) throw tooManyTags(tags.length);

  const now = deps.now();
  const id = (body.id as string | undefined) ?? newUuid();
  const row = {
    id,
    name: (body.name as string | null | undefined) ?? null,
    status: 'queued',
    visibility,
    protected: (body.protected as boolean | undefined) ?? false,
    os_hidden: (body.os_hidden as boolean | undefined) ?? false,
    owner,
    disk_format: (body.disk_format as string | null | undefined) ?? null,
    container_format: (body.container_format as string | null | undefined) ?? null,
    min_disk: (body.min_disk as number | undefined) ?? 0,
    min_ram: (body.min_ram as number | undefined) ?? 0,
    created_at: now,
    updated_at: now,
  };
  try {
    await db.transaction(async (trx) => {
      await trx('images').insert(row);
      const props = Object.entries(properties).map(([name, value]) => ({ image_id: id, name, value }));
      if (props.length) await trx('image_properties').insert(props);
      if (tags.length) await trx('image_tags').insert(tags.map((value) => ({ image_id: id, value })));
    });
  } catch (err) {
    if (isDuplicateKey(err)) throw new Conflict(`Image with identifier ${id} already exists!`);
    throw err;
  }
  return (await loadImage(db, id)) as Image;
}

// ---------------------------------------------------------------------------------------------- show

export async function showImage(deps: ImageDeps, actor: Actor, id: string): Promise<Image> {
  return visibleImage(deps.db, actor, id);
}

// ---------------------------------------------------------------------------------------------- update

function applyBase(actor: Actor, image: Image, key: string, value: unknown): void {
  switch (key) {
    case 'name':
      image.name = value as string | null;
      break;
    case 'visibility':
      image.visibility = value as string;
      break;
    case 'protected':
      image.protected = value as boolean;
      break;
    case 'os_hidden':
      image.osHidden = value as boolean;
      break;
    case 'min_disk':
      checkNotNegative('min_disk', value);
      image.minDisk = value as number;
      break;
    case 'min_ram':
      checkNotNegative('min_ram', value);
      image.minRam = value as number;
      break;
    case 'owner':
      image.owner = value as string | null;
      break;
    case 'disk_format':
    case 'container_format':
      if (image.status !== 'queued') {
        throw new Forbidden(`Attribute ${key} can be only replaced for a queued image.`);
      }
      if (key === 'disk_format') image.diskFormat = value as string | null;
      else image.containerFormat = value as string | null;
      break;
    case 'tags': {
      const tags = [...new Set(value as string[])];
      if (tags.length > MAX_TAGS) throw tooManyTags(tags.length);
      image.tags = tags;
      break;
    }
  }
  void actor;
}

/** Applies parsed JSON-patch changes in one transaction; the image is locked so concurrent patches serialize. */
export async function updateImage(
  deps: ImageDeps,
  actor: Actor,
  id: string,
  changes: Change[],
): Promise<Image> {
  const { db } = deps;
  await db.transaction(async (trx) => {
    const image = await visibleImage(trx, actor, id, { forUpdate: true });
    if (!ownsImage(actor, image)) throw denied('modify_image');
    if (changes.length === 0) return;
    for (const change of changes) {
      const key = change.path[0];
      if (key === 'locations') {
        const verb = change.op === 'remove' ? 'remove' : change.op === 'add' ? 'add' : 'update';
        throw new Forbidden(`It's not allowed to ${verb} locations if locations are invisible.`);
      }
      if (key === 'visibility') checkVisibility(actor, change.value);
      const base = BASE_WRITABLE.has(key);
      const exists = key in image.properties;
      if (change.op === 'replace') {
        if (key === 'owner' && !actor.admin) throw new Forbidden("Owner can't be updated by non admin.");
        if (base) applyBase(actor, image, key, change.value);
        else if (exists) image.properties[key] = String(change.value ?? '');
        else throw new Conflict(`Property ${key} does not exist.`);
      } else if (change.op === 'add') {
        if (change.draft === 4 && (base || exists)) throw new Conflict(`Property ${key} already present.`);
        if (key === 'owner' && !actor.admin) throw new Forbidden("Owner can't be updated by non admin.");
        if (base) applyBase(actor, image, key, change.value);
        else image.properties[key] = String(change.value ?? '');
      } else if (base) {
        throw new Forbidden(`Property ${key} may not be removed.`);
      } else if (exists) {
        delete image.properties[key];
      } else {
        throw new Conflict(`Property ${key} does not exist.`);
      }
    }
    const count = Object.keys(image.properties).length;
    if (count > MAX_PROPERTIES) throw tooManyProperties(count);
    image.updatedAt = deps.now();
    await trx('images').where({ id }).update(columnsOf(image));
    await writeProperties(trx, id, image);
    await writeTags(trx, id, image.tags);
  });
  return (await loadImage(db, id)) as Image;
}

// ---------------------------------------------------------------------------------------------- tags

export async function addTag(deps: ImageDeps, actor: Actor, id: string, tag: string): Promise<void> {
  validateImage(deps.config, { tags: [tag] });
  await deps.db.transaction(async (trx) => {
    const image = await visibleImage(trx, actor, id, { forUpdate: true, message: `Image ${id} not found.` });
    if (!ownsImage(actor, image)) throw new Forbidden(`Not allowed to update tags for image ${id}.`);
    if (image.tags.includes(tag)) return;
    if (image.tags.length + 1 > MAX_TAGS) throw tooManyTags(image.tags.length + 1);
    await trx('image_tags').insert({ image_id: id, value: tag });
    await trx('images').where({ id }).update({ updated_at: deps.now() });
  });
}

export async function removeTag(deps: ImageDeps, actor: Actor, id: string, tag: string): Promise<void> {
  await deps.db.transaction(async (trx) => {
    const image = await visibleImage(trx, actor, id, { forUpdate: true, message: `Image ${id} not found.` });
    if (!ownsImage(actor, image)) throw new Forbidden(`Not allowed to delete tags for image ${id}.`);
    if (!image.tags.includes(tag)) throw new NotFound('The resource could not be found.');
    await trx('image_tags').where({ image_id: id, value: tag }).delete();
    await trx('images').where({ id }).update({ updated_at: deps.now() });
  });
}

// ---------------------------------------------------------------------------------------------- actions

/** POST /v2/images/{id}/actions/deactivate and reactivate (Glance's Image.deactivate / reactivate). */
export async function setActivation(
  deps: ImageDeps,
  actor: Actor,
  id: string,
  action: 'deactivate' | 'reactivate',
): Promise<void> {
  await deps.db.transaction(async (trx) => {
    const image = await visibleImage(trx, actor, id, { forUpdate: true });
    if (!ownsImage(actor, image)) throw denied(action);
    const [from, to] = action === 'deactivate' ? ['active', 'deactivated'] : ['deactivated', 'active'];
    if (image.status === to) return;
    if (image.status !== from) {
      throw new Forbidden(`Not allowed to ${action} image in status '${image.status}'`);
    }
    await trx('images').where({ id }).update({ status: to, updated_at: deps.now() });
  });
}

// ---------------------------------------------------------------------------------------------- delete

/**
 * The VMs whose disks use an image as their backing file: the instances' specs name it by the store path
 * `<mount>/images/<id>`.
 */
export async function imageInUse(db: Knex, imageId: string): Promise<string[]> {
  const suffix = `/${relativeImagePath(imageId)}`;
  const rows = (await db('instances').select('uuid', 'spec').where('spec', 'like', `%${suffix}"%`)) as {
    uuid: string;
    spec: string;
  }[];
  return rows
    .filter((r) => {
      try {
        const spec = JSON.parse(r.spec) as { disks?: { backingPath?: string }[] };
        return (spec.disks ?? []).some(
          (d) => typeof d.backingPath === 'string' && d.backingPath.endsWith(suffix),
        );
      } catch {
        return false;
      }
    })
    .map((r) => r.uuid);
}

/**
 * Deletes an image: the row (with its properties, tags and members) in one transaction, then the file. A crash
 * in between leaves an orphan file that no row names — never a row without its file; strayImageFiles() finds it.
 */
export async function deleteImage(deps: ImageDeps, actor: Actor, id: string): Promise<void> {
  const { db, config, log } = deps;
  const image = await db.transaction(async (trx) => {
    const img = await visibleImage(trx, actor, id, {
      forUpdate: true,
      message: `Failed to find image ${id} to delete`,
    });
    if (!ownsImage(actor, img)) throw denied('delete_image');
    if (img.protected) throw new Forbidden(`Image ${id} is protected and cannot be deleted.`);
    const users = await imageInUse(trx, id);
    if (users.length) {
      throw new Conflict(
        `Image ${id} could not be deleted because it is in use: it backs the disks of server(s) ${users.join(', ')}`,
      );
    }
    await trx('image_members').where({ image_id: id }).delete();
    await trx('image_tags').where({ image_id: id }).delete();
    await trx('image_properties').where({ image_id: id }).delete();
    await trx('images').where({ id }).delete();
    return img;
  });
  if (image.location && image.store === config.image.store_name) {
    const path = absoluteImagePath(config.image.store_dir, image.location);
    await removeQuietly(path).catch((err: Error) =>
      log.error({ err, image_id: id, path }, 'image row deleted but its file could not be removed'),
    );
  }
}

/** Files on the store that no image row names, and abandoned upload temporaries: safe to remove. */
export async function strayImageFiles(deps: ImageDeps): Promise<string[]> {
  return strayFiles(
    deps.config.image.store_dir,
    async (id) => (await deps.db('images').where({ id }).first('id')) !== undefined,
    UPLOAD_STALE_MS,
    deps.now(),
  );
}

/**
 * Removes what strayImageFiles finds: the file of an image whose delete was cut short between its row and its
 * file, and the temporary file of an upload whose process died. Each API process runs it now and then.
 */
export async function removeStrayImageFiles(deps: ImageDeps): Promise<number> {
  const stray = await strayImageFiles(deps);
  for (const path of stray) {
    await removeQuietly(path);
    deps.log.warn({ path }, 'removed a stray image file');
  }
  return stray.length;
}
