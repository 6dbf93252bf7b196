/**
 * Nova's compute services are kvmstack's enrolled hosts: one nova-compute per host. kvmstack runs no
 * nova-scheduler/nova-conductor processes, so none are listed (a service that cannot be disabled or go down
 * would only mislead `compute service list`).
 */
import type { Knex } from 'knex';
import { BadRequest, NotFound } from '../../common/errors.js';
import { hostFromRow, type Host } from '../../cluster/hosts/service.js';

export const COMPUTE_BINARY = 'nova-compute';

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
export const isUuidLike = (s: string): boolean => UUID_RE.test(s);

export async function listComputeHosts(db: Knex, filter: { host?: string } = {}): Promise<Host[]> {
  const q = db('hosts').orderBy('id');
  if (filter.host !== undefined) q.where({ hostname: filter.host });
  return (await q).map(hostFromRow);
}

export async function hostByName(db: Knex, hostname: string): Promise<Host | null> {
  const row = await db('hosts').where({ hostname }).first();
  return row ? hostFromRow(row) : null;
}

/** The service (host) by Nova id: an integer before 2.53, a UUID from 2.53 (400 when malformed, as Nova). */
export async function serviceById(db: Knex, id: string, uuidIds: boolean): Promise<Host> {
  if (uuidIds) {
    if (!isUuidLike(id)) throw new BadRequest(`Invalid uuid ${id}`);
  } else if (!/^\d+$/.test(id)) {
    throw new BadRequest(`Invalid input received: id must be an integer.`);
  }
  const row = await db('hosts')
    .where(uuidIds ? { uuid: id.toLowerCase() } : { id: Number(id) })
    .first();
  if (!row) throw new NotFound(`Service ${id} not found.`);
  return hostFromRow(row);
}

/** instances placed on each host: count, vCPUs and memory from their specs (servers are not built yet). */
export interface HostUsage {
  runningVms: number;
  vcpus: number;
  memoryMb: number;
  servers: { name: string; uuid: string }[];
}

export async function hostUsage(db: Knex, hostIds: number[]): Promise<Map<number, HostUsage>> {
  const out = new Map<number, HostUsage>();
  for (const id of hostIds) out.set(id, { runningVms: 0, vcpus: 0, memoryMb: 0, servers: [] });
  if (hostIds.length === 0) return out;
  const rows = await db('instances').whereIn('host_id', hostIds).select('uuid', 'host_id', 'spec');
  for (const r of rows) {
    const u = out.get(Number(r.host_id));
    if (!u) continue;
    let spec: { name?: unknown; vcpus?: unknown; memoryMb?: unknown } = {};
    try {
      spec = JSON.parse(String(r.spec)) as typeof spec;
    } catch {
      // a spec that does not parse still counts as a VM on the host
    }
    u.runningVms += 1;
    u.vcpus += typeof spec.vcpus === 'number' ? spec.vcpus : 0;
    u.memoryMb += typeof spec.memoryMb === 'number' ? spec.memoryMb : 0;
    u.servers.push({
      name: typeof spec.name === 'string' ? spec.name : String(r.uuid),
      uuid: String(r.uuid),
    });
  }
  return out;
}
