/**
 * restore (Nova's deferred_delete.py): brings back a SOFT_DELETED server. kvmstack deletes at once (Nova with
 * reclaim_instance_interval = 0), so no server is ever soft-deleted and restore always meets Nova's 409 for
 * the state the server is in. forceDelete, the other half of deferred_delete.py, is in ../routes.ts.
 */
import { checkUnlocked, invalidState } from './transition.js';
import type { ActionHandler } from './types.js';

export const deferredDeleteActions: ActionHandler[] = [
  {
    name: 'restore',
    schema: { type: ['null', 'object'] },
    policy: 'os-deferred-delete:restore',
    errors: [403, 404, 409],
    async run(c) {
      checkUnlocked(c.server, c.auth);
      throw invalidState('restore', c.server);
    },
  },
];
