/** Instance action bodies as Nova's instance_actions.py formats them, per microversion. */
import type { Microversion } from '../../../common/microversion.js';
import { isoMicrosNoZ } from '../../../common/time.js';
import { novaHostId } from './host-id.js';
import type { InstanceAction, InstanceActionEvent } from './service.js';

/** ACTION_KEYS, and ACTION_KEYS_V258 with updated_at. Times as Nova's: microseconds, no zone. */
export function actionView(a: InstanceAction, mv: Microversion): Record<string, unknown> {
  const body: Record<string, unknown> = {
    action: a.action,
    instance_uuid: a.serverUuid,
    request_id: a.requestId,
    user_id: a.userId,
    project_id: a.projectId,
    start_time: isoMicrosNoZ(a.startTime),
    message: a.message,
  };
  if (mv.atLeast('2.58')) body.updated_at = isoMicrosNoZ(a.updatedAt); // 2.58
  return body;
}

export interface EventShow {
  traceback: boolean;
  host: boolean;
  hostId: boolean;
  projectId: string;
}

/** EVENT_KEYS; traceback only for admins, host for admins from 2.62, hostId for everyone from 2.62. */
export function eventView(e: InstanceActionEvent, show: EventShow): Record<string, unknown> {
  const body: Record<string, unknown> = {
    event: e.event,
    start_time: isoMicrosNoZ(e.startTime),
    finish_time: e.finishTime === null ? null : isoMicrosNoZ(e.finishTime),
    result: e.result,
  };
  if (show.traceback) body.traceback = e.traceback;
  if (show.host) body.host = e.host;
  if (show.hostId) body.hostId = novaHostId(show.projectId, e.host);
  return body;
}
