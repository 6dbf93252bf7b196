/**
 * createImage (Nova's servers.py _action_create_image): a Glance image owned by the server's project, queued
 * now and filled by the snapshot task. 202 with a Location header before 2.45, with {"image_id"} from 2.45.
 */
import { createImage, deleteImage } from '../../../image/images/service.js';
import { actorOf } from '../../../image/policy.js';
import type { JsonSchema } from '../../../common/validation.js';
import { metadata, name } from '../../parameter-types.js';
import { SNAPSHOT_TASK, type SnapshotPayload } from '../../tasks/snapshot.js';
import { beginAction, checkUnlocked } from './transition.js';
import type { ActionHandler } from './types.js';

const schema: JsonSchema = {
  type: 'object',
  properties: { name, metadata },
  required: ['name'],
  additionalProperties: false,
};

export const createImageActions: ActionHandler[] = [
  {
    name: 'createImage',
    schema,
    policy: 'servers:create_image',
    errors: [400, 403, 404, 409, 413],
    async run(c) {
      const { name: imageName, metadata: md } = c.body as { name: string; metadata?: Record<string, string> };
      const s = c.server;
      checkUnlocked(s, c.auth);
      const deps = { db: c.db, config: c.config, now: c.now, log: c.log };
      const actor = actorOf({ ...c.auth, projectId: s.projectId });
      const image = await createImage(deps, actor, {
        ...(md ?? {}),
        name: imageName,
        disk_format: 'qcow2',
        container_format: 'bare',
        visibility: 'private',
        min_disk: s.rootGb,
        min_ram: 0,
        instance_uuid: s.uuid,
        image_type: 'snapshot',
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
            action: 'createImage',
            vmStates: ['active', 'stopped', 'paused', 'suspended'],
            taskStates: [null],
            taskState: 'image_snapshot',
          },
          {
            kind: SNAPSHOT_TASK,
            payload: (actionId) => ({ actionId, imageId: image.id, projectId: s.projectId }),
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
      const imageBase = `${c.config.api.public_url}/image`;
      return { status: 202, headers: { Location: `${imageBase}/v2/images/${image.id}` } };
    },
  },
];
