/**
 * changePassword (Nova's admin_password.py): Nova's libvirt driver sets the password through the QEMU guest
 * agent and answers 409 when the guest has none. kvmstack's domains have no guest-agent channel, so an ACTIVE
 * server always gets that 409; any other state gets Nova's invalid-state 409 first.
 */
import { Conflict } from '../../../common/errors.js';
import type { JsonSchema } from '../../../common/validation.js';
import { checkUnlocked, invalidState } from './transition.js';
import type { ActionHandler } from './types.js';

const schema: JsonSchema = {
  type: 'object',
  properties: { adminPass: { type: 'string' } },
  required: ['adminPass'],
  additionalProperties: false,
};

export const passwordActions: ActionHandler[] = [
  {
    name: 'changePassword',
    schema,
    policy: 'os-admin-password',
    errors: [404, 409, 501],
    async run(c) {
      checkUnlocked(c.server, c.auth);
      if (c.server.vmState !== 'active' || c.server.taskState !== null)
        throw invalidState('changePassword', c.server);
      throw new Conflict('QEMU guest agent is not enabled');
    },
  },
];
