import type { Knex } from 'knex';
import { NotFound } from '../../common/errors.js';
import { toBool } from '../../db/columns.js';
import type { Actor } from '../policy.js';

/** An image row with its properties and tags. */
export interface Image {
  id: string;
  name: string | null;
  status: string;
  visibility: string;
  protected: boolean;
  osHidden: boolean;
  owner: string | null;
  diskFormat: string | null;
  containerFormat: string | null;
  minDisk: number;
  minRam: number;
  size: number | null;
  virtualSize: number | null;
  checksum: string | null;
  osHashAlgo: string | null;
  osHashValue: string | null;
  store: string | null;
  location: string | null;
  uploadId: string | null;
  uploadHeartbeatAt: number | null;
  createdAt: number;
  updatedAt: number;
  properties: Record<string, string>;
  tags: string[];
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function imageFromRow(
  r: Record<string, unknown>,
  properties: Record<string, string>,
  tags: string[],
): Image {
  return {
    id: String(r.id),
    name: (r.name as string | null) ?? null,
    status: String(r.status),
    visibility: String(r.visibility),
    protected: toBool(r.protected),
    osHidden: toBool(r.os_hidden),
    owner: (r.owner as string | null) ?? null,
    diskFormat: (r.disk_format as string | null) ?? null,
    containerFormat: (r.container_format as string | null) ?? null,
    minDisk: Number(r.min_disk),
    minRam: Number(r.min_ram),
    size: num(r.size),
    virtualSize: num(r.virtual_size),
    checksum: (r.checksum as string | null) ?? null,
    osHashAlgo: (r.os_hash_algo as string | null) ?? null,
    osHashValue: (r.os_hash_value as string | null) ?? null,
    store: (r.store as string | null) ?? null,
    location: (r.location as string | null) ?? null,
    uploadId: (r.upload_id as string | null) ?? null,
    uploadHeartbeatAt: num(r.upload_heartbeat_at),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    properties,
    tags,
  };
}

/** Loads images with their properties and tags in three queries, keeping the rows' order. */
export async function hydrate(db: Knex, rows: Record<string, unknown>[]): Promise<Image[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => String(r.id));
  const props = new Map<string, Record<string, string>>();
  const tags = new Map<string, string[]>();
  for (const id of ids) {
    props.set(id, {});
    tags.set(id, []);
  }
  for (const p of await db('image_properties').whereIn('image_id', ids).orderBy('name')) {
    (props.get(String(p.image_id)) as Record<string, string>)[String(p.name)] = String(p.value);
  }
  for (const t of await db('image_tags').whereIn('image_id', ids).orderBy('value')) {
    (tags.get(String(t.image_id)) as string[]).push(String(t.value));
  }
  return rows.map((r) => imageFromRow(r, props.get(String(r.id)) ?? {}, tags.get(String(r.id)) ?? []));
}

export async function loadImage(
  db: Knex,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<Image | null> {
  const q = db('images').where({ id });
  if (opts.forUpdate) void q.forUpdate();
  const row = await q.first();
  if (!row) return null;
  return (await hydrate(db, [row]))[0];
}

/** The membership of a project in an image, if any. */
export async function membershipOf(
  db: Knex,
  imageId: string,
  projectId: string | null,
): Promise<{ status: string } | null> {
  if (!projectId) return null;
  const row = await db('image_members').where({ image_id: imageId, member: projectId }).first();
  return row ? { status: String(row.status) } : null;
}

/** Glance's is_image_visible: admin, public/community, owner, or a member (any status) of a shared image. */
export async function isVisible(db: Knex, actor: Actor, image: Image): Promise<boolean> {
  if (actor.admin || image.owner === null) return true;
  if (image.visibility === 'public' || image.visibility === 'community') return true;
  if (actor.projectId === null) return false;
  if (image.owner === actor.projectId) return true;
  return image.visibility === 'shared' && (await membershipOf(db, image.id, actor.projectId)) !== null;
}

/** An image the caller may see, or Glance's 404 (another project's private image is not found, not forbidden). */
export async function visibleImage(
  db: Knex,
  actor: Actor,
  id: string,
  opts: { forUpdate?: boolean; message?: string } = {},
): Promise<Image> {
  const image = await loadImage(db, id, opts);
  if (!image || !(await isVisible(db, actor, image))) {
    throw new NotFound(opts.message ?? `No image found with ID ${id}`);
  }
  return image;
}

/** Glance's project-member rule on an image: admin, or a member of the owning project. */
export const ownsImage = (actor: Actor, image: Image): boolean =>
  actor.admin || (actor.member && actor.projectId !== null && actor.projectId === image.owner);
