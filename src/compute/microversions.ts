import type { MicroversionPolicy } from '../common/microversion.js';
import { Microversion } from '../common/microversion.js';

/** Nova v2.1's microversion range served by kvmstack (project decision: at least 2.79, see openstack-api.md §0). */
export const COMPUTE_MICROVERSIONS: MicroversionPolicy = {
  service: 'compute',
  legacyHeader: 'X-OpenStack-Nova-API-Version',
  min: '2.1',
  max: '2.79',
};

/**
 * The maximum shown in the version document. python-novaclient (User-Agent "python-novaclient") sees at most
 * [compute] novaclient_max_microversion, so that `nova evacuate --on-shared-storage` (≤ 2.13) keeps working.
 */
export function advertisedComputeMax(userAgent: string | undefined, novaclientMax: string): string {
  if (!novaclientMax || !userAgent?.startsWith('python-novaclient')) return COMPUTE_MICROVERSIONS.max;
  const cap = Microversion.parse(novaclientMax);
  return cap.compare(COMPUTE_MICROVERSIONS.max) < 0 ? String(cap) : COMPUTE_MICROVERSIONS.max;
}
