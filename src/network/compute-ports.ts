/**
 * What the compute service asks of the network service for a server, as Nova asks Neutron: check the
 * requested networks and ports, pick the network of `auto`, create or bind the server's ports on its host,
 * describe them for the domain and the config drive, and release them. Compute never reads these tables.
 */
import type { Knex } from 'knex';
import { BadRequest, Conflict, NotFound } from '../common/errors.js';
import type { Caller } from './common/auth.js';
import { createPorts, deletePort, getVisiblePort, updatePort } from './ports/service.js';
import { portSecurityGroupIds } from './security-groups/port-bindings.js';
import { ensureDefaultGroup, GROUPS } from './security-groups/service.js';
import { getVisibleNetwork } from './networks/service.js';
import { toBool } from '../db/columns.js';
import { inCidr, ipToInt, isIPv4, parseCidr } from './ip.js';
import { inChunks } from './common/db.js';

export interface NetworkRequest {
  uuid?: string;
  port?: string;
  fixed_ip?: string;
}

/** A server NIC as the domain and the config drive need it. */
export interface ServerNic {
  portId: string;
  mac: string;
  networkId: string;
  networkName: string;
  networkType: string;
  physicalNetwork: string;
  mtu: number;
  fixedIps: { subnetId: string; ip: string }[];
  subnets: {
    id: string;
    cidr: string;
    gateway: string | null;
    dns: string[];
    routes: { destination: string; nexthop: string }[];
  }[];
}

const ignoreRevision = () => undefined;

/**
 * Validates a create request's networks before anything is written (Nova's _validate_requested_port_ids and
 * network checks): each network visible, each port the caller's and free, each fixed IP inside its network.
 * Returns the requests with ports' networks filled in.
 */
export async function checkNetworkRequests(
  db: Knex,
  caller: Caller,
  requests: NetworkRequest[],
  count: number,
  /** A server create says 400 for an unknown port or network; an interface attach 404 (Nova's). */
  notFound: (message: string) => Error = (m) => new BadRequest(m),
): Promise<NetworkRequest[]> {
  const out: NetworkRequest[] = [];
  for (const r of requests) {
    if (r.port) {
      let port;
      try {
        port = await getVisiblePort(db, caller, r.port);
      } catch {
        throw notFound(`Port ${r.port} could not be found.`);
      }
      if (port.device_id) throw new Conflict(`Port ${r.port} is still in use.`);
      if (count > 1)
        throw new BadRequest(
          'Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.',
        );
      out.push({ port: r.port, uuid: port.network_id });
      continue;
    }
    let net;
    try {
      net = await getVisibleNetwork(db, caller, r.uuid as string);
    } catch {
      throw notFound(`Network ${r.uuid} could not be found.`);
    }
    if (r.fixed_ip) {
      const subnets = await db('subnets').where({ network_id: net.id }).select('cidr');
      const ip = isIPv4(r.fixed_ip) ? ipToInt(r.fixed_ip) : null;
      const inside = subnets.some((s) => {
        const c = parseCidr(String(s.cidr));
        return c !== null && ip !== null && inCidr(ip, c.cidr);
      });
      if (!inside) throw new BadRequest(`Fixed IP address ${r.fixed_ip} is not valid for network ${net.id}.`);
      if (count > 1) throw new BadRequest('max_count cannot be greater than 1 if an fixed_ip is specified.');
      const taken = await db('ip_allocations').where({ network_id: net.id, ip_address: r.fixed_ip }).first();
      if (taken) throw new Conflict(`Fixed IP address ${r.fixed_ip} is already in use.`);
    }
    out.push({ uuid: net.id, ...(r.fixed_ip ? { fixed_ip: r.fixed_ip } : {}) });
  }
  return out;
}

/**
 * The network `auto` (and an absent `networks` before 2.37) stands for: the one network the project may
 * use (its own or shared, not external). None: the server gets no NIC; several: 409 as Nova's
 * NetworkAmbiguous (kvmstack has no auto-allocated topology to build).
 */
export async function autoNetwork(db: Knex, caller: Caller): Promise<string | null> {
  const rows = await db('networks')
    .where((w) => w.where('project_id', caller.projectId).orWhere('shared', true))
    .where('router_external', false)
    .select('id');
  if (rows.length === 0) return null;
  if (rows.length > 1)
    throw new Conflict('Multiple possible networks found, use a Network ID to be more specific.');
  return String(rows[0].id);
}

/** Security group names (or ids) of a create request → ids in the project; 'default' is made on first use. */
export async function securityGroupIds(
  db: Knex,
  projectId: string,
  names: string[],
  now: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (const name of [...new Set(names)])
    ids.push(
      await groupIdOf(
        db,
        projectId,
        name,
        now,
        () => new BadRequest(`Security group ${name} not found for project ${projectId}.`),
      ),
    );
  return ids;
}

/** A group by name or id in the project (Neutron's find_resourceid_by_name_or_id); 'default' made on first use. */
async function groupIdOf(
  db: Knex,
  projectId: string,
  name: string,
  now: number,
  notFound: () => Error,
): Promise<string> {
  if (name === 'default') return ensureDefaultGroup(db, projectId, now);
  const rows = await db(GROUPS)
    .where({ project_id: projectId })
    .where((w) => w.where({ name }).orWhere({ id: name }))
    .select('id');
  if (rows.length === 0) throw notFound();
  if (rows.length > 1)
    throw new Conflict(`Multiple security groups found matching '${name}'. Use an ID to be more specific.`);
  return String(rows[0].id);
}

/**
 * Nova's addSecurityGroup/removeSecurityGroup over Neutron (security_group_api add_to_instance /
 * remove_from_instance): the group, found by name or id in the server's project, is added to or removed from
 * every port of the server; the network agents then filter the ports by the new set.
 */
export async function changeServerSecurityGroup(
  db: Knex,
  server: { uuid: string; projectId: string },
  name: string,
  change: 'add' | 'remove',
  now: number,
): Promise<void> {
  const groupId = await groupIdOf(
    db,
    server.projectId,
    name,
    now,
    () => new NotFound(`Security group ${name} is not found for project ${server.projectId}`),
  );
  const ports = (await db('ports')
    .where({ device_id: server.uuid })
    .orderBy('created_at')
    .select('id', 'project_id', 'port_security_enabled')) as {
    id: string;
    project_id: string;
    port_security_enabled: unknown;
  }[];
  if (!ports.length)
    throw new NotFound(`instance_id ${server.uuid} could not be found as device id on any ports`);
  const ids = ports.map((p) => p.id);
  const groups = await portSecurityGroupIds(db, ids);
  const withIps = new Set(
    (await db('ip_allocations').whereIn('port_id', ids).distinct('port_id')).map((r) => String(r.port_id)),
  );
  if (change === 'add' && ports.some((p) => !toBool(p.port_security_enabled) || !withIps.has(p.id)))
    throw new BadRequest(
      'Network requires port_security_enabled and subnet associated in order to apply security groups.',
    );
  let found = false;
  for (const p of ports) {
    const current = groups.get(p.id) ?? [];
    const next =
      change === 'add'
        ? current.includes(groupId)
          ? null
          : [...current, groupId]
        : current.includes(groupId)
          ? current.filter((g) => g !== groupId)
          : null;
    if (change === 'remove' && next) found = true;
    if (!next) continue;
    const caller: Caller = { projectId: p.project_id, isAdmin: true };
    await updatePort(db, caller, now, p.id, { security_groups: next }, null, ignoreRevision);
  }
  if (change === 'remove' && !found)
    throw new NotFound(`Security group ${name} not associated with the instance ${server.uuid}`);
}

/**
 * Creates (or binds, for given ports) the server's ports on its host: device_id = the server, device_owner
 * compute:<zone>, binding:host_id = the host. Idempotent: a port already made for the same request (found by
 * device_id and network after a crash) is reused. Returns the ids of all its ports, in request order.
 */
export async function bindServerPorts(
  db: Knex,
  s: PortBinding & { requests: NetworkRequest[] },
): Promise<{ all: string[] }> {
  const service: Caller = { projectId: s.projectId, isAdmin: true };
  const existing = await db('ports')
    .where({ device_id: s.serverUuid })
    .orderBy('created_at')
    .select('id', 'network_id');
  const reusable = existing.map((p) => ({ id: String(p.id), networkId: String(p.network_id) }));
  const all: string[] = [];
  for (const r of s.requests) {
    if (r.port) {
      const i = reusable.findIndex((p) => p.id === r.port);
      if (i >= 0) reusable.splice(i, 1);
    } else {
      const again = reusable.findIndex((p) => p.networkId === r.uuid);
      if (again >= 0) {
        const id = reusable.splice(again, 1)[0].id;
        await updatePort(db, service, s.now, id, { 'binding:host_id': s.hostname }, null, ignoreRevision);
        all.push(id);
        continue;
      }
    }
    all.push(await bindServerPort(db, s, r));
  }
  return { all };
}

export interface PortBinding {
  serverUuid: string;
  projectId: string;
  hostname: string;
  zone: string;
  securityGroupIds: string[] | null;
  now: number;
}

/**
 * One port of the server on its host: a given port is bound (device_id, device_owner compute:<zone>,
 * binding:host_id), otherwise a new port is made on the network with the fixed IP asked for and the server's
 * security groups (where the network has port security). Returns the port id.
 */
export async function bindServerPort(db: Knex, s: PortBinding, r: NetworkRequest): Promise<string> {
  const service: Caller = { projectId: s.projectId, isAdmin: true };
  const binding = {
    device_id: s.serverUuid,
    device_owner: `compute:${s.zone}`,
    'binding:host_id': s.hostname,
  };
  if (r.port) {
    await updatePort(db, service, s.now, r.port, binding, null, ignoreRevision);
    return r.port;
  }
  const attrs: Record<string, unknown> = {
    network_id: r.uuid,
    ...binding,
    ...(r.fixed_ip ? { fixed_ips: [{ ip_address: r.fixed_ip }] } : {}),
  };
  const net = await db('networks').where({ id: r.uuid }).first('port_security_enabled');
  if (s.securityGroupIds && net && toBool(net.port_security_enabled))
    attrs.security_groups = s.securityGroupIds;
  const [id] = await createPorts(db, service, s.now, [{ projectId: s.projectId, attrs }]);
  return id;
}

/** Gives one port of the server back: deleted if kvmstack made it, unbound if the user gave it. */
export async function releaseServerPort(
  db: Knex,
  port: { id: string; projectId: string },
  given: boolean,
  now: number,
): Promise<void> {
  const caller: Caller = { projectId: port.projectId, isAdmin: true };
  if (!given) await deletePort(db, caller, port.id);
  else
    await updatePort(
      db,
      caller,
      now,
      port.id,
      { device_id: '', device_owner: '', 'binding:host_id': '' },
      null,
      ignoreRevision,
    );
}

/** Moves the server's ports to another host (rebuild on another host, evacuation, migration). */
export async function rebindServerPorts(
  db: Knex,
  serverUuid: string,
  hostname: string,
  now: number,
): Promise<void> {
  const rows = await db('ports').where({ device_id: serverUuid }).select('id', 'project_id');
  for (const p of rows)
    await updatePort(
      db,
      { projectId: String(p.project_id), isAdmin: true },
      now,
      String(p.id),
      { 'binding:host_id': hostname },
      null,
      ignoreRevision,
    );
}

/**
 * Releases a server's ports: the ports the user gave are unbound and kept, every other port of the server was
 * made for it and is deleted (as Nova's deallocate_for_instance). Deciding by the request, not by a record of
 * what was made, also catches a port a crashed boot made but never recorded.
 */
export async function releaseServerPorts(
  db: Knex,
  serverUuid: string,
  givenPortIds: string[],
  now: number,
): Promise<void> {
  const rows = await db('ports').where({ device_id: serverUuid }).select('id', 'project_id');
  const given = new Set(givenPortIds);
  for (const p of rows)
    await releaseServerPort(
      db,
      { id: String(p.id), projectId: String(p.project_id) },
      given.has(String(p.id)),
      now,
    );
}

/** The server's NICs in port order, with what the domain (MAC, bridge, MTU) and the config drive need. */
export async function serverNics(
  db: Knex,
  serverUuid: string,
  portOrder: string[] = [],
): Promise<ServerNic[]> {
  const ports = await db('ports as p')
    .join('networks as n', 'n.id', 'p.network_id')
    .where('p.device_id', serverUuid)
    .orderBy('p.created_at')
    .select(
      'p.id',
      'p.mac_address',
      'p.network_id',
      'n.name as network_name',
      'n.network_type',
      'n.physical_network',
      'n.mtu',
    );
  if (ports.length === 0) return [];
  const ids = ports.map((p) => String(p.id));
  const ips = await db('ip_allocations').whereIn('port_id', ids).orderBy('ip_int');
  const subnetIds = [...new Set(ips.map((i) => String(i.subnet_id)))];
  const subnets = subnetIds.length ? await db('subnets').whereIn('id', subnetIds) : [];
  const dns = subnetIds.length
    ? await db('subnet_dns_nameservers').whereIn('subnet_id', subnetIds).orderBy('position')
    : [];
  const routes = subnetIds.length ? await db('subnet_host_routes').whereIn('subnet_id', subnetIds) : [];
  const order = (id: string) => {
    const i = portOrder.indexOf(id);
    return i < 0 ? portOrder.length : i;
  };
  return ports
    .sort((a, b) => order(String(a.id)) - order(String(b.id)))
    .map((p) => {
      const mine = ips.filter((i) => i.port_id === p.id);
      return {
        portId: String(p.id),
        mac: String(p.mac_address),
        networkId: String(p.network_id),
        networkName: String(p.network_name),
        networkType: String(p.network_type),
        physicalNetwork: String(p.physical_network),
        mtu: Number(p.mtu),
        fixedIps: mine.map((i) => ({ subnetId: String(i.subnet_id), ip: String(i.ip_address) })),
        subnets: subnets
          .filter((s) => mine.some((i) => i.subnet_id === s.id))
          .map((s) => ({
            id: String(s.id),
            cidr: String(s.cidr),
            gateway: (s.gateway_ip as string | null) ?? null,
            dns: dns.filter((d) => d.subnet_id === s.id).map((d) => String(d.address)),
            routes: routes
              .filter((r) => r.subnet_id === s.id)
              .map((r) => ({ destination: String(r.destination), nexthop: String(r.nexthop) })),
          })),
      };
    });
}

/** The names of the security groups on each server's ports (Nova's server `security_groups`). */
export async function serverSecurityGroupNames(
  db: Knex,
  serverUuids: string[],
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (serverUuids.length === 0) return out;
  const rows = await inChunks(serverUuids, (part) =>
    db('ports as p')
      .join('security_group_port_bindings as b', 'b.port_id', 'p.id')
      .join(`${GROUPS} as g`, 'g.id', 'b.security_group_id')
      .whereIn('p.device_id', part)
      .orderBy('g.name')
      .distinct('p.device_id', 'g.name'),
  );
  for (const r of rows as { device_id: string; name: string }[]) {
    const names = out.get(r.device_id) ?? [];
    if (!names.includes(r.name)) names.push(r.name);
    out.set(r.device_id, names);
  }
  return out;
}

/** Servers (device ids) with a fixed IP matching Nova's `ip` list filter (a regular expression). */
export async function serversWithIp(db: Knex, pattern: RegExp): Promise<Set<string>> {
  const rows = await db('ip_allocations as i')
    .join('ports as p', 'p.id', 'i.port_id')
    .where('p.device_owner', 'like', 'compute:%')
    .select('p.device_id', 'i.ip_address');
  return new Set(rows.filter((r) => pattern.test(String(r.ip_address))).map((r) => String(r.device_id)));
}
