/** Image data: the streamed upload (PUT .../file) and download (GET .../file), and where an image's file is. */
import { createReadStream, type ReadStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Knex } from 'knex';
import { ApiError, BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge } from '../../common/errors.js';
import { newUuid } from '../../common/ids.js';
import { denied, type Actor } from '../policy.js';
import { inspectImage } from './inspect.js';
import { loadImage, ownsImage, visibleImage, type Image } from './model.js';
import {
  absoluteImagePath,
  ClientGone,
  fileSize,
  publish,
  receiveToTemp,
  relativeImagePath,
  removeQuietly,
  tempPath,
} from './store.js';
import type { ImageDeps } from './service.js';

/** How often a running upload renews its heartbeat, and when a `saving` image counts as abandoned. */
export const UPLOAD_HEARTBEAT_MS = 10_000;
export const UPLOAD_STALE_MS = 60_000;

/** Glance's 410 for an image deleted while its data was uploading. */
export class Gone extends ApiError {
  readonly status = 410;
}

/** Bytes the project's images already take on the store. */
async function storageUsed(db: Knex, owner: string | null, exceptId: string): Promise<number> {
  const row = (await db('images')
    .where({ owner })
    .whereIn('status', ['active', 'deactivated'])
    .whereNot({ id: exceptId })
    .sum({ used: 'size' })
    .first()) as { used: unknown } | undefined;
  return Number(row?.used ?? 0);
}

function quotaExceeded(size: number | string, remaining: number): PayloadTooLarge {
  return new PayloadTooLarge(
    `Image exceeds the storage quota: The size of the data ${size} will exceed the limit. ${remaining} bytes remaining.`,
  );
}
const tooLarge = () =>
  new PayloadTooLarge('The incoming image is too large: The provided image is too large.');

/** Glance's transition error for an upload to an image that is not queued. */
const transition = (from: string) =>
  new Conflict(`Image status transition from ${from} to saving is not allowed`);

/**
 * PUT /v2/images/{id}/file: queued → saving (a conditional UPDATE, so of two concurrent uploads one wins and the
 * other gets 409) → stream to a temporary file with md5/sha512 → inspect → rename → active. On any failure the
 * temporary file is removed and the image goes back to queued, as Glance's _restore does (v2 no longer uses
 * `killed`). `declaredLength` (Content-Length) over the cap or the remaining quota is refused before reading.
 */
export async function uploadImageData(
  deps: ImageDeps,
  actor: Actor,
  id: string,
  req: IncomingMessage,
  declaredLength: number | undefined,
): Promise<void> {
  const { db, config, log } = deps;
  const image = await visibleImage(db, actor, id);
  if (!ownsImage(actor, image)) throw new Forbidden(`Not allowed to upload image data for image ${id}`);
  const now = deps.now();
  const stale = image.status === 'saving' && (image.uploadId === null || isStale(image, now));
  if (image.status !== 'queued' && !stale) throw transition(image.status);
  const missing = ['disk_format', 'container_format'].filter((k) =>
    k === 'disk_format' ? !image.diskFormat : !image.containerFormat,
  );
  if (missing.length) {
    throw new BadRequest(
      `Propert${missing.length > 1 ? 'ies' : 'y'} ${missing.join(', ')} must be set prior to saving data.`,
    );
  }
  const cap = config.image.image_size_cap;
  const quota = config.image.project_storage_quota;
  const remaining = quota > 0 ? Math.max(0, quota - (await storageUsed(db, image.owner, id))) : Infinity;
  if (declaredLength !== undefined) {
    if (declaredLength > cap) throw tooLarge();
    if (declaredLength > remaining) throw quotaExceeded(declaredLength, remaining);
  }

  // queued (or abandoned saving) → saving, only if nobody else got there first
  const uploadId = newUuid();
  const claim = db('images')
    .where({ id })
    .update({ status: 'saving', upload_id: uploadId, upload_heartbeat_at: now, updated_at: now });
  const claimed = await claim.where((w) => {
    w.where('status', 'queued');
    if (stale) w.orWhere((s) => s.where('status', 'saving').where('upload_id', image.uploadId as string));
  });
  if (claimed === 0) {
    const current = await loadImage(db, id);
    if (!current) throw new NotFound(`No image found with ID ${id}`);
    throw transition(current.status);
  }
  if (stale && image.uploadId) await removeQuietly(tempPath(config.image.store_dir, id, image.uploadId));
  const heartbeat = setInterval(() => {
    db('images')
      .where({ id, upload_id: uploadId })
      .update({ upload_heartbeat_at: deps.now() })
      .catch((err: Error) => log.warn({ err, image_id: id }, 'upload heartbeat failed'));
  }, UPLOAD_HEARTBEAT_MS);
  heartbeat.unref();

  const restore = async () => {
    await db('images')
      .where({ id, upload_id: uploadId, status: 'saving' })
      .update({ status: 'queued', upload_id: null, upload_heartbeat_at: null, updated_at: deps.now() })
      .catch((err: Error) => log.error({ err, image_id: id }, 'could not restore the image to queued'));
  };
  const storeDir = config.image.store_dir;
  const relative = relativeImagePath(id);
  let published = false;
  try {
    const limit = Math.min(cap, remaining);
    const received = await receiveToTemp(req, storeDir, id, uploadId, limit, () =>
      limit === cap ? tooLarge() : quotaExceeded('of this upload', remaining),
    );
    try {
      if (declaredLength !== undefined && received.size !== declaredLength) {
        throw new BadRequest('The request body ended before the declared Content-Length.');
      }
      const { virtualSize } = await inspectImage(
        received.tempPath,
        image.diskFormat as string,
        received.head,
        received.size,
        config.image.inspect_timeout * 1000,
      );
      await publish(received.tempPath, storeDir, relative);
      published = true;
      // saving → active only for this upload; another process may have deleted the image meanwhile
      const done = await db.transaction(async (trx) => {
        if (quota > 0) {
          const used = await storageUsed(trx, image.owner, id);
          if (used + received.size > quota) throw quotaExceeded(received.size, Math.max(0, quota - used));
        }
        const updated: number = await trx('images')
          .where({ id, upload_id: uploadId, status: 'saving' })
          .update({
            status: 'active',
            size: received.size,
            virtual_size: virtualSize,
            checksum: received.md5,
            os_hash_algo: 'sha512',
            os_hash_value: received.sha512,
            store: config.image.store_name,
            location: relative,
            upload_id: null,
            upload_heartbeat_at: null,
            updated_at: deps.now(),
          });
        return updated;
      });
      if (done === 0) {
        await removeQuietly(absoluteImagePath(storeDir, relative));
        throw new Gone(
          `Image ${id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded.`,
        );
      }
    } catch (err) {
      if (published) await removeQuietly(absoluteImagePath(storeDir, relative)).catch(() => false);
      else await removeQuietly(received.tempPath).catch(() => false);
      throw err;
    }
  } catch (err) {
    await restore();
    if (err instanceof ClientGone) {
      throw new BadRequest('The client closed the connection before the image data was complete.');
    }
    throw err;
  } finally {
    clearInterval(heartbeat);
  }
}

/** A `saving` image whose upload stopped renewing its heartbeat: the process that ran it is gone. */
function isStale(image: Image, now: number): boolean {
  return image.uploadHeartbeatAt === null || now - image.uploadHeartbeatAt > UPLOAD_STALE_MS;
}

export interface ImageData {
  stream: ReadStream;
  size: number;
  checksum: string | null;
}

/**
 * GET /v2/images/{id}/file: the file as a stream, or null for an image without data (Glance answers 204 then).
 * A deactivated image is 403 for everyone but an admin.
 */
export async function openImageData(deps: ImageDeps, actor: Actor, id: string): Promise<ImageData | null> {
  const { db, config, log } = deps;
  const image = await visibleImage(db, actor, id);
  if (!actor.member) throw denied('download_image'); // Glance's download_image needs the member role
  if (image.status === 'deactivated' && !actor.admin) {
    throw new Forbidden('The requested image has been deactivated. Image data download is forbidden.');
  }
  if (!['active', 'deactivated'].includes(image.status) || !image.location) return null;
  const path = absoluteImagePath(config.image.store_dir, image.location);
  const size = await fileSize(path);
  if (size === null) {
    log.error({ image_id: id, path }, 'active image without its file on the store');
    return null;
  }
  return { stream: createReadStream(path), size, checksum: image.checksum };
}

/** Where an active image's data is, for the compute service: the store's name and the path inside it. */
export async function imageLocation(
  db: Knex,
  imageId: string,
): Promise<{
  store: string;
  relativePath: string;
  diskFormat: string;
  virtualSize: number | null;
  size: number;
} | null> {
  const image = await loadImage(db, imageId);
  if (!image || image.status !== 'active' || !image.store || !image.location) return null;
  return {
    store: image.store,
    relativePath: image.location,
    diskFormat: image.diskFormat as string,
    virtualSize: image.virtualSize,
    size: image.size as number,
  };
}
