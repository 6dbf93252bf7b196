/**
 * A server's addresses, from its ports (device_id = the server's uuid) as Nova's network info cache has
 * them from Neutron: grouped by network name, each network's fixed addresses in port-creation then address
 * order, then its floating addresses. These are the only reads of the network tables in compute; they are
 * read-only and in bulk for the server lists.
 */
import type { Knex } from 'knex';

export interface ServerPort {
  id: string;
  serverUuid: string;
  projectId: string;
  networkId: string;
  networkName: string;
  mac: string;
  status: string;
  createdAt: number;
  fixedIps: { subnetId: string; ip: string }[];
}

export interface Address {
  addr: string;
  version: number;
  'OS-EXT-IPS:type': 'fixed' | 'floating';
  'OS-EXT-IPS-MAC:mac_addr': string;
}

const ipVersion = (ip: string): number => (ip.includes(':') ? 6 : 4);

/** The ports of these servers (or these port ids), in creation order, with their fixed IPs in address order. */
export async function serverPorts(
  db: Knex,
  by: { serverUuids: string[] } | { portIds: string[] },
): Promise<ServerPort[]> {
  const [column, values] = 'serverUuids' in by ? ['p.device_id', by.serverUuids] : ['p.id', by.portIds];
  const ports: ServerPort[] = [];
  for (let i = 0; i < values.length; i += 500) {
    const rows = await db('ports as p')
      .join('networks as n', 'n.id', 'p.network_id')
      .whereIn(column, values.slice(i, i + 500))
      .select(
        'p.id',
        'p.device_id',
        'p.project_id',
        'p.network_id',
        'n.name as network_name',
        'p.mac_address',
        'p.status',
        'p.created_at',
      );
    for (const r of rows)
      ports.push({
        id: String(r.id),
        serverUuid: String(r.device_id),
        projectId: String(r.project_id),
        networkId: String(r.network_id),
        networkName: String(r.network_name),
        mac: String(r.mac_address),
        status: String(r.status),
        createdAt: Number(r.created_at),
        fixedIps: [],
      });
  }
  ports.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const byId = new Map(ports.map((p) => [p.id, p]));
  const ids = [...byId.keys()];
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db('ip_allocations')
      .whereIn('port_id', ids.slice(i, i + 500))
      .orderBy(['port_id', 'ip_int', 'ip_address']);
    for (const r of rows)
      byId.get(String(r.port_id))?.fixedIps.push({ subnetId: String(r.subnet_id), ip: String(r.ip_address) });
  }
  return ports;
}

/**
 * Floating addresses by port id. Hook for the floating IP issue: floating IPs do not exist yet, so none;
 * when they do, return each port's associated floating addresses here and every view follows.
 */
async function floatingAddresses(_db: Knex, _portIds: string[]): Promise<Map<string, string[]>> {
  return new Map();
}

/** Each server's `addresses` (every uuid gets an entry, {} without ports), keyed by network name. */
export async function serverAddresses(
  db: Knex,
  uuids: string[],
): Promise<Map<string, Record<string, Address[]>>> {
  const out = new Map<string, Record<string, Address[]>>(uuids.map((u) => [u, {}]));
  if (uuids.length === 0) return out;
  const ports = await serverPorts(db, { serverUuids: uuids });
  const floating = await floatingAddresses(
    db,
    ports.map((p) => p.id),
  );
  const address = (ip: string, type: 'fixed' | 'floating', mac: string): Address => ({
    addr: ip,
    version: ipVersion(ip),
    'OS-EXT-IPS:type': type,
    'OS-EXT-IPS-MAC:mac_addr': mac,
  });
  // per server and network: all fixed addresses (port order), then all floating ones, as Nova's
  // get_networks_for_instance_from_nw_info
  const groups = new Map<string, Map<string, { fixed: Address[]; floating: Address[] }>>();
  for (const p of ports) {
    let nets = groups.get(p.serverUuid);
    if (!nets) groups.set(p.serverUuid, (nets = new Map()));
    let g = nets.get(p.networkName);
    if (!g) nets.set(p.networkName, (g = { fixed: [], floating: [] }));
    for (const f of p.fixedIps) g.fixed.push(address(f.ip, 'fixed', p.mac));
    for (const ip of floating.get(p.id) ?? []) g.floating.push(address(ip, 'floating', p.mac));
  }
  for (const [uuid, nets] of groups) {
    const addresses: Record<string, Address[]> = {};
    for (const [name, g] of nets) addresses[name] = [...g.fixed, ...g.floating];
    out.set(uuid, addresses);
  }
  return out;
}
