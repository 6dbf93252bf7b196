/**
 * Networks: visibility (own, shared, external; admin all), create with a segment, update, delete with its
 * DHCP ports and subnets. Other resources call getVisibleNetwork() to check a network_id.
 */
import type { Knex } from 'knex';
import type { Config } from '../../common/config/options.js';
import { isDuplicateKey, toBool, toJson } from '../../db/columns.js';
import { newUuid } from '../../common/ids.js';
import { enforce, type Caller } from '../common/auth.js';
import { conflict, invalidInput, notFound } from '../common/errors.js';
import { checkQuota, countRows, registerQuotaUsage } from '../common/quotas.js';
import {
  bumpRevision,
  deleteTags,
  loadTags,
  replaceTags,
  standardColumns,
  validateTags,
} from '../common/standard-attrs.js';
import { inChunks, lockRow, withRetry } from '../common/db.js';
import { setPortSecurityGroups } from '../security-groups/port-bindings.js';
import {
  allocateSegment,
  maxMtu,
  requestType,
  segmentInUse,
  segmentKey,
  segmentRequest,
  type Segment,
} from './segments.js';
import { networkView, type NetworkRow } from './view.js';

registerQuotaUsage('network', countRows('networks'));

export const DHCP_OWNER = 'network:dhcp';

export const networkNotFound = (id: string) =>
  notFound('NetworkNotFound', `Network ${id} could not be found.`);

/** Networks the caller may see. */
export function visibleNetworks(db: Knex, caller: Caller): Knex.QueryBuilder {
  const q = db('networks');
  if (!caller.isAdmin)
    q.where((w) =>
      w.where('project_id', caller.projectId).orWhere('shared', true).orWhere('router_external', true),
    );
  return q;
}

export async function getVisibleNetwork(db: Knex, caller: Caller, id: string): Promise<NetworkRow> {
  const row = (await visibleNetworks(db, caller).where({ id }).first()) as NetworkRow | undefined;
  if (!row) throw networkNotFound(id);
  return row;
}

export async function networkViews(
  db: Knex,
  rows: NetworkRow[],
  admin: boolean,
): Promise<Record<string, unknown>[]> {
  const ids = rows.map((r) => r.id);
  const tags = await loadTags(db, 'network', ids);
  const subnets = new Map<string, string[]>(ids.map((id) => [id, []]));
  const rs = await inChunks(
    ids,
    (part) =>
      db('subnets')
        .whereIn('network_id', part)
        .orderBy([{ column: 'created_at' }, { column: 'id' }])
        .select('id', 'network_id') as Promise<{ id: string; network_id: string }[]>,
  );
  for (const s of rs) subnets.get(s.network_id)?.push(s.id);
  return rows.map((r) =>
    networkView(r, { subnets: subnets.get(r.id) ?? [], tags: tags.get(r.id) ?? [] }, admin),
  );
}

export interface NetworkCreate {
  projectId: string;
  attrs: Record<string, unknown>;
}

/** The MTU of a network of this type: the largest it may have unless a smaller one is asked for. */
function checkMtu(config: Config, type: string, mtu: unknown): number {
  const max = maxMtu(config, type);
  const value = mtu === undefined ? max : (mtu as number);
  if (value > max) throw invalidInput(`Requested MTU is too big, maximum is ${max}`);
  if (value < 68) throw invalidInput(`Requested MTU is too small, minimum is 68`);
  return value;
}

const PROVIDER = ['provider:network_type', 'provider:physical_network', 'provider:segmentation_id'];

/** Admin-only attributes of a create (create_network:shared, :router:external, :provider:*). */
export function enforceCreatePolicy(caller: Caller, attrs: Record<string, unknown>): void {
  // As oslo.policy sees it: only attributes set to something other than their default are checked.
  for (const key of ['shared', 'router:external'])
    if (attrs[key] === true) enforce(caller.isAdmin, `create_network:${key}`);
  for (const key of PROVIDER) if (attrs[key] !== undefined) enforce(caller.isAdmin, `create_network:${key}`);
}

/** Creates networks in one transaction (bulk is all or nothing, as ML2's native bulk). */
export async function createNetworks(
  db: Knex,
  config: Config,
  now: number,
  items: NetworkCreate[],
): Promise<string[]> {
  const prepared = items.map(({ projectId, attrs }) => {
    const tags = attrs.tags === undefined ? [] : validateTags(attrs.tags, 'network');
    const request = segmentRequest(config, {
      type: attrs['provider:network_type'],
      physnet: attrs['provider:physical_network'],
      segId: attrs['provider:segmentation_id'],
    });
    return { projectId, attrs, tags, mtu: checkMtu(config, requestType(request), attrs.mtu), request };
  });
  let refused: Segment | null = null;
  return withRetry(
    db,
    async (trx) => {
      const ids: string[] = [];
      const counts = new Map<string, number>();
      for (const p of prepared) counts.set(p.projectId, (counts.get(p.projectId) ?? 0) + 1);
      for (const [projectId, n] of counts) await checkQuota(trx, projectId, 'network', n);
      for (const p of prepared) {
        const segment =
          p.request.kind === 'exact' ? p.request.segment : await allocateSegment(trx, config, p.request);
        const id = newUuid();
        try {
          await trx('networks').insert({
            id,
            project_id: p.projectId,
            name: (p.attrs.name as string | undefined) ?? '',
            admin_state_up: (p.attrs.admin_state_up as boolean | undefined) ?? true,
            status: 'ACTIVE',
            shared: (p.attrs.shared as boolean | undefined) ?? false,
            router_external: (p.attrs['router:external'] as boolean | undefined) ?? false,
            mtu: p.mtu,
            port_security_enabled: (p.attrs.port_security_enabled as boolean | undefined) ?? true,
            availability_zone_hints: toJson(p.attrs.availability_zone_hints ?? []),
            network_type: segment.networkType,
            physical_network: segment.physicalNetwork,
            segmentation_id: segment.segmentationId,
            segment_key: segmentKey(segment),
            ...standardColumns(now, p.attrs.description),
          });
        } catch (err) {
          // A requested segment that is taken is the caller's conflict; an allocated one lost a race: retry.
          if (isDuplicateKey(err) && p.request.kind === 'exact') refused = segment;
          throw err;
        }
        if (p.tags.length) await replaceTags(trx, 'network', id, p.tags);
        ids.push(id);
      }
      return ids;
    },
    { retryable: () => refused === null },
  ).catch((err: unknown) => {
    if (refused && isDuplicateKey(err)) throw segmentInUse(refused);
    throw err;
  });
}

/** PUT /v2.0/networks/{id}: the caller must own it (a visible shared network of another project is a 403). */
export async function updateNetwork(
  db: Knex,
  config: Config,
  caller: Caller,
  now: number,
  id: string,
  attrs: Record<string, unknown>,
  expectedRevision: number | null,
  checkRevision: (expected: number | null, current: number | string) => void,
): Promise<void> {
  for (const key of ['shared', 'router:external'])
    if (attrs[key] !== undefined) enforce(caller.isAdmin, `update_network:${key}`);
  for (const key of PROVIDER) if (attrs[key] !== undefined) enforce(caller.isAdmin, `update_network:${key}`);
  await withRetry(db, async (trx) => {
    const row = await getVisibleNetwork(trx, caller, id);
    const mtu = attrs.mtu === undefined ? undefined : checkMtu(config, row.network_type, attrs.mtu);
    enforce(caller.isAdmin || row.project_id === caller.projectId, 'update_network');
    checkRevision(expectedRevision, row.revision_number);
    const provider: Record<string, unknown> = {
      'provider:network_type': row.network_type,
      'provider:physical_network': row.physical_network || null,
      'provider:segmentation_id': row.segmentation_id === null ? null : Number(row.segmentation_id),
    };
    for (const key of PROVIDER)
      if (attrs[key] !== undefined && attrs[key] !== provider[key])
        throw invalidInput('Plugin does not support updating provider attributes');
    if (attrs.is_default === true)
      throw invalidInput(
        'is_default is only supported on external networks by auto-allocated-topology, which is not enabled',
      );
    if (attrs.shared === false && toBool(row.shared)) {
      const foreign = await trx('ports')
        .where({ network_id: id })
        .whereNot('project_id', row.project_id)
        .whereNot('device_owner', DHCP_OWNER)
        .first('id');
      if (foreign)
        throw conflict(
          'InvalidSharedSetting',
          `Unable to reconfigure sharing settings for network ${id}. Multiple tenants are using it.`,
        );
    }
    const changes: Record<string, unknown> = {};
    if (attrs.name !== undefined) changes.name = attrs.name;
    if (attrs.description !== undefined) changes.description = attrs.description;
    if (attrs.admin_state_up !== undefined) changes.admin_state_up = attrs.admin_state_up;
    if (attrs.shared !== undefined) changes.shared = attrs.shared;
    if (attrs['router:external'] !== undefined) changes.router_external = attrs['router:external'];
    if (mtu !== undefined) changes.mtu = mtu;
    if (attrs.port_security_enabled !== undefined)
      changes.port_security_enabled = attrs.port_security_enabled;
    if (Object.keys(changes).length) await trx('networks').where({ id }).update(changes);
    await bumpRevision(trx, 'networks', id, now);
  });
}

/** DELETE: refused while ports other than DHCP ports use it; its DHCP ports and subnets go with it. */
export async function deleteNetwork(db: Knex, caller: Caller, id: string): Promise<void> {
  await withRetry(db, async (trx) => {
    const row = await getVisibleNetwork(trx, caller, id);
    enforce(caller.isAdmin || row.project_id === caller.projectId, 'delete_network');
    // Locks the network row on MariaDB, so a port created concurrently either commits first or fails on its FK.
    await lockRow(trx, 'networks', { id });
    const inUse = await trx('ports')
      .where({ network_id: id })
      .whereNot('device_owner', DHCP_OWNER)
      .first('id');
    if (inUse)
      throw conflict(
        'NetworkInUse',
        `Unable to complete operation on network ${id}. There are one or more ports still in use on the network.`,
      );
    const dhcpPorts = (await trx('ports').where({ network_id: id }).select('id', 'project_id')) as {
      id: string;
      project_id: string;
    }[];
    const portIds = dhcpPorts.map((p) => p.id);
    for (const p of dhcpPorts)
      await setPortSecurityGroups(trx, { id: p.id, projectId: p.project_id }, [], true);
    const subnetIds = (await trx('subnets').where({ network_id: id }).pluck('id')) as string[];
    await deleteTags(trx, 'port', portIds);
    await deleteTags(trx, 'subnet', subnetIds);
    await deleteTags(trx, 'network', [id]);
    await trx('ip_allocations').where({ network_id: id }).delete();
    if (portIds.length) await trx('ports').whereIn('id', portIds).delete();
    if (subnetIds.length) await trx('subnets').whereIn('id', subnetIds).delete();
    await trx('networks').where({ id }).delete();
  });
}
