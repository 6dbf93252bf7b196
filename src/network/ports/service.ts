/**
 * Ports: create with automatic or requested addresses (ipam.ts), MAC generation, port security, allowed address
 * pairs and security groups (through ../security-groups/port-bindings.ts); update with re-IPAM; delete.
 * Visible to the port's project, the network's owner and admins. createPorts() is also the way in for
 * internal ports (the DHCP ports of host-state): pass an admin caller.
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { newUuid } from '../../common/ids.js';
import { isDuplicateKey, toBool, toJson } from '../../db/columns.js';
import { enforce, type Caller } from '../common/auth.js';
import { inChunks, isSqlite, lockRow, withRetry } from '../common/db.js';
import { badRequest, conflict, invalidAttribute, invalidInput, notFound } from '../common/errors.js';
import { checkQuota, countRows, registerQuotaUsage } from '../common/quotas.js';
import {
  bumpRevision,
  deleteTags,
  loadTags,
  replaceTags,
  standardColumns,
  validateTags,
} from '../common/standard-attrs.js';
import { inCidr, intToIp, ipToInt, isIPv4, looksIPv6, parseCidr } from '../ip.js';
import { getVisibleNetwork, networkNotFound } from '../networks/service.js';
import type { NetworkRow } from '../networks/view.js';
import {
  ensureDefaultSecurityGroup,
  portSecurityGroupIds,
  setPortSecurityGroups,
} from '../security-groups/port-bindings.js';
import { subnetNotFound } from '../subnets/service.js';
import type { SubnetRow } from '../subnets/view.js';
import { firstFreeAddress, ipAlreadyAllocated, ipGenerationFailure, recordAllocation } from './ipam.js';
import { portView, type PortRow } from './view.js';

registerQuotaUsage('port', countRows('ports'));

export const MAX_ALLOWED_ADDRESS_PAIRS = 10;

export const portNotFound = (id: string) => notFound('PortNotFound', `Port ${id} could not be found.`);

/** Ports the caller may see: its own and those on networks it owns (admins: all). */
export function visiblePorts(db: Knex, caller: Caller): Knex.QueryBuilder {
  const q = db('ports').select('ports.*');
  if (!caller.isAdmin)
    q.join('networks', 'networks.id', 'ports.network_id').where((w) =>
      w.where('ports.project_id', caller.projectId).orWhere('networks.project_id', caller.projectId),
    );
  return q;
}

export async function getVisiblePort(db: Knex, caller: Caller, id: string): Promise<PortRow> {
  const row = (await visiblePorts(db, caller).where('ports.id', id).first()) as PortRow | undefined;
  if (!row) throw portNotFound(id);
  return row;
}

export async function portViews(
  db: Knex,
  rows: PortRow[],
  admin: boolean,
): Promise<Record<string, unknown>[]> {
  const ids = rows.map((r) => r.id);
  const ips = new Map<string, { subnet_id: string; ip_address: string }[]>(ids.map((id) => [id, []]));
  const pairs = new Map<string, { ip_address: string; mac_address: string }[]>(ids.map((id) => [id, []]));
  for (const a of (await inChunks(ids, (part) =>
    db('ip_allocations').whereIn('port_id', part).orderBy(['port_id', 'ip_int']),
  )) as { port_id: string; subnet_id: string; ip_address: string }[])
    ips.get(a.port_id)?.push({ subnet_id: a.subnet_id, ip_address: a.ip_address });
  for (const p of (await inChunks(ids, (part) =>
    db('port_allowed_address_pairs')
      .whereIn('port_id', part)
      .orderBy(['port_id', 'ip_address', 'mac_address']),
  )) as { port_id: string; ip_address: string; mac_address: string }[])
    pairs.get(p.port_id)?.push({ ip_address: p.ip_address, mac_address: p.mac_address });
  const groups = ids.length ? await portSecurityGroupIds(db, ids) : new Map<string, string[]>();
  const tags = await loadTags(db, 'port', ids);
  return rows.map((r) =>
    portView(
      r,
      {
        fixedIps: ips.get(r.id) ?? [],
        pairs: pairs.get(r.id) ?? [],
        securityGroups: groups.get(r.id) ?? [],
        tags: tags.get(r.id) ?? [],
      },
      admin,
    ),
  );
}

// ---- input checks -------------------------------------------------------------------------------------------

const MAC = /^([0-9a-f]{2})([:-][0-9a-f]{2}){5}$/i;

/** neutron-lib validate_mac_address: six octets, unicast, not all zero; normalized to lower-case colons. */
export function normalizeMac(v: string, attr = 'mac_address'): string {
  const mac = v.toLowerCase().replace(/-/g, ':');
  if (!MAC.test(v) || mac === '00:00:00:00:00:00' || parseInt(mac.slice(0, 2), 16) & 1)
    throw invalidAttribute(attr, `'${v}' is not a valid MAC address`);
  return mac;
}

const generatedMac = (): string =>
  `fa:16:3e:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;

const v6Refused = () => badRequest('IPv6 is not supported by kvmstack yet', 'InvalidInput');

interface FixedIpRequest {
  subnetId?: string;
  ip?: string;
}

function parseFixedIps(v: unknown): FixedIpRequest[] {
  if (!Array.isArray(v)) throw invalidAttribute('fixed_ips', `'${JSON.stringify(v)}' is not a list`);
  const seen = new Set<string>();
  return v.map((e: unknown) => {
    const o = e as Record<string, unknown>;
    if (!o || typeof o !== 'object' || Array.isArray(o))
      throw invalidAttribute('fixed_ips', `Invalid data format for fixed IP: '${JSON.stringify(e)}'`);
    const extra = Object.keys(o).filter((k) => k !== 'subnet_id' && k !== 'ip_address');
    if (extra.length)
      throw invalidAttribute('fixed_ips', `Invalid data format for fixed IP: '${JSON.stringify(e)}'`);
    const out: FixedIpRequest = {};
    if (o.subnet_id !== undefined) {
      if (typeof o.subnet_id !== 'string')
        throw invalidAttribute('fixed_ips', `'${String(o.subnet_id)}' is not a valid UUID`);
      out.subnetId = o.subnet_id;
    }
    if (o.ip_address !== undefined) {
      const ip = String(o.ip_address);
      if (looksIPv6(ip)) throw v6Refused();
      if (!isIPv4(ip)) throw invalidAttribute('fixed_ips', `'${ip}' is not a valid IP address`);
      if (seen.has(ip)) throw invalidInput(`Duplicate IP address '${ip}'`);
      seen.add(ip);
      out.ip = ip;
    }
    return out;
  });
}

function parsePairs(v: unknown): { ip: string; mac: string | null }[] {
  if (v === null) return [];
  if (!Array.isArray(v))
    throw invalidAttribute('allowed_address_pairs', `'${JSON.stringify(v)}' is not a list`);
  if (v.length > MAX_ALLOWED_ADDRESS_PAIRS)
    throw badRequest(
      `The number of allowed address pair exceeds the maximum ${MAX_ALLOWED_ADDRESS_PAIRS}.`,
      'AllowedAddressPairExhausted',
    );
  const seen = new Set<string>();
  return v.map((e: unknown) => {
    const o = e as Record<string, unknown>;
    if (!o || typeof o !== 'object' || Array.isArray(o))
      throw invalidAttribute('allowed_address_pairs', `'${JSON.stringify(e)}' is not a dictionary`);
    if (o.ip_address === undefined)
      throw badRequest('AllowedAddressPair must contain ip_address', 'AllowedAddressPairsMissingIP');
    const extra = Object.keys(o).filter((k) => k !== 'ip_address' && k !== 'mac_address');
    if (extra.length) throw badRequest(`Unrecognized attribute(s) '${extra.join(', ')}'`);
    const ip = String(o.ip_address);
    if (looksIPv6(ip)) throw v6Refused();
    let text = ip;
    if (ip.includes('/')) {
      const c = parseCidr(ip);
      if (!c) throw invalidAttribute('allowed_address_pairs', `'${ip}' is not a valid IP subnet`);
      text = c.cidr.prefix === 32 ? intToIp(c.cidr.network) : ip;
    } else if (!isIPv4(ip))
      throw invalidAttribute('allowed_address_pairs', `'${ip}' is not a valid IP address`);
    const mac =
      o.mac_address === undefined || o.mac_address === null ? null : normalizeMac(String(o.mac_address));
    const key = `${mac} ${text}`;
    if (seen.has(key))
      throw badRequest(
        `Request contains duplicate address pair: mac_address ${mac ?? 'None'} ip_address ${text}.`,
        'DuplicateAddressPairInRequest',
      );
    seen.add(key);
    return { ip: text, mac };
  });
}

const psecAndIpRequired = () =>
  badRequest(
    'Port security must be enabled and port must have an IP address in order to use security groups.',
    'PortSecurityAndIPRequiredForSecurityGroups',
  );
const pairsNeedPsec = () =>
  conflict(
    'AddressPairAndPortSecurityRequired',
    'Port Security must be enabled in order to have allowed address pairs on a port.',
  );
const macInUse = (networkId: string, mac: string) =>
  conflict(
    'MacAddressInUse',
    `Unable to complete operation for network ${networkId}. The mac address ${mac} is in use.`,
  );

/** Policies on attributes (create_port:* / update_port:*), checked before any write. */
function enforceAttrPolicy(
  caller: Caller,
  net: NetworkRow,
  attrs: Record<string, unknown>,
  verb: string,
): void {
  const netOwner = caller.isAdmin || net.project_id === caller.projectId;
  if (attrs.mac_address !== undefined)
    enforce(verb === 'create' ? netOwner : caller.isAdmin, `${verb}_port:mac_address`);
  if (
    Array.isArray(attrs.fixed_ips) &&
    attrs.fixed_ips.some((f) => f && typeof f === 'object' && 'ip_address' in f)
  )
    enforce(netOwner, `${verb}_port:fixed_ips:ip_address`);
  for (const key of ['binding:host_id', 'binding:profile'])
    if (attrs[key] !== undefined) enforce(caller.isAdmin, `${verb}_port:${key}`);
  if (typeof attrs.device_owner === 'string' && attrs.device_owner.startsWith('network:'))
    enforce(netOwner, `${verb}_port:device_owner`);
}

// ---- addresses ----------------------------------------------------------------------------------------------

async function networkSubnets(trx: Knex, networkId: string): Promise<SubnetRow[]> {
  return (await trx('subnets').where({ network_id: networkId }).orderBy(['created_at', 'id'])) as SubnetRow[];
}

/**
 * Allocates the requested fixed IPs (undefined: one address from the first subnet with room) to the port.
 * `keep` are addresses the port already holds that stay (updates).
 */
async function allocate(
  trx: Knex,
  port: { id: string; networkId: string },
  requests: FixedIpRequest[] | undefined,
  keep: { subnet_id: string; ip_address: string }[] = [],
): Promise<number> {
  const subnets = await networkSubnets(trx, port.networkId);
  if (requests === undefined) {
    if (!subnets.length) return 0;
    for (const s of subnets) {
      const ip = await firstFreeAddress(trx, s.id);
      if (ip !== null) {
        await recordAllocation(trx, { portId: port.id, subnetId: s.id, networkId: port.networkId, ip });
        return 1;
      }
    }
    throw ipGenerationFailure(port.networkId);
  }
  let n = 0;
  for (const r of requests) {
    let subnet: SubnetRow | undefined;
    if (r.subnetId !== undefined) {
      subnet = subnets.find((s) => s.id === r.subnetId);
      if (!subnet) {
        if (!(await trx('subnets').where({ id: r.subnetId }).first('id'))) throw subnetNotFound(r.subnetId);
        throw invalidInput(
          `Failed to create port on network ${port.networkId}, because fixed_ips included invalid subnet ${r.subnetId}`,
        );
      }
    }
    if (r.ip !== undefined) {
      const ip = ipToInt(r.ip);
      const onLink = (s: SubnetRow) => {
        const c = parseCidr(s.cidr)!.cidr;
        return inCidr(ip, c) && ip !== c.network && ip !== c.last;
      };
      if (subnet) {
        if (!onLink(subnet))
          throw badRequest(
            `IP address ${r.ip} is not a valid IP for the specified subnet.`,
            'InvalidIpForSubnet',
          );
      } else {
        subnet = subnets.find(onLink);
        if (!subnet)
          throw badRequest(
            `IP address ${r.ip} is not a valid IP for any of the subnets on the specified network.`,
            'InvalidIpForNetwork',
          );
      }
      if (keep.some((k) => k.ip_address === r.ip)) continue;
      await lockRow(trx, 'subnets', { id: subnet.id }); // as firstFreeAddress: serialized with IPAM and subnet delete
      if (
        await trx('ip_allocations').where({ network_id: port.networkId, ip_address: r.ip }).first('port_id')
      )
        throw ipAlreadyAllocated(r.ip, subnet.id);
      try {
        await recordAllocation(trx, { portId: port.id, subnetId: subnet.id, networkId: port.networkId, ip });
      } catch (err) {
        if (isDuplicateKey(err)) throw ipAlreadyAllocated(r.ip, subnet.id);
        throw err;
      }
    } else {
      const ip = await firstFreeAddress(trx, subnet!.id);
      if (ip === null) throw ipGenerationFailure(port.networkId);
      await recordAllocation(trx, { portId: port.id, subnetId: subnet!.id, networkId: port.networkId, ip });
    }
    n++;
  }
  return n;
}

async function writePairs(
  trx: Knex,
  portId: string,
  mac: string,
  pairs: { ip: string; mac: string | null }[],
) {
  await trx('port_allowed_address_pairs').where({ port_id: portId }).delete();
  const rows = pairs.map((p) => ({ port_id: portId, ip_address: p.ip, mac_address: p.mac ?? mac }));
  const unique = [...new Map(rows.map((r) => [`${r.ip_address} ${r.mac_address}`, r])).values()];
  if (unique.length) await trx('port_allowed_address_pairs').insert(unique);
}

// ---- create / update / delete -------------------------------------------------------------------------------

export interface PortCreate {
  projectId: string;
  attrs: Record<string, unknown>;
}

/** Checks one create request before any write: policies, port security, pairs, MAC, fixed IPs, tags. */
async function planPort(db: Knex, caller: Caller, { projectId, attrs }: PortCreate) {
  if (attrs.network_id === undefined)
    throw badRequest("Failed to parse request. Required attribute 'network_id' not specified");
  const net = await getVisibleNetwork(db, caller, attrs.network_id as string);
  enforceAttrPolicy(caller, net, attrs, 'create');
  const psec = (attrs.port_security_enabled as boolean | undefined) ?? toBool(net.port_security_enabled);
  const pairs = attrs.allowed_address_pairs === undefined ? [] : parsePairs(attrs.allowed_address_pairs);
  if (pairs.length && !psec) throw pairsNeedPsec();
  const groups = attrs.security_groups as string[] | undefined;
  if (groups?.length && !psec) throw psecAndIpRequired();
  return {
    projectId,
    attrs,
    net,
    psec,
    pairs,
    groups,
    mac: attrs.mac_address === undefined ? null : normalizeMac(attrs.mac_address as string),
    fixedIps: attrs.fixed_ips === undefined ? undefined : parseFixedIps(attrs.fixed_ips),
    tags: attrs.tags === undefined ? [] : validateTags(attrs.tags, 'port'),
  };
}

/** Creates ports in one transaction (bulk is all or nothing); returns their ids. */
export async function createPorts(
  db: Knex,
  caller: Caller,
  now: number,
  items: PortCreate[],
): Promise<string[]> {
  const prepared: Awaited<ReturnType<typeof planPort>>[] = [];
  for (const item of items) prepared.push(await planPort(db, caller, item));
  return withRetry(db, async (trx) => {
    const counts = new Map<string, number>();
    for (const p of prepared) counts.set(p.projectId, (counts.get(p.projectId) ?? 0) + 1);
    for (const [projectId, n] of counts) await checkQuota(trx, projectId, 'port', n);
    const ids: string[] = [];
    for (const p of prepared) {
      // A shared lock on the network: a concurrent network delete waits for this create, or this create sees
      // the network gone and answers 404 instead of failing on the foreign key.
      const netQuery = trx('networks').where({ id: p.net.id }).first('id');
      if (!(await (isSqlite(trx) ? netQuery : netQuery.forShare()))) throw networkNotFound(p.net.id);
      const id = newUuid();
      const mac = p.mac ?? generatedMac();
      const deviceOwner = (p.attrs.device_owner as string | undefined) ?? '';
      try {
        await trx('ports').insert({
          id,
          project_id: p.projectId,
          network_id: p.net.id,
          name: (p.attrs.name as string | undefined) ?? '',
          mac_address: mac,
          admin_state_up: (p.attrs.admin_state_up as boolean | undefined) ?? true,
          status: 'DOWN',
          device_id: (p.attrs.device_id as string | undefined) ?? '',
          device_owner: deviceOwner,
          port_security_enabled: p.psec,
          binding_host_id: (p.attrs['binding:host_id'] as string | undefined) ?? '',
          binding_vnic_type: 'normal',
          binding_profile: toJson(p.attrs['binding:profile'] ?? {}),
          ...standardColumns(now, p.attrs.description),
        });
      } catch (err) {
        // A requested MAC that is taken is the caller's conflict; a generated one collided: retry.
        if (isDuplicateKey(err) && p.mac) throw macInUse(p.net.id, mac);
        throw err;
      }
      const nIps = await allocate(trx, { id, networkId: p.net.id }, p.fixedIps);
      const port = { id, projectId: p.projectId };
      if (p.groups !== undefined) {
        if (p.groups.length && !nIps) throw psecAndIpRequired();
        await setPortSecurityGroups(trx, port, p.groups, caller.isAdmin);
      } else if (p.psec && nIps && !deviceOwner.startsWith('network:')) {
        const def = await ensureDefaultSecurityGroup(trx, p.projectId, now);
        await setPortSecurityGroups(trx, port, [def], true);
      }
      await writePairs(trx, id, mac, p.pairs);
      if (p.tags.length) await replaceTags(trx, 'port', id, p.tags);
      ids.push(id);
    }
    return ids;
  });
}

const mayChange = (caller: Caller, port: PortRow, net: { project_id: string }) =>
  caller.isAdmin || port.project_id === caller.projectId || net.project_id === caller.projectId;

export async function updatePort(
  db: Knex,
  caller: Caller,
  now: number,
  id: string,
  attrs: Record<string, unknown>,
  expectedRevision: number | null,
  checkRevision: (expected: number | null, current: number | string) => void,
): Promise<void> {
  const fixedIps = attrs.fixed_ips === undefined ? undefined : parseFixedIps(attrs.fixed_ips);
  const newPairs =
    attrs.allowed_address_pairs === undefined ? undefined : parsePairs(attrs.allowed_address_pairs);
  const newMac = attrs.mac_address === undefined ? undefined : normalizeMac(attrs.mac_address as string);
  await withRetry(
    db,
    async (trx) => {
      const row = await getVisiblePort(trx, caller, id);
      const net = (await trx('networks').where({ id: row.network_id }).first()) as NetworkRow;
      enforce(mayChange(caller, row, net), 'update_port');
      enforceAttrPolicy(caller, net, attrs, 'update');
      checkRevision(expectedRevision, row.revision_number);

      const current = (await trx('ip_allocations').where({ port_id: id }).orderBy('ip_int')) as {
        subnet_id: string;
        ip_address: string;
      }[];
      let nIps = current.length;
      if (fixedIps !== undefined) {
        // Entries naming an address the port holds keep it; a bare subnet keeps the port's address there.
        const keep: typeof current = [];
        const fresh: FixedIpRequest[] = [];
        for (const r of fixedIps) {
          const held = current.find(
            (c) =>
              !keep.includes(c) &&
              (r.ip !== undefined
                ? c.ip_address === r.ip && (!r.subnetId || r.subnetId === c.subnet_id)
                : c.subnet_id === r.subnetId),
          );
          if (held) keep.push(held);
          else fresh.push(r);
        }
        const released = current.filter((c) => !keep.includes(c)).map((c) => c.ip_address);
        if (released.length)
          await trx('ip_allocations').where({ port_id: id }).whereIn('ip_address', released).delete();
        nIps = keep.length + (await allocate(trx, { id, networkId: row.network_id }, fresh, keep));
      }

      const psec = (attrs.port_security_enabled as boolean | undefined) ?? toBool(row.port_security_enabled);
      const groupsGiven = attrs.security_groups as string[] | undefined;
      const groups = groupsGiven ?? (await portSecurityGroupIds(trx, [id])).get(id) ?? [];
      if (groups.length && (!psec || !nIps)) {
        if (groupsGiven?.length) throw psecAndIpRequired();
        throw conflict(
          'PortSecurityPortHasSecurityGroup',
          'Port has security group associated. Cannot disable port security or IP address until security group is removed.',
        );
      }
      const pairsCount =
        newPairs?.length ??
        Number(
          (
            (await trx('port_allowed_address_pairs').where({ port_id: id }).count({ n: '*' }).first()) as {
              n: number | string;
            }
          ).n,
        );
      if (pairsCount && !psec) throw pairsNeedPsec();

      const changes: Record<string, unknown> = {};
      for (const [attr, column] of [
        ['name', 'name'],
        ['description', 'description'],
        ['admin_state_up', 'admin_state_up'],
        ['device_id', 'device_id'],
        ['device_owner', 'device_owner'],
        ['port_security_enabled', 'port_security_enabled'],
        ['binding:host_id', 'binding_host_id'],
        ['binding:vnic_type', 'binding_vnic_type'],
      ] as const)
        if (attrs[attr] !== undefined) changes[column] = attrs[attr];
      if (attrs['binding:profile'] !== undefined) changes.binding_profile = toJson(attrs['binding:profile']);
      if (attrs['binding:host_id'] === '') changes.status = 'DOWN'; // unbound: nothing wires it any more
      if (newMac !== undefined && newMac !== row.mac_address) {
        if (row.binding_host_id !== '')
          throw conflict(
            'PortBound',
            `Unable to complete operation on port ${id}, port is already bound, port type: bridge, old_mac ${row.mac_address}, new_mac ${newMac}.`,
          );
        changes.mac_address = newMac;
      }
      if (Object.keys(changes).length) {
        try {
          await trx('ports').where({ id }).update(changes);
        } catch (err) {
          if (isDuplicateKey(err) && newMac) throw macInUse(row.network_id, newMac);
          throw err;
        }
      }
      if (groupsGiven !== undefined)
        await setPortSecurityGroups(trx, { id, projectId: row.project_id }, groupsGiven, caller.isAdmin);
      if (newPairs !== undefined) await writePairs(trx, id, newMac ?? row.mac_address, newPairs);
      await bumpRevision(trx, 'ports', id, now);
    },
    { retryable: () => true },
  );
}

export async function deletePort(db: Knex, caller: Caller, id: string): Promise<void> {
  await withRetry(db, async (trx) => {
    const row = await getVisiblePort(trx, caller, id);
    const net = (await trx('networks').where({ id: row.network_id }).first()) as NetworkRow;
    enforce(mayChange(caller, row, net), 'delete_port');
    await deletePortRows(trx, [id], row.project_id);
  });
}

/** Removes ports with everything hanging off them (addresses, pairs, group bindings, tags). */
export async function deletePortRows(trx: Knex, ids: string[], projectId: string): Promise<void> {
  for (const id of ids) await setPortSecurityGroups(trx, { id, projectId }, [], true);
  await deleteTags(trx, 'port', ids);
  await trx('ip_allocations').whereIn('port_id', ids).delete();
  await trx('port_allowed_address_pairs').whereIn('port_id', ids).delete();
  await trx('ports').whereIn('id', ids).delete();
}
