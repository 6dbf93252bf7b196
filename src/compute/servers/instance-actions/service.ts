/** Reading instance actions (Nova's InstanceActionAPI.actions_get / action_get_by_request_id / events_get). */
import type { Knex } from 'knex';
import { BadRequest } from '../../../common/errors.js';

export interface InstanceAction {
  id: number;
  requestId: string;
  serverUuid: string;
  action: string;
  projectId: string;
  userId: string;
  message: string | null;
  startTime: number;
  updatedAt: number;
}

export interface InstanceActionEvent {
  event: string;
  result: string | null;
  traceback: string | null;
  host: string | null;
  startTime: number;
  finishTime: number | null;
}

const actionFromRow = (r: Record<string, unknown>): InstanceAction => ({
  id: Number(r.id),
  requestId: String(r.request_id),
  serverUuid: String(r.server_uuid),
  action: String(r.action),
  projectId: String(r.project_id),
  userId: String(r.user_id),
  message: (r.message as string | null) ?? null,
  startTime: Number(r.start_time),
  updatedAt: Number(r.updated_at),
});

export interface ActionQuery {
  /** null: no paging (before 2.58). */
  limit: number | null;
  marker: string | null;
  changesSince: number | null;
  changesBefore: number | null;
}

/** A server's actions, newest first (Nova sorts by created_at desc, id desc); hasMore: a next page exists. */
export async function listActions(
  db: Knex,
  serverUuid: string,
  q: ActionQuery,
): Promise<{ actions: InstanceAction[]; hasMore: boolean }> {
  const query = db('instance_actions').where({ server_uuid: serverUuid });
  if (q.changesSince !== null) query.where('updated_at', '>=', q.changesSince);
  if (q.changesBefore !== null) query.where('updated_at', '<=', q.changesBefore);
  if (q.marker !== null) {
    const m = await db('instance_actions').where({ server_uuid: serverUuid, request_id: q.marker }).first();
    if (!m) throw new BadRequest(`Marker ${q.marker} could not be found.`);
    const [t, id] = [Number(m.start_time), Number(m.id)];
    query.where((w) =>
      w.where('start_time', '<', t).orWhere((w2) => w2.where('start_time', t).where('id', '<', id)),
    );
  }
  if (q.limit === 0) return { actions: [], hasMore: false };
  query.orderBy([
    { column: 'start_time', order: 'desc' },
    { column: 'id', order: 'desc' },
  ]);
  if (q.limit !== null) query.limit(q.limit + 1);
  const rows = (await query).map(actionFromRow);
  const hasMore = q.limit !== null && rows.length > q.limit;
  return { actions: hasMore ? rows.slice(0, q.limit as number) : rows, hasMore };
}

/** The server's action of this request id, or null (the newest if an id was somehow reused). */
export async function getAction(
  db: Knex,
  serverUuid: string,
  requestId: string,
): Promise<InstanceAction | null> {
  const row = await db('instance_actions')
    .where({ server_uuid: serverUuid, request_id: requestId })
    .orderBy([
      { column: 'start_time', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .first();
  return row ? actionFromRow(row) : null;
}

/** An action's events, newest first (Nova's action_events_get). */
export async function actionEvents(db: Knex, actionId: number): Promise<InstanceActionEvent[]> {
  const rows = await db('instance_action_events')
    .where({ action_id: actionId })
    .orderBy([
      { column: 'start_time', order: 'desc' },
      { column: 'id', order: 'desc' },
    ]);
  return rows.map((r: Record<string, unknown>) => ({
    event: String(r.event),
    result: (r.result as string | null) ?? null,
    traceback: (r.traceback as string | null) ?? null,
    host: (r.host as string | null) ?? null,
    startTime: Number(r.start_time),
    finishTime: r.finish_time === null || r.finish_time === undefined ? null : Number(r.finish_time),
  }));
}
