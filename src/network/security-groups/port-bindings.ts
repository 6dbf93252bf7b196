/**
 * What the rest of the network service needs from security groups (the contract between ports and groups),
 * and what the agents get: each port's rules with remote groups resolved to addresses.
 */
import type { Knex } from 'knex';
import type { RealizedRule } from '../realization.js';
import { inChunks, isSqlite } from '../common/db.js';
import { parsePrefix } from './schemas.js';
import { BINDINGS, ensureDefaultGroup, GROUPS, groupNotFound, RULES } from './service.js';
import type { RuleRow } from './view.js';

/** The project's `default` group, created on first use as Neutron does (safe under concurrency); its id. */
export async function ensureDefaultSecurityGroup(
  db: Knex,
  projectId: string,
  nowMs: number,
): Promise<string> {
  return ensureDefaultGroup(db, projectId, nowMs);
}

/**
 * Binds the port to exactly these groups (replacing earlier bindings). Every group must exist and belong to the
 * port's project (or the caller is admin): else 404 NeutronError type SecurityGroupNotFound. Runs inside the
 * caller's transaction when given one.
 */
export async function setPortSecurityGroups(
  db: Knex,
  port: { id: string; projectId: string },
  groupIds: string[],
  callerIsAdmin: boolean,
): Promise<void> {
  const wanted = [...new Set(groupIds)];
  const work = async (trx: Knex) => {
    if (wanted.length) {
      const q = trx(GROUPS).whereIn('id', wanted).select('id', 'project_id');
      // A shared lock holds off a concurrent delete of the group until the binding is committed.
      const rows = (await (isSqlite(trx) ? q : q.forShare())) as { id: string; project_id: string }[];
      const usable = new Set(
        rows.filter((r) => callerIsAdmin || r.project_id === port.projectId).map((r) => r.id),
      );
      const missing = wanted.find((id) => !usable.has(id));
      if (missing) throw groupNotFound(missing);
    }
    await trx(BINDINGS).where({ port_id: port.id }).delete();
    if (wanted.length)
      await trx(BINDINGS).insert(
        wanted.map((security_group_id) => ({ port_id: port.id, security_group_id })),
      );
  };
  await ((db as Knex.Transaction).isTransaction ? work(db) : db.transaction(work));
}

/** The group ids bound to each port (ports without groups map to []). */
export async function portSecurityGroupIds(db: Knex, portIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(portIds.map((id) => [id, []]));
  const rows = await inChunks(portIds, (part) =>
    db(BINDINGS).whereIn('port_id', part).orderBy('security_group_id').select('port_id', 'security_group_id'),
  );
  for (const r of rows as { port_id: string; security_group_id: string }[])
    out.get(r.port_id)?.push(r.security_group_id);
  return out;
}

/** Each group's members' addresses as host prefixes: fixed IPs (/32, /128) and allowed address pairs. */
async function memberPrefixes(db: Knex, groupIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, Set<string>>(groupIds.map((id) => [id, new Set()]));
  const members = (await inChunks(groupIds, (part) =>
    db(BINDINGS).whereIn('security_group_id', part).select('port_id', 'security_group_id'),
  )) as { port_id: string; security_group_id: string }[];
  const portIds = [...new Set(members.map((m) => m.port_id))];
  const addrs = new Map<string, string[]>();
  const add = (portId: string, prefix: string) => {
    const list = addrs.get(portId) ?? [];
    list.push(prefix);
    addrs.set(portId, list);
  };
  for (const r of (await inChunks(portIds, (part) =>
    db('ip_allocations').whereIn('port_id', part).select('port_id', 'ip_address'),
  )) as { port_id: string; ip_address: string }[]) {
    const p = parsePrefix(r.ip_address);
    if (p) add(r.port_id, p.text);
  }
  // Neutron's remote-group sets include allowed address pairs (a VIP moving between members stays reachable).
  for (const r of (await inChunks(portIds, (part) =>
    db('port_allowed_address_pairs').whereIn('port_id', part).select('port_id', 'ip_address'),
  )) as { port_id: string; ip_address: string }[]) {
    const p = parsePrefix(r.ip_address);
    if (p) add(r.port_id, p.cidr);
  }
  for (const m of members) for (const a of addrs.get(m.port_id) ?? []) out.get(m.security_group_id)?.add(a);
  return new Map([...out].map(([id, set]) => [id, [...set].sort()]));
}

/** Per port: the union of its groups' rules with remote groups resolved to their members' addresses. */
export async function realizedRulesForPorts(
  db: Knex,
  portIds: string[],
): Promise<Map<string, RealizedRule[]>> {
  const out = new Map<string, RealizedRule[]>(portIds.map((id) => [id, []]));
  const bindings = await portSecurityGroupIds(db, portIds);
  const groupIds = [...new Set([...bindings.values()].flat())];
  const rules = (await inChunks(groupIds, (part) =>
    db(RULES).whereIn('security_group_id', part).orderBy(['created_at', 'id']),
  )) as RuleRow[];
  const remoteIds = [...new Set(rules.map((r) => r.remote_group_id).filter((x): x is string => !!x))];
  const remotes = await memberPrefixes(db, remoteIds);
  const byGroup = new Map<string, RealizedRule[]>();
  for (const r of rules) {
    const realized: RealizedRule = {
      direction: r.direction as RealizedRule['direction'],
      ethertype: r.ethertype as RealizedRule['ethertype'],
      protocol: r.protocol === null ? null : r.protocol.toLowerCase(),
      portRangeMin: r.port_range_min === null ? null : Number(r.port_range_min),
      portRangeMax: r.port_range_max === null ? null : Number(r.port_range_max),
      remotePrefixes: r.remote_group_id
        ? (remotes.get(r.remote_group_id) ?? []).filter((p) =>
            r.ethertype === 'IPv4' ? !p.includes(':') : p.includes(':'),
          )
        : r.remote_ip_prefix
          ? [parsePrefix(r.remote_ip_prefix)?.cidr ?? r.remote_ip_prefix]
          : null,
    };
    const list = byGroup.get(r.security_group_id) ?? [];
    list.push(realized);
    byGroup.set(r.security_group_id, list);
  }
  for (const [portId, groups] of bindings) {
    // The union: the same rule from two groups is realized once.
    const seen = new Set<string>();
    const list: RealizedRule[] = [];
    for (const g of groups)
      for (const rule of byGroup.get(g) ?? []) {
        const key = JSON.stringify(rule);
        if (!seen.has(key)) {
          seen.add(key);
          list.push(rule);
        }
      }
    out.set(portId, list);
  }
  return out;
}
