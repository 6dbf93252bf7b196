/**
 * Image files on the shared store: `<store_dir>/images/<id>`, written through a temporary file in the same
 * directory that is fsynced and renamed only once complete and verified, so a reader never sees half an image and
 * a failed upload leaves nothing behind.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HEAD_BYTES } from './inspect.js';

export const IMAGES_DIR = 'images';

/** The file's path relative to the store's mount: what the database keeps and every host resolves. */
export const relativeImagePath = (imageId: string): string => `${IMAGES_DIR}/${imageId}`;

export const absoluteImagePath = (storeDir: string, relativePath: string): string =>
  join(storeDir, relativePath);

const TEMP_PREFIX = '.upload-';
const tempName = (imageId: string, uploadId: string) => `${TEMP_PREFIX}${imageId}.${uploadId}`;
export const tempPath = (storeDir: string, imageId: string, uploadId: string): string =>
  join(storeDir, IMAGES_DIR, tempName(imageId, uploadId));

/** The client went away before the whole body arrived. */
export class ClientGone extends Error {}

export interface Received {
  tempPath: string;
  size: number;
  md5: string;
  sha512: string;
  /** The first bytes, for the format sniffer. */
  head: Buffer;
}

/**
 * Streams a request body into a temporary file beside the final one, hashing (md5, sha512) and counting on the
 * way. Memory stays at a few stream buffers whatever the size. Crossing `limit` bytes fails with `overLimit()`
 * as soon as it happens (chunked bodies have no length to refuse up front). On any failure the temporary file is
 * removed and the request is left unread and unpiped: the caller answers and closes the connection.
 */
export async function receiveToTemp(
  req: IncomingMessage,
  storeDir: string,
  imageId: string,
  uploadId: string,
  limit: number,
  overLimit: () => Error,
): Promise<Received> {
  await mkdir(join(storeDir, IMAGES_DIR), { recursive: true });
  const temp = tempPath(storeDir, imageId, uploadId);
  const md5 = createHash('md5');
  const sha512 = createHash('sha512');
  let size = 0;
  const headChunks: Buffer[] = [];
  let headLength = 0;

  const meter = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      size += chunk.length;
      if (size > limit) return done(overLimit());
      md5.update(chunk);
      sha512.update(chunk);
      if (headLength < HEAD_BYTES) {
        headChunks.push(chunk.subarray(0, HEAD_BYTES - headLength));
        headLength += Math.min(chunk.length, HEAD_BYTES - headLength);
      }
      done(null, chunk);
    },
  });

  // The request is piped through a PassThrough rather than handed to pipeline(): pipeline would destroy the
  // request (and with it the socket) on a quota error, and the client would get a reset instead of the 413.
  const body = new PassThrough();
  const gone = () => body.destroy(new ClientGone('the client closed the connection during the upload'));
  const onClose = () => {
    if (!req.complete) gone();
  };
  req.once('aborted', gone);
  req.once('error', gone);
  req.once('close', onClose);
  req.pipe(body);

  try {
    // flush: the file is fsynced before the stream closes, so a renamed image is on disk whole
    await pipeline(body, meter, createWriteStream(temp, { flags: 'wx', mode: 0o644, flush: true }));
  } catch (err) {
    req.unpipe(body);
    await unlink(temp).catch(() => undefined);
    throw err;
  } finally {
    req.off('aborted', gone);
    req.off('error', gone);
    req.off('close', onClose);
  }
  return {
    tempPath: temp,
    size,
    md5: md5.digest('hex'),
    sha512: sha512.digest('hex'),
    head: Buffer.concat(headChunks),
  };
}

/** Moves a verified temporary file to its final name and makes the rename durable. */
export async function publish(temp: string, storeDir: string, relativePath: string): Promise<void> {
  const final = absoluteImagePath(storeDir, relativePath);
  await rename(temp, final);
  const dir = await open(join(storeDir, IMAGES_DIR), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export async function removeQuietly(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export async function fileSize(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

/**
 * Files under images/ that no image row names, and temporary files of uploads older than `olderThanMs`: what a
 * crash between the row's delete and the file's, or during an upload, leaves behind. `known` says whether an
 * image id has a row.
 */
export async function strayFiles(
  storeDir: string,
  known: (imageId: string) => Promise<boolean>,
  olderThanMs: number,
  now: number,
): Promise<string[]> {
  const dir = join(storeDir, IMAGES_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const stray: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (name.startsWith(TEMP_PREFIX)) {
      const st = await stat(path).catch(() => null);
      if (st && now - st.mtimeMs > olderThanMs) stray.push(path);
    } else if (!(await known(name))) {
      stray.push(path);
    }
  }
  return stray;
}
