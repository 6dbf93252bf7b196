/**
 * Recording of instance actions and their events (Nova's InstanceAction / InstanceActionEvent), called by the
 * API when an action starts and by the task steps that carry it out. Every call is idempotent: a task step
 * retried after a crash records nothing twice, and an action's `updated_at` follows its last event (2.58).
 */
import type { Knex } from 'knex';
import { isDuplicateKey } from '../../../db/columns.js';

export interface ActionRecord {
  serverUuid: string;
  requestId: string;
  action: string;
  projectId: string;
  userId: string;
  now: number;
}

async function actionIdOf(db: Knex, serverUuid: string, requestId: string): Promise<number | null> {
  const row = await db('instance_actions')
    .where({ server_uuid: serverUuid, request_id: requestId })
    .first('id');
  return row ? Number(row.id) : null;
}

/** Records an action; returns its id. The same (server, request id) again returns the first record's id. */
export async function recordAction(db: Knex, a: ActionRecord): Promise<number> {
  const existing = await actionIdOf(db, a.serverUuid, a.requestId);
  if (existing !== null) return existing;
  try {
    const [id] = await db('instance_actions').insert({
      request_id: a.requestId,
      server_uuid: a.serverUuid,
      action: a.action,
      project_id: a.projectId,
      user_id: a.userId,
      message: null,
      start_time: a.now,
      updated_at: a.now,
    });
    return Number(id);
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const raced = await actionIdOf(db, a.serverUuid, a.requestId);
    if (raced === null) throw err;
    return raced;
  }
}

/**
 * Starts an event of an action (e.g. compute_stop_instance on a host). Again for the same event: nothing
 * changes but a host learnt since (a retried step that now knows where it runs).
 */
export async function startEvent(
  db: Knex,
  actionId: number,
  event: string,
  host: string | null,
  now: number,
): Promise<void> {
  const existing = await db('instance_action_events').where({ action_id: actionId, event }).first();
  if (existing) {
    if (host !== null && existing.host === null)
      await db('instance_action_events').where({ id: existing.id }).update({ host });
    return;
  }
  try {
    await db('instance_action_events').insert({
      action_id: actionId,
      event,
      result: null,
      traceback: null,
      host,
      start_time: now,
      finish_time: null,
    });
  } catch (err) {
    if (!isDuplicateKey(err)) throw err; // a concurrent start of the same event: it is recorded
    return;
  }
  await db('instance_actions').where({ id: actionId }).update({ updated_at: now });
}

/**
 * Finishes an event with its result. An 'Error' marks the whole action with message 'Error', as Nova's
 * action_event_finish. An event finished without having been started (a step that failed before it could
 * start it) is recorded as starting and finishing now, rather than lost.
 */
export async function finishEvent(
  db: Knex,
  actionId: number,
  event: string,
  result: 'Success' | 'Error',
  now: number,
  traceback?: string,
): Promise<void> {
  const values = { result, finish_time: now, traceback: traceback ?? null };
  const n = await db('instance_action_events').where({ action_id: actionId, event }).update(values);
  if (n === 0) {
    try {
      await db('instance_action_events').insert({
        action_id: actionId,
        event,
        host: null,
        start_time: now,
        ...values,
      });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      await db('instance_action_events').where({ action_id: actionId, event }).update(values);
    }
  }
  await db('instance_actions')
    .where({ id: actionId })
    .update(result === 'Error' ? { message: 'Error', updated_at: now } : { updated_at: now });
}
