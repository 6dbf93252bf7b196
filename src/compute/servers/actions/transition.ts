/**
 * Nova's check_instance_state and the start of a server action: in one conditional UPDATE the server moves
 * to the action's task_state only from the states Nova allows, so of two racing actions one wins and the
 * other gets 409; the instance action and the task are written in the same transaction.
 */
import type { Knex } from 'knex';
import type { AuthContext } from '../../../common/context.js';
import { Conflict } from '../../../common/errors.js';
import { isAdmin } from '../../policy.js';
import { recordAction } from '../instance-actions/record.js';
import { serverFromRow, serverNotFound, type ServerRow } from '../model.js';
import { TaskRunner } from '../../tasks/runner.js';

export interface Transition {
  /** Nova's action name in messages ("Cannot 'start' instance ...") and in os-instance-actions. */
  action: string;
  vmStates: string[];
  /** Allowed task states; [null] when the server must be idle. */
  taskStates: (string | null)[];
  taskState: string;
}

/** Nova's InstanceIsLocked: a locked server refuses actions from anyone but an admin. */
export function checkUnlocked(server: ServerRow, auth: AuthContext): void {
  if (server.locked && !isAdmin(auth)) throw new Conflict(`Instance ${server.uuid} is locked`);
}

export function invalidState(action: string, server: ServerRow): Conflict {
  const byTask = server.taskState !== null;
  return new Conflict(
    `Cannot '${action}' instance ${server.uuid} while it is in ${byTask ? 'task_state' : 'vm_state'} ${byTask ? server.taskState : server.vmState}`,
  );
}

/**
 * Moves the server into the action's task_state and records the action and its task; returns the task id
 * (the caller kicks it after the transaction). 409 when the state does not allow the action.
 */
export async function beginAction<P>(
  db: Knex,
  server: ServerRow,
  auth: AuthContext,
  t: Transition,
  task: { kind: string; payload: (actionId: number) => P },
  requestId: string,
  now: number,
  /** Writes that belong with the state change (e.g. rebuild's new image), in the same transaction. */
  also?: (trx: Knex.Transaction) => Promise<void>,
): Promise<string> {
  checkUnlocked(server, auth);
  return db.transaction(async (trx) => {
    const q = trx('servers')
      .where({ uuid: server.uuid })
      .whereNull('deleted_at')
      .whereIn('vm_state', t.vmStates);
    const tasks = t.taskStates.filter((s): s is string => s !== null);
    q.where((w) => {
      if (t.taskStates.includes(null)) w.whereNull('task_state');
      if (tasks.length) w.orWhereIn('task_state', tasks);
    });
    const n = await q.update({ task_state: t.taskState, updated_at: now });
    if (n !== 1) {
      const row = await trx('servers').where({ uuid: server.uuid }).whereNull('deleted_at').first();
      if (!row) throw serverNotFound(server.uuid);
      throw invalidState(t.action, serverFromRow(row));
    }
    if (also) await also(trx);
    const actionId = await recordAction(trx, {
      serverUuid: server.uuid,
      requestId,
      action: t.action,
      projectId: auth.projectId ?? server.projectId,
      userId: auth.userId,
      now,
    });
    return TaskRunner.create(trx, {
      kind: task.kind,
      serverUuid: server.uuid,
      step: 'run',
      payload: task.payload(actionId),
      now,
    });
  });
}
