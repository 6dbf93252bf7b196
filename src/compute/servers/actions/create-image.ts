/**
 * createImage and createBackup (Nova's servers.py _action_create_image, create_backup.py): a Glance image owned
 * by the server's project, queued now and filled by the snapshot task; a backup also carries its backup_type
 * and, once active, deletes the oldest backups of that type beyond `rotation`. 202 with a Location header
 * before 2.45 (for a backup only when rotation > 0, as Nova), with {"image_id"} from 2.45.
 */
import { createImage, deleteImage } from '../../../image/images/service.js';
import { actorOf } from '../../../image/policy.js';
import type { JsonSchema } from '../../../common/validation.js';
import { metadata, name, nonNegativeInteger } from '../../parameter-types.js';
import { SNAPSHOT_TASK, type SnapshotPayload } from '../../tasks/snapshot.js';
import { beginAction, checkUnlocked } from './transition.js';
import type { ActionContext, ActionHandler, ActionResult } from './types.js';

const imageSchema: JsonSchema = {
  type: 'object',
  properties: { name, metadata },
  required: ['name'],
  additionalProperties: false,
};

const backupSchema: JsonSchema = {
  type: 'object',
  properties: { name, backup_type: { type: 'string' }, rotation: nonNegativeInteger, metadata },
  required: ['name', 'backup_type', 'rotation'],
  additionalProperties: false,
};

interface SnapshotRequest {
  action: 'createImage' | 'createBackup';
  taskState: 'image_snapshot' | 'image_backup';
  imageName: string;
  metadata: Record<string, string>;
  backup?: { type: string; rotation: number };
}

async function startSnapshot(c: ActionContext, r: SnapshotRequest): Promise<ActionResult> {
  const s = c.server;
  checkUnlocked(s, c.auth);
  const deps = { db: c.db, config: c.config, now: c.now, log: c.log };
  const actor = actorOf({ ...c.auth, projectId: s.projectId });
  const image = await createImage(deps, actor, {
    ...r.metadata,
    name: r.imageName,
    disk_format: 'qcow2',
    container_format: 'bare',
    visibility: 'private',
    min_disk: s.rootGb,
    min_ram: 0,
    instance_uuid: s.uuid,
    image_type: r.backup ? 'backup' : 'snapshot',
    ...(r.backup ? { backup_type: r.backup.type } : {}),
    base_image_ref: s.imageId,
    user_id: c.auth.userId,
    owner_id: s.projectId,
    image_location: 'snapshot',
    image_state: 'available',
  });
  let taskId: string;
  try {
    taskId = await beginAction<SnapshotPayload>(
      c.db,
      s,
      c.auth,
      {
        action: r.action,
        vmStates: ['active', 'stopped', 'paused', 'suspended'],
        taskStates: [null],
        taskState: r.taskState,
      },
      {
        kind: SNAPSHOT_TASK,
        payload: (actionId) => ({
          actionId,
          imageId: image.id,
          projectId: s.projectId,
          ...(r.backup ? { backup: r.backup } : {}),
        }),
      },
      c.requestId,
      c.now(),
    );
  } catch (err) {
    await deleteImage(deps, actor, image.id).catch(() => undefined);
    throw err;
  }
  c.kick([taskId]);
  if (c.mv.atLeast('2.45')) return { status: 202, body: { image_id: image.id } };
  if (r.backup && r.backup.rotation === 0) return { status: 202 };
  const imageBase = `${c.config.api.public_url}/image`;
  return { status: 202, headers: { Location: `${imageBase}/v2/images/${image.id}` } };
}

export const createImageActions: ActionHandler[] = [
  {
    name: 'createImage',
    schema: imageSchema,
    policy: 'servers:create_image',
    errors: [400, 403, 404, 409, 413],
    run(c) {
      const b = c.body as { name: string; metadata?: Record<string, string> };
      return startSnapshot(c, {
        action: 'createImage',
        taskState: 'image_snapshot',
        imageName: b.name,
        metadata: b.metadata ?? {},
      });
    },
  },
  {
    name: 'createBackup',
    schema: backupSchema,
    policy: 'os-create-backup',
    errors: [400, 403, 404, 409, 413],
    run(c) {
      const b = c.body as {
        name: string;
        backup_type: string;
        rotation: number | string;
        metadata?: Record<string, string>;
      };
      return startSnapshot(c, {
        action: 'createBackup',
        taskState: 'image_backup',
        imageName: b.name,
        metadata: b.metadata ?? {},
        backup: { type: b.backup_type, rotation: Number(b.rotation) },
      });
    },
  },
];
