import type { Microversion } from '../../common/microversion.js';
import { isoMicrosNoZ } from '../../common/time.js';
import { hostState, type Host } from '../../cluster/hosts/service.js';
import { COMPUTE_BINARY } from './service.js';

/** One nova-compute service as GET /os-services shows it at microversion mv. */
export function serviceView(
  h: Host,
  mv: Microversion,
  now: number,
  downAfterMs: number,
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    id: mv.atLeast('2.53') ? h.uuid : h.id, // 2.53: UUID ids
    binary: COMPUTE_BINARY,
    host: h.hostname,
    zone: h.availabilityZone,
    status: h.enabled ? 'enabled' : 'disabled',
    state: hostState(h, now, downAfterMs),
    // Nova's updated_at is the service's last heartbeat, in its zone-less format.
    updated_at: h.lastReportAt === null ? null : isoMicrosNoZ(h.lastReportAt),
    disabled_reason: h.disabledReason,
  };
  if (mv.atLeast('2.11')) body.forced_down = h.forcedDown; // 2.11
  return body;
}
