/**
 * The API side of network realization (src/network/realization.ts): what one host must realize, computed
 * from the database, and what its agent reports back (which ports are wired: they turn ACTIVE).
 *
 * Every network is realized on every host whose agent maps its physical network (design §7), so a VM can
 * move anywhere without waiting for a bridge. DHCP is per host and per network, and only where the host has
 * ports of that network: the host's `network:dhcp` port gives its dnsmasq an address in each DHCP subnet,
 * and it answers only for the ports bound to that host — no central DHCP server, nothing to fail over.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Host } from '../cluster/hosts/service.js';
import { inChunks } from './common/db.js';
import { parseCidr } from './ip.js';
import { createPorts, deletePortRows } from './ports/service.js';
import type {
  HostNetworkState,
  NetworkSyncReport,
  RealizedDhcp,
  RealizedFixedIp,
  RealizedNetwork,
  RealizedPort,
} from './realization.js';
import { tapNameFor } from './realization.js';
import { realizedRulesForPorts } from './security-groups/port-bindings.js';

export const DHCP_OWNER = 'network:dhcp';
const DHCP_LEASE_SECONDS = 86_400;

/** Neutron's reserved DHCP port device id: one per host and network. */
export const dhcpDeviceId = (host: Pick<Host, 'uuid'>, networkId: string): string =>
  `dhcp${host.uuid}-${networkId}`;

interface PortRow {
  id: string;
  project_id: string;
  network_id: string;
  mac_address: string;
  admin_state_up: number | boolean;
  port_security_enabled: number | boolean;
  device_owner: string;
  device_id: string;
  status: string;
}

interface SubnetRow {
  id: string;
  network_id: string;
  cidr: string;
  gateway_ip: string | null;
  enable_dhcp: number | boolean;
}

/** Ensures this host's DHCP ports, then answers the host's whole network state. */
export async function hostNetworkState(db: Knex, host: Host, now: number): Promise<HostNetworkState> {
  await reconcileDhcpPorts(db, host, now);

  const networks = await db('networks').orderBy('id');
  const subnets: SubnetRow[] = await db('subnets').orderBy(['network_id', 'id']);
  const ports: PortRow[] = await db('ports').where({ binding_host_id: host.hostname }).orderBy('id');
  const portIds = ports.map((p) => p.id);
  const [fixedIps, pairs, rules, dns, routes] = await Promise.all([
    fixedIpsOf(db, portIds, subnets),
    inChunks(portIds, (part) => db('port_allowed_address_pairs').whereIn('port_id', part)),
    realizedRulesForPorts(
      db,
      ports.filter((p) => !isDhcp(p)).map((p) => p.id),
    ),
    db('subnet_dns_nameservers').orderBy(['subnet_id', 'position']),
    db('subnet_host_routes').orderBy(['subnet_id', 'destination']),
  ]);

  const tunnel = await tunnelEndpoints(db, host);

  const realized: RealizedNetwork[] = networks.map((n) => {
    const own = ports.filter((p) => p.network_id === n.id);
    const vmPorts: RealizedPort[] = own
      .filter((p) => !isDhcp(p))
      .map((p) => ({
        id: p.id,
        mac: p.mac_address,
        tap: tapNameFor(p.id),
        fixedIps: fixedIps.get(p.id) ?? [],
        adminStateUp: Boolean(p.admin_state_up),
        portSecurityEnabled: Boolean(p.port_security_enabled),
        allowedAddressPairs: pairs
          .filter((a) => a.port_id === p.id)
          .map((a) => ({ ipAddress: a.ip_address, macAddress: a.mac_address })),
        rules: rules.get(p.id) ?? [],
      }));
    const dhcpPort = own.find(isDhcp);
    const dhcpSubnets = subnets.filter((s) => s.network_id === n.id && Boolean(s.enable_dhcp));
    const dhcp: RealizedDhcp | null =
      dhcpPort && dhcpSubnets.length
        ? {
            port: { id: dhcpPort.id, mac: dhcpPort.mac_address, fixedIps: fixedIps.get(dhcpPort.id) ?? [] },
            subnets: dhcpSubnets.map((s) => ({
              id: s.id,
              cidr: s.cidr,
              gatewayIp: s.gateway_ip,
              dnsNameservers: dns.filter((d) => d.subnet_id === s.id).map((d) => d.address),
              hostRoutes: routes
                .filter((r) => r.subnet_id === s.id)
                .map((r) => ({ destination: r.destination, nexthop: r.nexthop })),
            })),
            leases: vmPorts.flatMap((p) =>
              p.fixedIps
                .filter((ip) => dhcpSubnets.some((s) => s.id === ip.subnetId))
                .map((ip) => ({
                  mac: p.mac,
                  ip: ip.ip,
                  hostname: `host-${ip.ip.replaceAll('.', '-')}`,
                  subnetId: ip.subnetId,
                })),
            ),
            leaseSeconds: DHCP_LEASE_SECONDS,
          }
        : null;
    return {
      id: n.id,
      name: n.name,
      networkType: n.network_type,
      physicalNetwork: n.physical_network,
      segmentationId: n.segmentation_id ?? null,
      mtu: Number(n.mtu),
      adminStateUp: Boolean(n.admin_state_up),
      dhcp,
      ports: vmPorts,
    };
  });
  const revision = createHash('sha256')
    .update(JSON.stringify([realized, tunnel]))
    .digest('hex')
    .slice(0, 32);
  return { revision, networks: realized, ...tunnel };
}

/**
 * VXLAN endpoints: this host's management address and every other enrolled, not revoked host's (disabled or
 * down hosts stay: their VMs may still run). Addresses equal to this host's are left out, so agents sharing
 * one address (test clouds on one machine) never flood to themselves.
 */
async function tunnelEndpoints(
  db: Knex,
  host: Host,
): Promise<{ tunnelLocalIp: string; tunnelPeers: string[] }> {
  const ips = (await db('hosts')
    .whereNull('revoked_at')
    .whereNot({ id: host.id })
    .pluck('host_ip')) as string[];
  const peers = [...new Set(ips)].filter((ip) => ip && ip !== host.hostIp).sort();
  return { tunnelLocalIp: host.hostIp, tunnelPeers: peers };
}

/**
 * Applies an agent's report: the ports it has wired are ACTIVE, its other bound ports DOWN; its DHCP ports are
 * ACTIVE unless their network is one the host reports it cannot realize.
 */
export async function recordNetworkReport(
  db: Knex,
  host: Host,
  report: NetworkSyncReport,
  now: number,
): Promise<void> {
  const active = new Set(report.activePorts);
  const broken = new Set(report.unrealizable.map((u) => u.networkId));
  const ports: PortRow[] = await db('ports').where({ binding_host_id: host.hostname });
  const statusOf = (p: PortRow) =>
    (isDhcp(p) ? !broken.has(p.network_id) : active.has(p.id)) ? 'ACTIVE' : 'DOWN';
  for (const status of ['ACTIVE', 'DOWN'] as const) {
    const ids = ports.filter((p) => statusOf(p) === status && p.status !== status).map((p) => p.id);
    if (!ids.length) continue;
    // A status change is an update in Neutron: it bumps the revision.
    await db('ports')
      .whereIn('id', ids)
      .update({ status, updated_at: now, revision_number: db.raw('revision_number + 1') });
  }
}

/**
 * One DHCP port per (host, network) where the host has ports of a network with a DHCP subnet, with an
 * address in each DHCP subnet; stale ones (no more ports there, DHCP turned off) are removed.
 */
async function reconcileDhcpPorts(db: Knex, host: Host, now: number): Promise<void> {
  const bound: PortRow[] = await db('ports').where({ binding_host_id: host.hostname });
  const needing = new Set(bound.filter((p) => !isDhcp(p)).map((p) => p.network_id));
  const dhcpSubnets: SubnetRow[] = needing.size
    ? await db('subnets')
        .whereIn('network_id', [...needing])
        .where({ enable_dhcp: true })
    : [];
  const want = new Set(dhcpSubnets.map((s) => s.network_id));

  const existing = bound.filter(isDhcp);
  const have = new Map(existing.map((p) => [p.network_id, p]));
  const subnetsOfExisting = await db('ip_allocations').whereIn(
    'port_id',
    existing.map((p) => p.id),
  );
  const stale = existing.filter((p) => {
    if (!want.has(p.network_id)) return true;
    // DHCP turned on for another subnet of the network: recreate the port with an address in each.
    const got = new Set(subnetsOfExisting.filter((a) => a.port_id === p.id).map((a) => a.subnet_id));
    return dhcpSubnets.some((s) => s.network_id === p.network_id && !got.has(s.id));
  });
  if (stale.length) {
    await db.transaction(async (trx) => {
      for (const p of stale) await deletePortRows(trx, [p.id], p.project_id);
    });
    for (const p of stale) have.delete(p.network_id);
  }

  for (const networkId of want) {
    if (have.has(networkId)) continue;
    const net = await db('networks').where({ id: networkId }).first();
    if (!net) continue;
    await createPorts(db, { projectId: net.project_id, isAdmin: true }, now, [
      {
        projectId: net.project_id,
        attrs: {
          network_id: networkId,
          device_owner: DHCP_OWNER,
          device_id: dhcpDeviceId(host, networkId),
          'binding:host_id': host.hostname,
          port_security_enabled: false,
          fixed_ips: dhcpSubnets.filter((s) => s.network_id === networkId).map((s) => ({ subnet_id: s.id })),
        },
      },
    ]);
  }
}

async function fixedIpsOf(
  db: Knex,
  portIds: string[],
  subnets: SubnetRow[],
): Promise<Map<string, RealizedFixedIp[]>> {
  const rows = await inChunks(portIds, (part) =>
    db('ip_allocations').whereIn('port_id', part).orderBy(['port_id', 'ip_int']),
  );
  const prefix = new Map(subnets.map((s) => [s.id, parseCidr(s.cidr)?.cidr.prefix ?? 32]));
  const out = new Map<string, RealizedFixedIp[]>();
  for (const r of rows) {
    const list = out.get(r.port_id) ?? [];
    list.push({ subnetId: r.subnet_id, ip: r.ip_address, prefixLen: prefix.get(r.subnet_id) ?? 32 });
    out.set(r.port_id, list);
  }
  return out;
}

function isDhcp(p: PortRow | undefined): boolean {
  return p?.device_owner === DHCP_OWNER;
}
