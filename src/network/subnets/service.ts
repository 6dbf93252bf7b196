/**
 * Subnets (IPv4 only): CIDR, gateway and allocation pools checked as Neutron's IPAM does, no overlap with the
 * network's other subnets (the network row is locked while checking), delete refused while non-DHCP ports hold
 * addresses in it.
 */
import type { Knex } from 'knex';
import { newUuid } from '../../common/ids.js';
import { toBool } from '../../db/columns.js';
import { enforce, type Caller } from '../common/auth.js';
import { badRequest, conflict, invalidAttribute, invalidInput, notFound } from '../common/errors.js';
import { lockRow, withRetry } from '../common/db.js';
import { checkQuota, countRows, registerQuotaUsage } from '../common/quotas.js';
import {
  bumpRevision,
  deleteTags,
  loadTags,
  replaceTags,
  standardColumns,
  validateTags,
} from '../common/standard-attrs.js';
import {
  cidrsOverlap,
  hostRange,
  inCidr,
  intToIp,
  ipToInt,
  isIPv4,
  looksIPv6,
  parseCidr,
  type Cidr,
} from '../ip.js';
import { DHCP_OWNER, getVisibleNetwork } from '../networks/service.js';
import { subnetView, type SubnetRow } from './view.js';

registerQuotaUsage('subnet', countRows('subnets'));

export const MAX_DNS_NAMESERVERS = 5;
export const MAX_HOST_ROUTES = 20;

export const subnetNotFound = (id: string) => notFound('SubnetNotFound', `Subnet ${id} could not be found.`);

/**
 * Subnets the caller may see: its own, and those of networks it owns or that are shared. An external network
 * is visible to every project, its subnets are not unless it is also shared (Neutron's get_subnet policy).
 */
export function visibleSubnets(db: Knex, caller: Caller): Knex.QueryBuilder {
  const q = db('subnets').select('subnets.*');
  if (!caller.isAdmin)
    q.join('networks', 'networks.id', 'subnets.network_id').where((w) =>
      w
        .where('subnets.project_id', caller.projectId)
        .orWhere('networks.project_id', caller.projectId)
        .orWhere('networks.shared', true),
    );
  return q;
}

export async function getVisibleSubnet(db: Knex, caller: Caller, id: string): Promise<SubnetRow> {
  const row = (await visibleSubnets(db, caller).where('subnets.id', id).first()) as SubnetRow | undefined;
  if (!row) throw subnetNotFound(id);
  return row;
}

export interface Pool {
  first: number;
  last: number;
}

export async function loadPools(db: Knex, subnetIds: string[]): Promise<Map<string, Pool[]>> {
  const out = new Map<string, Pool[]>(subnetIds.map((id) => [id, []]));
  if (!subnetIds.length) return out;
  const rows = (await db('subnet_allocation_pools').whereIn('subnet_id', subnetIds).orderBy('first_int')) as {
    subnet_id: string;
    first_int: number | string;
    last_int: number | string;
  }[];
  for (const r of rows) out.get(r.subnet_id)?.push({ first: Number(r.first_int), last: Number(r.last_int) });
  return out;
}

export async function subnetViews(
  db: Knex,
  rows: SubnetRow[],
  admin: boolean,
): Promise<Record<string, unknown>[]> {
  const ids = rows.map((r) => r.id);
  const tags = await loadTags(db, 'subnet', ids);
  const pools = await loadPools(db, ids);
  const dns = new Map<string, string[]>(ids.map((id) => [id, []]));
  const routes = new Map<string, { destination: string; nexthop: string }[]>(ids.map((id) => [id, []]));
  if (ids.length) {
    for (const r of (await db('subnet_dns_nameservers').whereIn('subnet_id', ids).orderBy('position')) as {
      subnet_id: string;
      address: string;
    }[])
      dns.get(r.subnet_id)?.push(r.address);
    for (const r of (await db('subnet_host_routes')
      .whereIn('subnet_id', ids)
      .orderBy(['destination', 'nexthop'])) as { subnet_id: string; destination: string; nexthop: string }[])
      routes.get(r.subnet_id)?.push({ destination: r.destination, nexthop: r.nexthop });
  }
  return rows.map((r) =>
    subnetView(
      r,
      {
        pools: (pools.get(r.id) ?? []).map((p) => ({ start: intToIp(p.first), end: intToIp(p.last) })),
        dns: dns.get(r.id) ?? [],
        routes: routes.get(r.id) ?? [],
        tags: tags.get(r.id) ?? [],
      },
      admin,
    ),
  );
}

const v6Refused = () => badRequest('IPv6 is not supported by kvmstack yet', 'InvalidInput');

function ipAttr(name: string, v: string): number {
  if (looksIPv6(v)) throw v6Refused();
  if (!isIPv4(v)) throw invalidAttribute(name, `'${v}' is not a valid IP address`);
  return ipToInt(v);
}

export function parseSubnetCidr(text: string): Cidr {
  if (looksIPv6(text)) throw v6Refused();
  const parsed = parseCidr(text.trim() === text ? text : '');
  if (!parsed) throw invalidAttribute('cidr', `'${text}' is not a valid IP subnet`);
  if (!parsed.exact)
    throw invalidAttribute(
      'cidr',
      `'${text}' isn't a recommended CIDR, '${parsed.cidr.text}' is recommended`,
    );
  if (parsed.cidr.prefix === 0) throw invalidInput(`${parsed.cidr.text} is not allowed as a subnet`);
  if (parsed.cidr.prefix > 30)
    throw invalidInput(`The subnet ${parsed.cidr.text} is too small: kvmstack needs at least a /30`);
  return parsed.cidr;
}

const rangeText = (p: Pool) => `${intToIp(p.first)}-${intToIp(p.last)}`;

/** Gateway: default the first host, null none; never the network or broadcast address, never outside. */
export function checkGateway(cidr: Cidr, gateway: unknown): number | null {
  if (gateway === undefined) return hostRange(cidr).first;
  if (gateway === null || gateway === '') return null;
  const gw = ipAttr('gateway_ip', gateway as string);
  if (!inCidr(gw, cidr))
    throw invalidInput(
      `Gateway IP ${intToIp(gw)} is outside the subnet ${cidr.text}; kvmstack needs an on-link gateway`,
    );
  if (gw === cidr.network || gw === cidr.last) throw invalidInput('Gateway is not valid on subnet');
  return gw;
}

/** Pools as given (checked as Neutron's ipam utils) or, by default, the host range without the gateway. */
export function checkPools(cidr: Cidr, gateway: number | null, given: unknown): Pool[] {
  const range = hostRange(cidr);
  if (given === undefined || given === null) {
    if (gateway === null || gateway < range.first || gateway > range.last) return [range];
    return [
      { first: range.first, last: gateway - 1 },
      { first: gateway + 1, last: range.last },
    ].filter((p) => p.first <= p.last);
  }
  if (!Array.isArray(given))
    throw invalidAttribute('allocation_pools', `'${JSON.stringify(given)}' is not a list`);
  const pools = given.map((p: unknown) => {
    const o = p as Record<string, unknown>;
    if (
      !o ||
      typeof o !== 'object' ||
      typeof o.start !== 'string' ||
      typeof o.end !== 'string' ||
      Object.keys(o).some((k) => k !== 'start' && k !== 'end')
    )
      throw invalidAttribute('allocation_pools', `Invalid data format for IP pool: '${JSON.stringify(p)}'`);
    return { first: ipAttr('allocation_pools', o.start), last: ipAttr('allocation_pools', o.end) };
  });
  for (const p of pools) {
    if (p.first > p.last)
      throw badRequest(`The allocation pool ${rangeText(p)} is not valid.`, 'InvalidAllocationPool');
    if (p.first < range.first || p.last > range.last)
      throw badRequest(
        `The allocation pool ${rangeText(p)} spans beyond the subnet cidr ${cidr.text}.`,
        'OutOfBoundsAllocationPool',
      );
  }
  const sorted = [...pools].sort((a, b) => a.first - b.first);
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i].first <= sorted[i - 1].last)
      throw conflict(
        'OverlappingAllocationPools',
        `Found overlapping allocation pools: ${rangeText(sorted[i - 1])} ${rangeText(sorted[i])} for subnet ${cidr.text}.`,
      );
  if (gateway !== null)
    for (const p of sorted)
      if (gateway >= p.first && gateway <= p.last)
        throw conflict(
          'GatewayConflictWithAllocationPools',
          `Gateway ip ${intToIp(gateway)} conflicts with allocation pool ${rangeText(p)}.`,
        );
  return sorted;
}

export function checkDns(given: unknown, subnetId: string): string[] {
  const list = (given ?? []) as string[];
  const seen = new Set<string>();
  for (const a of list) {
    ipAttr('dns_nameservers', a);
    if (seen.has(a)) throw invalidAttribute('dns_nameservers', `Duplicate nameserver '${a}'`);
    seen.add(a);
  }
  if (list.length > MAX_DNS_NAMESERVERS)
    throw badRequest(
      `Unable to complete operation for ${subnetId}. The number of DNS nameservers exceeds the limit ${MAX_DNS_NAMESERVERS}.`,
      'DNSNameServersExhausted',
    );
  return list;
}

export function checkRoutes(given: unknown, subnetId: string): { destination: string; nexthop: string }[] {
  if (given === undefined || given === null) return [];
  if (!Array.isArray(given))
    throw invalidAttribute('host_routes', `'${JSON.stringify(given)}' is not a list`);
  const out: { destination: string; nexthop: string }[] = [];
  const seen = new Set<string>();
  for (const r of given as Record<string, unknown>[]) {
    if (!r || typeof r !== 'object' || typeof r.destination !== 'string' || typeof r.nexthop !== 'string')
      throw invalidAttribute('host_routes', `Invalid data format for hostroute: '${JSON.stringify(r)}'`);
    if (looksIPv6(r.destination)) throw v6Refused();
    const dest = parseCidr(r.destination);
    if (!dest) throw invalidAttribute('host_routes', `'${r.destination}' is not a valid IP subnet`);
    ipAttr('host_routes', r.nexthop);
    const route = { destination: dest.cidr.text, nexthop: r.nexthop };
    const key = `${route.destination} ${route.nexthop}`;
    if (seen.has(key)) throw invalidAttribute('host_routes', `Duplicate hostroute '${JSON.stringify(r)}'`);
    seen.add(key);
    out.push(route);
  }
  if (out.length > MAX_HOST_ROUTES)
    throw badRequest(
      `Unable to complete operation for ${subnetId}. The number of host routes exceeds the limit ${MAX_HOST_ROUTES}.`,
      'HostRoutesExhausted',
    );
  return out;
}

async function writeChildren(
  trx: Knex,
  id: string,
  parts: { pools?: Pool[]; dns?: string[]; routes?: { destination: string; nexthop: string }[] },
): Promise<void> {
  if (parts.pools) {
    await trx('subnet_allocation_pools').where({ subnet_id: id }).delete();
    await trx('subnet_allocation_pools').insert(
      parts.pools.map((p) => ({
        subnet_id: id,
        first_ip: intToIp(p.first),
        last_ip: intToIp(p.last),
        first_int: p.first,
        last_int: p.last,
      })),
    );
  }
  if (parts.dns) {
    await trx('subnet_dns_nameservers').where({ subnet_id: id }).delete();
    if (parts.dns.length)
      await trx('subnet_dns_nameservers').insert(
        parts.dns.map((address, position) => ({ subnet_id: id, address, position })),
      );
  }
  if (parts.routes) {
    await trx('subnet_host_routes').where({ subnet_id: id }).delete();
    if (parts.routes.length)
      await trx('subnet_host_routes').insert(parts.routes.map((r) => ({ subnet_id: id, ...r })));
  }
}

export interface SubnetCreate {
  projectId: string;
  attrs: Record<string, unknown>;
}

/** Validates one create request (no database): the normalized subnet. */
function planSubnet(attrs: Record<string, unknown>) {
  for (const key of ['network_id', 'ip_version', 'cidr'])
    if (attrs[key] === undefined)
      throw badRequest(`Failed to parse request. Required attribute '${key}' not specified`);
  if (attrs.ip_version === 6) throw v6Refused();
  if (attrs.ip_version !== 4)
    throw invalidAttribute('ip_version', `${String(attrs.ip_version)} is not in [4, 6]`);
  const cidr = parseSubnetCidr(attrs.cidr as string);
  const gateway = checkGateway(cidr, attrs.gateway_ip);
  const pools = checkPools(cidr, gateway, attrs.allocation_pools);
  const dns = checkDns(attrs.dns_nameservers, '');
  const routes = checkRoutes(attrs.host_routes, '');
  const tags = attrs.tags === undefined ? [] : validateTags(attrs.tags, 'subnet');
  return { cidr, gateway, pools, dns, routes, tags };
}

export async function createSubnets(
  db: Knex,
  caller: Caller,
  now: number,
  items: SubnetCreate[],
): Promise<string[]> {
  const plans = items.map((i) => ({ ...i, plan: planSubnet(i.attrs) }));
  return withRetry(db, async (trx) => {
    const ids: string[] = [];
    const counts = new Map<string, number>();
    for (const p of plans) counts.set(p.projectId, (counts.get(p.projectId) ?? 0) + 1);
    for (const [projectId, n] of counts) await checkQuota(trx, projectId, 'subnet', n);
    for (const { projectId, attrs, plan } of plans) {
      const networkId = attrs.network_id as string;
      const net = await getVisibleNetwork(trx, caller, networkId);
      enforce(caller.isAdmin || net.project_id === caller.projectId, 'create_subnet');
      await lockRow(trx, 'networks', { id: networkId }); // serializes the overlap check per network
      const others = (await trx('subnets').where({ network_id: networkId }).pluck('cidr')) as string[];
      if (others.some((c) => cidrsOverlap(parseCidr(c)!.cidr, plan.cidr)))
        throw invalidInput(
          `Requested subnet with cidr: ${plan.cidr.text} for network: ${networkId} overlaps with another subnet`,
        );
      const id = newUuid();
      await trx('subnets').insert({
        id,
        project_id: projectId,
        network_id: networkId,
        name: (attrs.name as string | undefined) ?? '',
        ip_version: 4,
        cidr: plan.cidr.text,
        gateway_ip: plan.gateway === null ? null : intToIp(plan.gateway),
        enable_dhcp: (attrs.enable_dhcp as boolean | undefined) ?? true,
        ...standardColumns(now, attrs.description),
      });
      await writeChildren(trx, id, plan);
      if (plan.tags.length) await replaceTags(trx, 'subnet', id, plan.tags);
      ids.push(id);
    }
    return ids;
  });
}

export async function updateSubnet(
  db: Knex,
  caller: Caller,
  now: number,
  id: string,
  attrs: Record<string, unknown>,
  expectedRevision: number | null,
  checkRevision: (expected: number | null, current: number | string) => void,
): Promise<void> {
  await withRetry(db, async (trx) => {
    const row = await getVisibleSubnet(trx, caller, id);
    enforce(caller.isAdmin || row.project_id === caller.projectId, 'update_subnet');
    checkRevision(expectedRevision, row.revision_number);
    await lockRow(trx, 'subnets', { id });
    const cidr = parseCidr(row.cidr)!.cidr;
    const currentGw = row.gateway_ip === null ? null : ipToInt(row.gateway_ip);
    const gateway = attrs.gateway_ip === undefined ? currentGw : checkGateway(cidr, attrs.gateway_ip);
    const parts: Parameters<typeof writeChildren>[2] = {};
    if (attrs.allocation_pools !== undefined) parts.pools = checkPools(cidr, gateway, attrs.allocation_pools);
    else if (attrs.gateway_ip !== undefined && gateway !== null) {
      const pools = (await loadPools(trx, [id])).get(id) ?? [];
      const hit = pools.find((p) => gateway >= p.first && gateway <= p.last);
      if (hit)
        throw conflict(
          'GatewayConflictWithAllocationPools',
          `Gateway ip ${intToIp(gateway)} conflicts with allocation pool ${rangeText(hit)}.`,
        );
    }
    if (attrs.gateway_ip !== undefined && gateway !== null && gateway !== currentGw) {
      const holder = (await trx('ip_allocations')
        .where({ subnet_id: id, ip_int: gateway })
        .first('port_id')) as { port_id: string } | undefined;
      if (holder)
        throw conflict(
          'IpAddressInUse',
          `Unable to complete operation for network ${row.network_id}. The IP address ${intToIp(gateway)} is in use.`,
        );
    }
    if (attrs.dns_nameservers !== undefined) parts.dns = checkDns(attrs.dns_nameservers, id);
    if (attrs.host_routes !== undefined) parts.routes = checkRoutes(attrs.host_routes, id);
    const changes: Record<string, unknown> = {};
    if (attrs.name !== undefined) changes.name = attrs.name;
    if (attrs.description !== undefined) changes.description = attrs.description;
    if (attrs.enable_dhcp !== undefined) changes.enable_dhcp = attrs.enable_dhcp;
    if (attrs.gateway_ip !== undefined) changes.gateway_ip = gateway === null ? null : intToIp(gateway);
    if (Object.keys(changes).length) await trx('subnets').where({ id }).update(changes);
    await writeChildren(trx, id, parts);
    await bumpRevision(trx, 'subnets', id, now);
  });
}

/** DELETE: refused while non-DHCP ports hold addresses in it; DHCP ports lose their address in it. */
export async function deleteSubnet(db: Knex, caller: Caller, id: string, now: number): Promise<void> {
  await withRetry(db, async (trx) => {
    const row = await getVisibleSubnet(trx, caller, id);
    enforce(caller.isAdmin || row.project_id === caller.projectId, 'delete_subnet');
    await lockRow(trx, 'subnets', { id });
    const used = await trx('ip_allocations')
      .join('ports', 'ports.id', 'ip_allocations.port_id')
      .where('ip_allocations.subnet_id', id)
      .whereNot('ports.device_owner', DHCP_OWNER)
      .first('ports.id');
    if (used)
      throw conflict(
        'SubnetInUse',
        `Unable to complete operation on subnet ${id}: One or more ports have an IP allocation from this subnet.`,
      );
    const dhcpPorts = (await trx('ip_allocations').where({ subnet_id: id }).pluck('port_id')) as string[];
    await trx('ip_allocations').where({ subnet_id: id }).delete();
    for (const portId of new Set(dhcpPorts)) await bumpRevision(trx, 'ports', portId, now);
    await deleteTags(trx, 'subnet', [id]);
    await trx('subnets').where({ id }).delete();
  });
}

export const subnetIsDhcp = (row: SubnetRow): boolean => toBool(row.enable_dhcp);
