import type { Knex } from 'knex';
import type { Host } from '../../cluster/hosts/service.js';
import { listComputeHosts } from '../services/service.js';

/**
 * Nova's zones: a zone is available when it has an enabled nova-compute service (up or not), and listed as
 * unavailable when all its services are disabled. Hosts carry their zone (the aggregates keep it current).
 */
export function zones(hosts: Host[]): { available: string[]; unavailable: string[] } {
  const available = [...new Set(hosts.filter((h) => h.enabled).map((h) => h.availabilityZone))].sort();
  const unavailable = [...new Set(hosts.filter((h) => !h.enabled).map((h) => h.availabilityZone))]
    .filter((z) => !available.includes(z))
    .sort();
  return { available, unavailable };
}

/** The zones a server may be asked to boot in (Nova: zones with an enabled compute service). */
export async function availableZones(db: Knex): Promise<Set<string>> {
  return new Set(zones(await listComputeHosts(db)).available);
}
