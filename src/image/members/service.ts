/**
 * Image members (glance/api/v2/image_members.py): the projects a `shared` image is shared with, each with a status
 * only that project sets (pending → accepted / rejected). The owner adds and removes members.
 */
import { BadRequest, Conflict, Forbidden, NotFound, OverQuota } from '../../common/errors.js';
import { isDuplicateKey } from '../../db/columns.js';
import { ownsImage, visibleImage, type Image } from '../images/model.js';
import type { ImageDeps } from '../images/service.js';
import type { Actor } from '../policy.js';

/** Glance's image_member_quota. */
export const MAX_MEMBERS = 128;
export const MEMBER_STATUSES = ['pending', 'accepted', 'rejected'];

export interface Member {
  imageId: string;
  memberId: string;
  status: string;
  createdAt: number;
  updatedAt: number;
}

const fromRow = (r: Record<string, unknown>): Member => ({
  imageId: String(r.image_id),
  memberId: String(r.member),
  status: String(r.status),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

async function sharedImage(deps: ImageDeps, actor: Actor, imageId: string, verb: string): Promise<Image> {
  const image = await visibleImage(deps.db, actor, imageId, { message: `Image ${imageId} not found.` });
  if (image.visibility !== 'shared') {
    throw new Forbidden(
      `Not allowed to ${verb} members for image ${imageId}: Only shared images have members.`,
    );
  }
  return image;
}

/** Whether the caller may read this membership: the image's owner (or admin), or the member project itself. */
const mayRead = (actor: Actor, image: Image, memberId: string) =>
  (actor.reader && actor.projectId === image.owner) || actor.admin || actor.projectId === memberId;

async function lookup(deps: ImageDeps, actor: Actor, image: Image, memberId: string): Promise<Member> {
  const row = await deps.db('image_members').where({ image_id: image.id, member: memberId }).first();
  if (!row || !mayRead(actor, image, memberId)) {
    throw new NotFound(`${memberId} not found in the member list of the image ${image.id}.`);
  }
  return fromRow(row);
}

export async function addMember(
  deps: ImageDeps,
  actor: Actor,
  imageId: string,
  body: unknown,
): Promise<Member> {
  const memberId = (body as { member?: unknown }).member;
  if (memberId === undefined) throw new BadRequest('Member to be added not specified');
  if (memberId === null || memberId === '') throw new BadRequest("Member can't be empty");
  if (typeof memberId !== 'string' || memberId.length > 255) {
    throw new BadRequest('Expected a member in the form: {"member": "image_id"}');
  }
  const image = await sharedImage(deps, actor, imageId, 'create');
  if (!ownsImage(actor, image)) throw new Forbidden(`Not allowed to create members for image ${imageId}.`);
  const now = deps.now();
  try {
    await deps.db.transaction(async (trx) => {
      const [{ n }] = (await trx('image_members').where({ image_id: imageId }).count({ n: '*' })) as {
        n: number | string;
      }[];
      if (Number(n) + 1 > MAX_MEMBERS) {
        throw new OverQuota(
          `Image member limit exceeded for image ${imageId}: The limit has been exceeded on the number of allowed image members for this image. Attempted: ${Number(n) + 1}, Maximum: ${MAX_MEMBERS}`,
          413,
        );
      }
      await trx('image_members').insert({
        image_id: imageId,
        member: memberId,
        status: 'pending',
        created_at: now,
        updated_at: now,
      });
    });
  } catch (err) {
    if (isDuplicateKey(err)) {
      throw new Conflict(`Member ${memberId} is duplicated for image ${imageId}`);
    }
    throw err;
  }
  return { imageId, memberId, status: 'pending', createdAt: now, updatedAt: now };
}

export async function listMembers(deps: ImageDeps, actor: Actor, imageId: string): Promise<Member[]> {
  const image = await sharedImage(deps, actor, imageId, 'list');
  const rows = await deps
    .db('image_members')
    .where({ image_id: imageId })
    .orderBy('created_at')
    .orderBy('member');
  return rows.map(fromRow).filter((m) => mayRead(actor, image, m.memberId));
}

export async function getMember(
  deps: ImageDeps,
  actor: Actor,
  imageId: string,
  memberId: string,
): Promise<Member> {
  let image: Image;
  try {
    image = await sharedImage(deps, actor, imageId, 'show');
  } catch (err) {
    // Glance answers 404 for anything it may not show here
    if (err instanceof Forbidden) throw new NotFound(err.message);
    throw err;
  }
  return lookup(deps, actor, image, memberId);
}

export async function updateMember(
  deps: ImageDeps,
  actor: Actor,
  imageId: string,
  memberId: string,
  body: unknown,
): Promise<Member> {
  const status = (body as { status?: unknown }).status;
  if (status === undefined) throw new BadRequest('Status not specified');
  const image = await sharedImage(deps, actor, imageId, 'update');
  const member = await lookup(deps, actor, image, memberId);
  // only the member project decides (Glance's modify_member: admin or the member itself)
  if (!actor.admin && !(actor.member && actor.projectId === memberId)) {
    throw new Forbidden(`Not allowed to update members for image ${imageId}.`);
  }
  if (typeof status !== 'string' || !MEMBER_STATUSES.includes(status)) {
    throw new BadRequest('Incorrect request: Status must be "pending", "accepted" or "rejected".');
  }
  const now = deps.now();
  await deps
    .db('image_members')
    .where({ image_id: imageId, member: memberId })
    .update({ status, updated_at: now });
  return { ...member, status, updatedAt: now };
}

export async function deleteMember(
  deps: ImageDeps,
  actor: Actor,
  imageId: string,
  memberId: string,
): Promise<void> {
  const image = await sharedImage(deps, actor, imageId, 'delete');
  await lookup(deps, actor, image, memberId);
  if (!ownsImage(actor, image)) throw new Forbidden(`Not allowed to delete members for image ${imageId}.`);
  await deps.db('image_members').where({ image_id: imageId, member: memberId }).delete();
}
