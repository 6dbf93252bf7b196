/**
 * rebuild (Nova's servers.py _action_rebuild): a new image on the same disk path. The request's changes
 * (image, name, metadata, key, user data, description, access IPs) are written with the state change, then
 * the rebuild task recreates the disk and the domain. 202 with the server and its adminPass.
 */
import type { JsonSchema, VersionedSchema } from '../../../common/validation.js';
import { BadRequest, NotFound } from '../../../common/errors.js';
import { toJson } from '../../../db/columns.js';
import { getKeyPair } from '../../keypairs/service.js';
import { description, metadata, name, normalizeIpv6 } from '../../parameter-types.js';
import { REBUILD_TASK, type RebuildPayload } from '../../tasks/rebuild.js';
import { checkImageFitsFlavor, findImage, generatePassword } from '../create.js';
import { replaceMetadata } from '../metadata/service.js';
import { serverFromRow } from '../model.js';
import { updateAnswerView } from '../view.js';
import { beginAction, checkUnlocked } from './transition.js';
import type { ActionHandler } from './types.js';

interface RebuildOptions {
  description: boolean; // 2.19
  keyName: boolean; // 2.54
  userData: boolean; // 2.57 (and personality gone)
  trustedCerts: boolean; // 2.63
}

function rebuildSchema(o: RebuildOptions): JsonSchema {
  return {
    type: 'object',
    properties: {
      imageRef: { type: 'string', minLength: 1, maxLength: 255 },
      name,
      adminPass: { type: 'string' },
      metadata,
      preserve_ephemeral: { type: 'boolean' },
      'OS-DCF:diskConfig': { type: 'string', enum: ['AUTO', 'MANUAL'] },
      accessIPv4: { type: 'string', format: 'ipv4' },
      accessIPv6: { type: 'string', format: 'ipv6' },
      ...(o.userData
        ? { user_data: { type: ['string', 'null'], format: 'byte', maxLength: 65535 } }
        : { personality: { type: 'array' } }),
      ...(o.description ? { description } : {}),
      ...(o.keyName ? { key_name: { type: ['string', 'null'], minLength: 1, maxLength: 255 } } : {}),
      ...(o.trustedCerts ? { trusted_image_certificates: { type: ['array', 'null'], maxItems: 0 } } : {}),
    },
    required: ['imageRef'],
    additionalProperties: false,
  };
}

const schemas: VersionedSchema[] = [
  {
    max: '2.18',
    schema: rebuildSchema({ description: false, keyName: false, userData: false, trustedCerts: false }),
  },
  {
    min: '2.19',
    max: '2.53',
    schema: rebuildSchema({ description: true, keyName: false, userData: false, trustedCerts: false }),
  },
  {
    min: '2.54',
    max: '2.56',
    schema: rebuildSchema({ description: true, keyName: true, userData: false, trustedCerts: false }),
  },
  {
    min: '2.57',
    max: '2.62',
    schema: rebuildSchema({ description: true, keyName: true, userData: true, trustedCerts: false }),
  },
  {
    min: '2.63',
    schema: rebuildSchema({ description: true, keyName: true, userData: true, trustedCerts: true }),
  },
];

export const rebuildActions: ActionHandler[] = [
  {
    name: 'rebuild',
    schema: schemas,
    policy: 'servers:rebuild',
    errors: [400, 403, 404, 409],
    async run(c) {
      const b = c.body as Record<string, unknown>;
      const s = c.server;
      checkUnlocked(s, c.auth);
      const image = await findImage(c, b.imageRef as string);
      checkImageFitsFlavor(image, {
        memoryMb: s.memoryMb,
        rootGb: s.rootGb,
      });
      const changes: Record<string, unknown> = { image_id: image.id };
      if (b.name !== undefined) changes.name = b.name;
      if (b.description !== undefined) changes.description = b.description;
      if (b.accessIPv4 !== undefined) changes.access_ip_v4 = b.accessIPv4;
      if (b.accessIPv6 !== undefined) changes.access_ip_v6 = normalizeIpv6(b.accessIPv6 as string);
      if (b.user_data !== undefined) changes.user_data = b.user_data;
      if (b.key_name !== undefined) {
        if (b.key_name === null) Object.assign(changes, { key_name: null, key_data: null });
        else {
          try {
            const kp = await getKeyPair(c.db, s.userId, b.key_name as string);
            Object.assign(changes, { key_name: kp.name, key_data: kp.publicKey });
          } catch (err) {
            if (err instanceof NotFound) throw new BadRequest('Invalid key_name provided.');
            throw err;
          }
        }
      }
      const adminPass = (b.adminPass as string | undefined) ?? generatePassword();
      changes.request = toJson({ ...s.request, adminPass });
      const taskId = await beginAction<RebuildPayload>(
        c.db,
        s,
        c.auth,
        {
          action: 'rebuild',
          vmStates: ['active', 'stopped', 'error'],
          taskStates: [null],
          taskState: 'rebuilding',
        },
        { kind: REBUILD_TASK, payload: (actionId) => ({ actionId, wasStopped: s.vmState === 'stopped' }) },
        c.requestId,
        c.now(),
        async (trx) => {
          await trx('servers')
            .where({ uuid: s.uuid })
            .update({ ...changes, updated_at: c.now() });
          if (b.metadata !== undefined)
            await replaceMetadata(trx, s.uuid, b.metadata as Record<string, string>);
        },
      );
      c.kick([taskId]);
      const row = serverFromRow(await c.db('servers').where({ uuid: s.uuid }).first());
      const server = updateAnswerView(await c.render(row), c.mv);
      delete server['OS-EXT-SRV-ATTR:user_data']; // the rebuild answer shows it at the top level instead
      if (c.mv.atLeast('2.57')) server.user_data = row.userData; // 2.57: rebuild may change it, so it is shown
      return { status: 202, body: { server: { ...server, adminPass } } };
    },
  },
];
