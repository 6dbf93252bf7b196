/**
 * createImage as a task: the host's agent writes a flattened qcow2 of the root disk next to the images on the
 * shared store (pausing a running guest for the copy), then the image service takes that file in as the
 * image's data exactly as an upload (checksums, format inspection, quota) and the temporary copy goes. A
 * failure deletes the queued image, as Nova's snapshot does.
 */
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { deleteImage, uploadImageData } from '../../image/images/service.js';
import type { Actor } from '../../image/policy.js';
import { finishEvent, startEvent } from '../servers/instance-actions/record.js';
import type { StepContext, TaskDefinition } from './runner.js';
import { agentOf, hostOf, isGoing, loadServer, storeMount } from './server-state.js';

export const SNAPSHOT_TASK = 'snapshot';

export interface SnapshotPayload {
  actionId: number;
  imageId: string;
  projectId: string;
  /** createBackup: the backup type, and how many backups of it (this one included) to keep. */
  backup?: { type: string; rotation: number };
}

type Ctx = StepContext<SnapshotPayload>;

const EVENT = 'compute_snapshot_instance';
/** A copy of a large disk takes a while: the agent call may last this long. */
const SNAPSHOT_TIMEOUT_MS = 30 * 60_000;

const ownerActor = (projectId: string): Actor => ({ projectId, admin: false, member: true, reader: true });
/** The copy's place on the store, relative to its root (the same store the API keeps images on). */
const tempRelative = (imageId: string) => `snapshots/${imageId}.qcow2`;

async function run(ctx: Ctx): Promise<string> {
  const uuid = ctx.task.serverUuid;
  const server = await loadServer(ctx.db, uuid);
  if (isGoing(server) || !server) throw new Error(`server ${uuid} is being deleted`);
  const instance = await ctx.db('instances').where({ uuid }).first('host_id', 'generation');
  if (!instance?.host_id) throw new Error(`server ${uuid} has no host`);
  const host = await hostOf(ctx.db, Number(instance.host_id));
  await startEvent(ctx.db, ctx.payload.actionId, EVENT, host.hostname, ctx.now());
  const mount = storeMount(host, ctx.config);
  await ctx
    .db('servers')
    .where({ uuid })
    .update({ task_state: 'image_pending_upload', updated_at: ctx.now() });
  const copy = await agentOf(host, ctx.config, SNAPSHOT_TIMEOUT_MS).snapshot(
    uuid,
    Number(instance.generation),
    `${mount}/${tempRelative(ctx.payload.imageId)}`,
  );
  await ctx.db('servers').where({ uuid }).update({ task_state: 'image_uploading', updated_at: ctx.now() });
  const local = `${ctx.config.image.store_dir}/${tempRelative(ctx.payload.imageId)}`;
  try {
    const stream = createReadStream(local) as unknown as IncomingMessage;
    await uploadImageData(ctx, ownerActor(ctx.payload.projectId), ctx.payload.imageId, stream, copy.size);
  } finally {
    await rm(local, { force: true });
  }
  const now = ctx.now();
  await ctx
    .db('servers')
    .where({ uuid, task_state: 'image_uploading' })
    .update({ task_state: null, updated_at: now });
  if (ctx.payload.backup) await rotateBackups(ctx, uuid, ctx.payload.backup);
  await finishEvent(ctx.db, ctx.payload.actionId, EVENT, 'Success', now);
  return 'done';
}

/**
 * Nova's _rotate_backups: the server's backups of this type, newest first; those beyond `rotation` go (with
 * rotation 0, all of them, the new one too). A backup that cannot be deleted (e.g. a server boots from it) stays.
 */
async function rotateBackups(
  ctx: Ctx,
  uuid: string,
  backup: { type: string; rotation: number },
): Promise<void> {
  const withProperty = (name: string, value: string) =>
    ctx.db('image_properties').where({ name, value }).select('image_id');
  const rows = await ctx
    .db('images')
    .where({ owner: ctx.payload.projectId })
    .whereIn('id', withProperty('instance_uuid', uuid))
    .whereIn('id', withProperty('image_type', 'backup'))
    .whereIn('id', withProperty('backup_type', backup.type))
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .select('id');
  for (const r of rows.slice(backup.rotation)) {
    await deleteImage(ctx, ownerActor(ctx.payload.projectId), String(r.id)).catch((err: Error) =>
      ctx.log.warn({ err, image: r.id }, 'backup rotation could not delete an old backup'),
    );
  }
}

async function fail(ctx: Ctx, err: Error): Promise<void> {
  const now = ctx.now();
  await finishEvent(ctx.db, ctx.payload.actionId, EVENT, 'Error', now, err.stack ?? err.message);
  await rm(`${ctx.config.image.store_dir}/${tempRelative(ctx.payload.imageId)}`, { force: true });
  await deleteImage(ctx, ownerActor(ctx.payload.projectId), ctx.payload.imageId).catch((e: Error) =>
    ctx.log.warn({ err: e, image: ctx.payload.imageId }, 'could not delete the image of a failed snapshot'),
  );
  await ctx
    .db('servers')
    .where({ uuid: ctx.task.serverUuid })
    .whereIn('task_state', ['image_snapshot', 'image_backup', 'image_pending_upload', 'image_uploading'])
    .update({ task_state: null, updated_at: now });
}

export const snapshotTask: TaskDefinition<SnapshotPayload> = { kind: SNAPSHOT_TASK, steps: { run }, fail };
