/** lock / unlock (Nova's lock_server.py): no task, the row changes at once; 2.73 adds locked_reason. */
import type { JsonSchema, VersionedSchema } from '../../../common/validation.js';
import { policyDenied } from '../../../common/http/route.js';
import { isAdmin } from '../../policy.js';
import type { ActionHandler } from './types.js';

const lockSchemas: VersionedSchema[] = [
  { max: '2.72', schema: { type: ['null', 'object'] } },
  {
    min: '2.73',
    schema: {
      type: ['object', 'null'],
      properties: { locked_reason: { type: 'string', minLength: 1, maxLength: 255 } },
      additionalProperties: false,
    },
  },
];
const unlockSchema: JsonSchema = { type: ['null', 'object'] };

export const lockActions: ActionHandler[] = [
  {
    name: 'lock',
    schema: lockSchemas,
    policy: 'os-lock-server:lock',
    errors: [404],
    async run(c) {
      const reason = (c.body as { locked_reason?: string } | null)?.locked_reason ?? null;
      await c
        .db('servers')
        .where({ uuid: c.server.uuid })
        .update({
          locked: true,
          locked_by: c.auth.projectId === c.server.projectId ? 'owner' : 'admin',
          locked_reason: reason,
          updated_at: c.now(),
        });
      return { status: 202 };
    },
  },
  {
    name: 'unlock',
    schema: unlockSchema,
    policy: 'os-lock-server:unlock',
    errors: [404],
    async run(c) {
      // A lock an admin set is an admin's to lift (os-lock-server:unlock:unlock_override).
      if (c.server.locked && c.server.lockedBy === 'admin' && !isAdmin(c.auth))
        throw policyDenied('os_compute_api:os-lock-server:unlock:unlock_override');
      await c
        .db('servers')
        .where({ uuid: c.server.uuid })
        .update({ locked: false, locked_by: null, locked_reason: null, updated_at: c.now() });
      return { status: 202 };
    },
  },
];
