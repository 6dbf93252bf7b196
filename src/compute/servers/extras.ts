/** Loads in bulk what server views show besides the row: hosts, metadata, tags, addresses, groups. */
import type { Knex } from 'knex';
import { hostFromRow, hostState } from '../../cluster/hosts/service.js';
import type { Config } from '../../common/config/options.js';
import { serverSecurityGroupNames } from '../../network/compute-ports.js';
import { serverAddresses } from './ips/service.js';
import { serverMetadata } from './metadata/service.js';
import type { ServerRow } from './model.js';
import { serverTags } from './tags/service.js';
import type { ServerExtras } from './view.js';

export async function loadExtras(
  db: Knex,
  config: Config,
  servers: ServerRow[],
  now: number,
): Promise<ServerExtras> {
  const uuids = servers.map((s) => s.uuid);
  const hostIds = [...new Set(servers.map((s) => s.hostId).filter((h): h is number => h !== null))];
  const hostRows = hostIds.length ? await db('hosts').whereIn('id', hostIds) : [];
  const downAfter = config.compute.service_down_time * 1000;
  const hosts: ServerExtras['hosts'] = new Map();
  for (const r of hostRows) {
    const h = hostFromRow(r);
    // Nova's host_status: UP, DOWN (service down or forced down), MAINTENANCE (service disabled)
    const status = hostState(h, now, downAfter) === 'down' ? 'DOWN' : h.enabled ? 'UP' : 'MAINTENANCE';
    hosts.set(h.id, { hostname: h.hostname, status });
  }
  const groups = new Map<string, string[]>();
  if (uuids.length) {
    const rows = await db('server_group_members').whereIn('server_uuid', uuids);
    for (const r of rows) groups.set(String(r.server_uuid), [String(r.group_uuid)]);
  }
  const [metadata, tags, addresses, securityGroups] = await Promise.all([
    serverMetadata(db, uuids),
    serverTags(db, uuids),
    serverAddresses(db, uuids),
    serverSecurityGroupNames(db, uuids),
  ]);
  return { hosts, metadata, tags, addresses, securityGroups, groups };
}
