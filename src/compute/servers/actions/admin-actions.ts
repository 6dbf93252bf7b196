/**
 * os-resetState (Nova's admin_actions.py): an admin sets vm_state to active or error and clears the task
 * state, with no call to the host, to recover a server a failure left in a wrong state. Recorded as the
 * instance action `resetState`, as Nova since Train.
 */
import type { JsonSchema } from '../../../common/validation.js';
import { recordAction } from '../instance-actions/record.js';
import type { ActionHandler } from './types.js';

const schema: JsonSchema = {
  type: 'object',
  properties: { state: { type: 'string', enum: ['active', 'error'] } },
  required: ['state'],
  additionalProperties: false,
};

export const adminActions: ActionHandler[] = [
  {
    name: 'os-resetState',
    schema,
    policy: 'os-admin-actions:reset_state',
    adminOnly: true,
    errors: [400, 404],
    async run(c) {
      const { state } = c.body as { state: 'active' | 'error' };
      const now = c.now();
      await c.db.transaction(async (trx) => {
        await trx('servers')
          .where({ uuid: c.server.uuid })
          .update({ vm_state: state, task_state: null, updated_at: now });
        await recordAction(trx, {
          serverUuid: c.server.uuid,
          requestId: c.requestId,
          action: 'resetState',
          projectId: c.server.projectId,
          userId: c.auth.userId,
          now,
        });
      });
      return { status: 202 };
    },
  },
];
