/**
 * Security groups and their rules (neutron/db/securitygroups_db.py): every new group gets the two default egress
 * rules; a project's `default` group (plus ingress from itself) is created on first use, once even under
 * concurrency; rules are validated, normalized and de-duplicated as Neutron does. No HTTP types in here.
 */
import type { Knex } from 'knex';
import { newUuid } from '../../common/ids.js';
import { isDuplicateKey } from '../../db/columns.js';
import type { Caller } from '../common/auth.js';
import { inChunks, isSqlite, withRetry } from '../common/db.js';
import { badRequest, conflict, notFound } from '../common/errors.js';
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
  IPV6_ONLY_PROTOCOLS,
  PORT_PROTOCOL_NAMES,
  PORT_PROTOCOL_NUMBERS,
  protocolNumber,
} from './protocols.js';
import { parsePrefix } from './schemas.js';
import { groupView, ruleView, type GroupRow, type RuleRow } from './view.js';

export const GROUPS = 'security_groups';
export const RULES = 'security_group_rules';
export const DEFAULTS = 'default_security_group';
export const BINDINGS = 'security_group_port_bindings';
const TAG_TYPE = 'security_group';
const DEFAULT_SG_DESCRIPTION = 'Default security group';

registerQuotaUsage('security_group', countRows(GROUPS));
registerQuotaUsage('security_group_rule', countRows(RULES));

export const groupNotFound = (id: string) =>
  notFound('SecurityGroupNotFound', `Security group ${id} does not exist`);
export const ruleNotFound = (id: string) =>
  notFound('SecurityGroupRuleNotFound', `Security group rule ${id} does not exist`);
const inUse = (id: string) => conflict('SecurityGroupInUse', `Security Group ${id} in use.`);

/** A rule as the service handles it after attribute conversion (schemas.ts). */
export interface RuleInput {
  project_id: string;
  security_group_id: string;
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
  remote_address_group_id?: string | null;
  description?: string;
}

/** Runs `work` in the caller's transaction, or in a new one. */
async function inTransaction<T>(db: Knex, work: (trx: Knex) => Promise<T>): Promise<T> {
  return (db as Knex.Transaction).isTransaction ? work(db) : db.transaction((trx) => work(trx));
}

// ---------------------------------------------------------------------------------------------------------
// Rules: validation and normalization (securitygroups_db._validate_base_security_group_rule_attributes)

const isRuleKey = (r: RuleInput, key: 'port_range_min' | 'port_range_max') => r[key] !== null;

/** Normalizes in place and throws Neutron's 400 for an invalid combination. */
export function normalizeRule(r: RuleInput): void {
  // ICMP on IPv6 is ipv6-icmp, whatever the client called it.
  if (r.ethertype === 'IPv6') {
    if (r.protocol === 'icmp' || r.protocol === 'icmpv6') r.protocol = 'ipv6-icmp';
    else if (r.protocol === '1') r.protocol = '58';
  }
  // The whole port range is the same as no range.
  if (r.port_range_min === 1 && r.port_range_max === 65535) r.port_range_min = r.port_range_max = null;
  validatePortRange(r);
  if (r.remote_ip_prefix) {
    const p = parsePrefix(r.remote_ip_prefix);
    if (!p) throw badRequest(`Invalid CIDR ${r.remote_ip_prefix} given as IP prefix.`, 'InvalidCIDR');
    r.remote_ip_prefix = p.text;
    if (r.ethertype !== `IPv${p.version}`)
      throw badRequest(
        `Conflicting value ethertype ${r.ethertype} for CIDR ${p.text}`,
        'SecurityGroupRuleParameterConflict',
      );
  }
  if (r.protocol !== null && IPV6_ONLY_PROTOCOLS.includes(r.protocol) && r.ethertype === 'IPv4')
    throw badRequest(
      `Invalid ethertype ${r.ethertype} for protocol ${r.protocol}.`,
      'SecurityGroupEthertypeConflictWithProtocol',
    );
  const remotes = [r.remote_ip_prefix, r.remote_group_id, r.remote_address_group_id ?? null].filter(
    (x) => x !== null && x !== '',
  );
  if (remotes.length > 1)
    throw badRequest(
      'Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided.',
      'SecurityGroupMultipleRemoteEntites',
    );
}

function validatePortRange(r: RuleInput): void {
  if (!isRuleKey(r, 'port_range_min') && !isRuleKey(r, 'port_range_max')) return;
  if (r.protocol === null)
    throw badRequest(
      'Must also specify protocol if port range is given.',
      'SecurityGroupProtocolRequiredWithPorts',
    );
  const num = protocolNumber(r.protocol);
  if (num !== null && (PORT_PROTOCOL_NUMBERS.includes(num) || PORT_PROTOCOL_NAMES.includes(r.protocol))) {
    if (r.port_range_min === 0 || r.port_range_max === 0)
      throw badRequest('Invalid value for port 0', 'SecurityGroupInvalidPortValue');
    if (r.port_range_min === null || r.port_range_max === null || r.port_range_min > r.port_range_max)
      throw badRequest(
        'For TCP/UDP protocols, port_range_min must be <= port_range_max',
        'SecurityGroupInvalidPortRange',
      );
  } else if (num === 1 || num === 58) {
    for (const [attr, field] of [
      ['port_range_min', 'type'],
      ['port_range_max', 'code'],
    ] as const) {
      const v = r[attr];
      if (v !== null && !(v >= 0 && v <= 255))
        throw badRequest(
          `Invalid value for ICMP ${field} (${attr}) ${v}. It must be 0 to 255.`,
          'SecurityGroupInvalidIcmpValue',
        );
    }
    if (r.port_range_min === null && r.port_range_max !== null)
      throw badRequest(
        `ICMP code (port-range-max) ${r.port_range_max} is provided but ICMP type (port-range-min) is missing.`,
        'SecurityGroupMissingIcmpType',
      );
  } else {
    throw badRequest(
      `Ports cannot be specified for protocol ${num}. Ports are only supported for ${PORT_PROTOCOL_NAMES.map((p) => p.toUpperCase()).join(', ')}.`,
      'SecurityGroupInvalidProtocolForPort',
    );
  }
}

/**
 * The rule's identity for duplicate detection (Neutron's _rule_to_key): protocol compared by number, the
 * all-addresses prefixes equal to no prefix. Stored with a unique key per group.
 */
export function dedupKey(r: RuleInput): string {
  const none = '+';
  const prefix =
    r.remote_ip_prefix === null || r.remote_ip_prefix === '0.0.0.0/0' || r.remote_ip_prefix === '::/0'
      ? none
      : r.remote_ip_prefix;
  const proto = protocolNumber(r.protocol, r.ethertype);
  return [
    r.direction,
    r.ethertype,
    r.port_range_max ?? none,
    r.port_range_min ?? none,
    proto ?? none,
    r.remote_group_id ?? none,
    prefix,
  ].join('_');
}

function ruleRow(r: RuleInput, id: string, now: number): Record<string, unknown> {
  return {
    id,
    project_id: r.project_id,
    security_group_id: r.security_group_id,
    direction: r.direction,
    ethertype: r.ethertype,
    protocol: r.protocol,
    port_range_min: r.port_range_min,
    port_range_max: r.port_range_max,
    remote_ip_prefix: r.remote_ip_prefix,
    remote_group_id: r.remote_group_id,
    dedup_key: dedupKey(r),
    ...standardColumns(now, r.description),
  };
}

/** The rules every group starts with: egress anywhere; the default group also lets its members in. */
function templateRules(groupId: string, projectId: string, isDefault: boolean): RuleInput[] {
  const rules: RuleInput[] = [];
  const directions: ('ingress' | 'egress')[] = isDefault ? ['egress', 'ingress'] : ['egress'];
  for (const direction of directions)
    for (const ethertype of ['IPv4', 'IPv6'] as const)
      rules.push({
        project_id: projectId,
        security_group_id: groupId,
        direction,
        ethertype,
        protocol: null,
        port_range_min: null,
        port_range_max: null,
        remote_ip_prefix: null,
        remote_group_id: direction === 'ingress' ? groupId : null,
      });
  return rules;
}

async function insertGroup(
  trx: Knex,
  g: { id: string; projectId: string; name: string; description: string; stateful: boolean },
  now: number,
  isDefault: boolean,
): Promise<void> {
  await trx(GROUPS).insert({
    id: g.id,
    project_id: g.projectId,
    name: g.name,
    stateful: g.stateful,
    ...standardColumns(now, g.description),
  });
  await trx(RULES).insert(templateRules(g.id, g.projectId, isDefault).map((r) => ruleRow(r, newUuid(), now)));
}

// ---------------------------------------------------------------------------------------------------------
// The default group

/**
 * The project's `default` group, created on first use. Two first uses at once: each builds a group, one of them
 * wins the project's row in default_security_group (INSERT IGNORE waits for the other transaction), the loser
 * drops its own group and returns the winner's.
 */
export async function ensureDefaultGroup(db: Knex, projectId: string, now: number): Promise<string> {
  return inTransaction(db, async (trx) => {
    const existing = (await trx(DEFAULTS).where({ project_id: projectId }).first()) as
      { security_group_id: string } | undefined;
    if (existing) return existing.security_group_id;
    const id = newUuid();
    const group = { id, projectId, name: 'default', description: DEFAULT_SG_DESCRIPTION, stateful: true };
    await insertGroup(trx, group, now, true);
    await trx(DEFAULTS)
      .insert({ project_id: projectId, security_group_id: id })
      .onConflict('project_id')
      .ignore();
    const q = trx(DEFAULTS).where({ project_id: projectId });
    // A locking read sees the latest commit, not this transaction's snapshot; a shared lock, because every
    // loser holds one already from its ignored insert (an exclusive one would deadlock the losers).
    const winner = (await (isSqlite(trx) ? q : q.forShare()).first()) as { security_group_id: string };
    if (winner.security_group_id !== id) await trx(GROUPS).where({ id }).delete();
    return winner.security_group_id;
  });
}

/** The ids of the groups that are their project's default group. */
async function defaultGroupIds(db: Knex, groupIds: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  const rows = await inChunks(
    groupIds,
    (part) =>
      db(DEFAULTS).whereIn('security_group_id', part).select('security_group_id') as Promise<
        { security_group_id: string }[]
      >,
  );
  for (const r of rows) out.add(r.security_group_id);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Groups

const visibleToCaller = (caller: Caller, projectId: string) =>
  caller.isAdmin || projectId === caller.projectId;

export async function getVisibleGroup(db: Knex, caller: Caller, id: string): Promise<GroupRow> {
  const row = (await db(GROUPS).where({ id }).first()) as GroupRow | undefined;
  if (!row || !visibleToCaller(caller, row.project_id)) throw groupNotFound(id);
  return row;
}

/** Full views of these groups (rules embedded, tags). */
export async function groupViews(db: Knex, rows: GroupRow[]): Promise<Record<string, unknown>[]> {
  const ids = rows.map((r) => r.id);
  const rules = new Map<string, Record<string, unknown>[]>(ids.map((id) => [id, []]));
  const defaults = await defaultGroupIds(db, ids);
  const ruleRows = await inChunks(
    ids,
    (part) =>
      db(RULES).whereIn('security_group_id', part).orderBy(['created_at', 'id']) as Promise<RuleRow[]>,
  );
  for (const r of ruleRows)
    rules.get(r.security_group_id)?.push(ruleView(r, defaults.has(r.security_group_id)));
  const tags = await loadTags(db, TAG_TYPE, ids);
  return rows.map((r) => groupView(r, rules.get(r.id) ?? [], tags.get(r.id) ?? []));
}

/** Groups the caller may see (admin: all). */
export function visibleGroups(db: Knex, caller: Caller): Knex.QueryBuilder {
  const q = db(GROUPS).select('*');
  if (!caller.isAdmin) q.where({ project_id: caller.projectId });
  return q;
}

export interface GroupCreate {
  projectId: string;
  name?: string;
  description?: string;
  stateful?: boolean;
  tags?: unknown;
}

function checkStateful(v: boolean | undefined): void {
  // The host firewall is stateful only (conntrack); Neutron's stateless groups need a different datapath.
  if (v === false)
    throw badRequest(
      'Invalid input for operation: stateless security groups are not supported.',
      'InvalidInput',
    );
}

/** Creates groups (one request, bulk or not: all or nothing); returns their ids. */
export async function createGroups(db: Knex, items: GroupCreate[], now: number): Promise<string[]> {
  for (const g of items) checkStateful(g.stateful);
  const tags = items.map((g) => (g.tags === undefined ? [] : validateTags(g.tags, 'security_group')));
  return withRetry(db, async (trx) => {
    const perProject = new Map<string, number>();
    for (const g of items) perProject.set(g.projectId, (perProject.get(g.projectId) ?? 0) + 1);
    for (const [projectId, n] of perProject) {
      // As Neutron: the project's default group exists before any other.
      await ensureDefaultGroup(trx, projectId, now);
      await checkQuota(trx, projectId, 'security_group', n);
      await checkQuota(trx, projectId, 'security_group_rule', 2 * n);
    }
    const ids: string[] = [];
    for (const [i, g] of items.entries()) {
      const id = newUuid();
      await insertGroup(
        trx,
        { id, projectId: g.projectId, name: g.name ?? '', description: g.description ?? '', stateful: true },
        now,
        false,
      );
      if (tags[i].length) await replaceTags(trx, TAG_TYPE, id, tags[i]);
      ids.push(id);
    }
    return ids;
  });
}

export async function updateGroup(
  db: Knex,
  caller: Caller,
  id: string,
  attrs: { name?: string; description?: string; stateful?: boolean },
  now: number,
  checkRevision: (current: number | string) => void,
): Promise<void> {
  checkStateful(attrs.stateful);
  await withRetry(db, async (trx) => {
    const row = await getVisibleGroup(trx, caller, id);
    checkRevision(row.revision_number);
    if (row.name === 'default' && attrs.name !== undefined)
      throw conflict('SecurityGroupCannotUpdateDefault', 'Updating default security group not allowed.');
    const patch: Record<string, unknown> = {};
    if (attrs.name !== undefined) patch.name = attrs.name;
    if (attrs.description !== undefined) patch.description = attrs.description;
    if (Object.keys(patch).length) await trx(GROUPS).where({ id }).update(patch);
    await bumpRevision(trx, GROUPS, id, now);
  });
}

const isForeignKeyViolation = (err: unknown): boolean => {
  const e = err as { code?: string; message?: string };
  return (
    e?.code === 'ER_ROW_IS_REFERENCED_2' ||
    e?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY' ||
    /FOREIGN KEY constraint failed/.test(e?.message ?? '')
  );
};

export async function deleteGroup(db: Knex, caller: Caller, id: string): Promise<void> {
  try {
    await withRetry(db, async (trx) => {
      const row = await getVisibleGroup(trx, caller, id);
      if (await trx(BINDINGS).where({ security_group_id: id }).first()) throw inUse(id);
      if (row.name === 'default' && !caller.isAdmin)
        throw conflict(
          'SecurityGroupCannotRemoveDefault',
          'Insufficient rights for removing default security group.',
        );
      await deleteTags(trx, TAG_TYPE, [id]);
      // Rules (its own and those naming it as remote) and the default mapping go by cascade.
      await trx(RULES).where({ security_group_id: id }).orWhere({ remote_group_id: id }).delete();
      await trx(GROUPS).where({ id }).delete();
    });
  } catch (err) {
    // A port bound the group between our check and the delete: the binding's foreign key refuses.
    if (isForeignKeyViolation(err)) throw inUse(id);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Rules

/** Rules the caller may see: its own, and every rule of its groups (admin: all). */
export function visibleRules(db: Knex, caller: Caller): Knex.QueryBuilder {
  const q = db(RULES).select(`${RULES}.*`);
  if (!caller.isAdmin)
    q.where((w) =>
      w
        .where(`${RULES}.project_id`, caller.projectId)
        .orWhereIn(
          `${RULES}.security_group_id`,
          db(GROUPS).select('id').where({ project_id: caller.projectId }),
        ),
    );
  return q;
}

export async function ruleViews(db: Knex, rows: RuleRow[]): Promise<Record<string, unknown>[]> {
  const defaults = await defaultGroupIds(db, [...new Set(rows.map((r) => r.security_group_id))]);
  return rows.map((r) => ruleView(r, defaults.has(r.security_group_id)));
}

export async function getVisibleRule(db: Knex, caller: Caller, id: string): Promise<RuleRow> {
  const row = (await visibleRules(db, caller).where(`${RULES}.id`, id).first()) as RuleRow | undefined;
  if (!row) throw ruleNotFound(id);
  return row;
}

async function existingDuplicate(trx: Knex, r: RuleInput): Promise<string | null> {
  const hit = (await trx(RULES)
    .where({ security_group_id: r.security_group_id, dedup_key: dedupKey(r) })
    .first('id')) as { id: string } | undefined;
  return hit?.id ?? null;
}

const ruleExists = (id: string) =>
  conflict('SecurityGroupRuleExists', `Security group rule already exists. Rule id is ${id}.`);

/**
 * Creates rules (a bulk request is all or nothing and names one group, as Neutron's native bulk create).
 * `callerIsAdmin` lets a rule go into (or name as remote) another project's group.
 */
export async function createRules(
  db: Knex,
  callerIsAdmin: boolean,
  rules: RuleInput[],
  now: number,
): Promise<string[]> {
  for (const r of rules) normalizeRule(r);
  if (rules.length > 1) {
    if (new Set(rules.map((r) => r.security_group_id)).size > 1)
      throw badRequest(
        'Only allowed to update rules for one security profile at a time',
        'SecurityGroupNotSingleGroupRules',
      );
    if (new Set(rules.map((r) => r.project_id)).size > 1)
      throw badRequest(
        'Multiple project_ids in bulk security group rule create not allowed',
        'SecurityGroupRulesNotSingleProject',
      );
    const keys = rules.map(dedupKey);
    if (new Set(keys).size !== keys.length)
      throw conflict('DuplicateSecurityGroupRuleInPost', 'Duplicate Security Group Rule in POST.');
  }
  try {
    return await withRetry(
      db,
      async (trx) => {
        const usable = async (groupId: string, projectId: string) => {
          const q = trx(GROUPS).where({ id: groupId });
          // Lock the group against a concurrent delete while its rule goes in.
          const g = (await (isSqlite(trx) ? q : q.forShare()).first()) as GroupRow | undefined;
          if (!g || !(callerIsAdmin || g.project_id === projectId)) throw groupNotFound(groupId);
        };
        for (const r of rules) {
          if (r.remote_address_group_id)
            throw notFound(
              'AddressGroupNotFound',
              `Address group ${r.remote_address_group_id} could not be found.`,
            );
          if (r.remote_group_id) await usable(r.remote_group_id, r.project_id);
          await usable(r.security_group_id, r.project_id);
          const dup = await existingDuplicate(trx, r);
          if (dup) throw ruleExists(dup);
        }
        await checkQuota(trx, rules[0].project_id, 'security_group_rule', rules.length);
        const ids: string[] = [];
        for (const r of rules) {
          const id = newUuid();
          await trx(RULES).insert(ruleRow(r, id, now));
          ids.push(id);
        }
        // A rule change is a change of its group (Neutron's revises_on_change).
        await bumpRevision(trx, GROUPS, rules[0].security_group_id, now);
        return ids;
      },
      { retryable: () => false },
    );
  } catch (err) {
    // Lost the race against an identical rule: report the winner as Neutron reports any duplicate.
    if (isDuplicateKey(err)) {
      for (const r of rules) {
        const dup = await existingDuplicate(db, r);
        if (dup) throw ruleExists(dup);
      }
    }
    throw err;
  }
}

export async function deleteRule(db: Knex, caller: Caller, id: string, now: number): Promise<void> {
  await withRetry(db, async (trx) => {
    const row = await getVisibleRule(trx, caller, id);
    await trx(RULES).where({ id }).delete();
    await bumpRevision(trx, GROUPS, row.security_group_id, now);
  });
}
