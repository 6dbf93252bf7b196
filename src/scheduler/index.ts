/**
 * The scheduler's database entry point (design §8): read the cluster in a handful of queries, filter, weigh,
 * and record the claim (an `instances` row) in the same transaction, so that concurrent boots from any
 * number of API processes never overcommit a host.
 *
 * Locking: the candidate `hosts` rows are locked (SELECT ... FOR UPDATE, id order, so two schedulers never
 * deadlock on them) before anything else is read, and the request's server group row before them; the
 * transaction is READ COMMITTED on MariaDB, so the usage read sees every claim committed by whoever held
 * the locks before (and no plain SELECT precedes the locks, so even REPEATABLE READ would see them).
 * Decisions whose candidate sets overlap are therefore serialized; those on disjoint sets (other zones, a
 * forced host) run in parallel. SQLite runs one transaction at a time per process; across processes a
 * stale write fails with SQLITE_BUSY and is retried.
 */
import type { Knex } from 'knex';
import { isDeadlock } from '../db/transactions.js';
import type { Config } from '../common/config/options.js';
import { fromJson, isDuplicateKey, toBool } from '../db/columns.js';
import { dbKind } from '../db/connection.js';
import {
  filterHosts,
  isPlacementPolicy,
  type Allocation,
  type GroupPolicy,
  type HostCandidate,
  type PlacementPolicy,
  type RequestSpec,
} from './filters.js';
import { weighHosts } from './weighers.js';

export interface ScheduleRequest {
  serverUuid: string; // the claim is an `instances` row with this uuid
  projectId: string;
  vcpus: number;
  memoryMb: number;
  rootGb: number;
  availabilityZone: string | null; // requested zone, null = any
  forcedHost: string | null; // hostname an admin forced ("zone:host" already split by the caller)
  groupUuid: string | null; // server group from the scheduler hint (members are in server_group_members)
  imageProperties: Record<string, unknown>;
  ignoreHosts?: number[]; // host ids to skip (reschedule)
}

export interface Placement {
  hostId: number;
  hostname: string;
  zone: string;
}

/** Nova's NoValidHost: the boot fails with this message as the server's fault. */
export class NoValidHost extends Error {
  constructor(
    reason = 'There are not enough hosts available.',
    /** The filter that removed the last host, for the log (not shown to users, as in Nova). */
    readonly filter: string | null = null,
  ) {
    super(`No valid host was found. ${reason}`);
    this.name = 'NoValidHost';
  }
}

export function allocationOf(cfg: Config): Allocation {
  return {
    cpuRatio: cfg.scheduler.cpu_allocation_ratio,
    ramRatio: cfg.scheduler.ram_allocation_ratio,
    diskRatio: cfg.scheduler.disk_allocation_ratio,
    reservedMemoryMb: cfg.scheduler.reserved_host_memory_mb,
    reservedCpus: cfg.scheduler.reserved_host_cpus,
  };
}

/** Per-process round-robin state (weighers.ts): a decision counter, and when each host was last chosen. */
let decisions = 0;
const lastChosen = new Map<number, number>();

const num = (v: unknown): number => {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
};

interface DiskLike {
  sizeGb?: unknown;
}

/** What an instance without a servers row (placed by other code paths) claims, from its domain spec. */
function specUsage(text: unknown): { vcpus: number; memoryMb: number; diskGb: number } {
  const spec = fromJson<{ vcpus?: unknown; memoryMb?: unknown; disks?: unknown }>(text, {});
  const disks = Array.isArray(spec.disks) ? (spec.disks as DiskLike[]) : [];
  return {
    vcpus: num(spec.vcpus),
    memoryMb: num(spec.memoryMb),
    diskGb: disks.reduce((s, d) => s + num(d?.sizeGb), 0),
  };
}

const HOST_COLUMNS = [
  'id',
  'hostname',
  'availability_zone',
  'enabled',
  'forced_down',
  'revoked_at',
  'inventory',
  'last_report_at',
];

/**
 * Everything the filters and weighers need, in at most five queries whatever the cluster's size: the
 * (locked) hosts, their usage (one aggregate; the spec fallback only for instances without a servers row),
 * aggregate placement policies, and the group members' hosts.
 */
async function loadCandidates(
  trx: Knex,
  cfg: Config,
  req: ScheduleRequest,
  group: { uuid: string } | null,
): Promise<{ hosts: HostCandidate[]; membersPlaced: number }> {
  const q = trx('hosts').select(HOST_COLUMNS).orderBy('id').forUpdate();
  // Narrow what is locked when the request already narrows the choice (an indexed hostname for forced hosts).
  if (req.forcedHost !== null) q.where({ hostname: req.forcedHost });
  else if (req.availabilityZone !== null) q.where({ availability_zone: req.availabilityZone });
  const rows = (await q) as Record<string, unknown>[];
  if (rows.length === 0) return { hosts: [], membersPlaced: 0 };
  const ids = rows.map((r) => Number(r.id));
  const narrowed = req.forcedHost !== null || req.availabilityZone !== null;
  const onHosts = <T extends Knex.QueryBuilder>(qb: T, column: string): T =>
    (narrowed ? qb.whereIn(column, ids) : qb.whereNotNull(column)) as T;

  const usageRows = (await onHosts(
    trx('instances as i')
      .leftJoin('servers as s', 's.uuid', 'i.uuid')
      .groupBy('i.host_id')
      .select('i.host_id')
      .count({ n: '*' })
      .sum({ vcpus: 's.vcpus', memory_mb: 's.memory_mb', root_gb: 's.root_gb' })
      .select(trx.raw('SUM(CASE WHEN s.uuid IS NULL THEN 1 ELSE 0 END) AS orphans')),
    'i.host_id',
  )) as Record<string, unknown>[];
  const used = new Map<number, HostCandidate['used']>();
  const orphanHosts: number[] = [];
  for (const r of usageRows) {
    const id = Number(r.host_id);
    used.set(id, {
      vcpus: num(r.vcpus),
      memoryMb: num(r.memory_mb),
      diskGb: num(r.root_gb),
      instances: num(r.n),
    });
    if (num(r.orphans) > 0) orphanHosts.push(id);
  }
  if (orphanHosts.length > 0) {
    const orphans = await trx('instances as i')
      .leftJoin('servers as s', 's.uuid', 'i.uuid')
      .whereNull('s.uuid')
      .whereIn('i.host_id', orphanHosts)
      .select('i.host_id', 'i.spec');
    for (const o of orphans) {
      const u = used.get(Number(o.host_id));
      if (!u) continue;
      const s = specUsage(o.spec);
      u.vcpus += s.vcpus;
      u.memoryMb += s.memoryMb;
      u.diskGb += s.diskGb;
    }
  }

  // A host in several aggregates with different policies follows the one with the lowest id.
  const policyRows = (await onHosts(
    trx('aggregate_hosts as ah')
      .join('aggregate_metadata as m', 'm.aggregate_id', 'ah.aggregate_id')
      .where('m.key', 'placement_policy')
      .orderBy('ah.aggregate_id')
      .select('ah.host_id', 'm.value'),
    'ah.host_id',
  )) as Record<string, unknown>[];
  const policyOf = new Map<number, PlacementPolicy>();
  for (const r of policyRows) {
    const id = Number(r.host_id);
    if (!policyOf.has(id) && isPlacementPolicy(r.value)) policyOf.set(id, r.value);
  }
  const clusterPolicy: PlacementPolicy = isPlacementPolicy(cfg.scheduler.placement_policy)
    ? cfg.scheduler.placement_policy
    : 'performance';

  // Members' hosts: any host (affinity must follow members even outside the candidates).
  const members = new Map<number, number>();
  let membersPlaced = 0;
  if (group) {
    const rows = await trx('server_group_members as g')
      .join('instances as i', 'i.uuid', 'g.server_uuid')
      .where('g.group_uuid', group.uuid)
      .whereNot('g.server_uuid', req.serverUuid)
      .whereNotNull('i.host_id')
      .groupBy('i.host_id')
      .select('i.host_id')
      .count({ n: '*' });
    for (const r of rows as Record<string, unknown>[]) {
      members.set(Number(r.host_id), num(r.n));
      membersPlaced += num(r.n);
    }
  }

  const hosts = rows.map((r): HostCandidate => ({
    id: Number(r.id),
    hostname: String(r.hostname),
    zone: String(r.availability_zone),
    enabled: toBool(r.enabled),
    forcedDown: toBool(r.forced_down),
    revokedAt: r.revoked_at === null || r.revoked_at === undefined ? null : Number(r.revoked_at),
    lastReportAt:
      r.last_report_at === null || r.last_report_at === undefined ? null : Number(r.last_report_at),
    inventory: fromJson<Record<string, unknown>>(r.inventory, {}),
    used: used.get(Number(r.id)) ?? { vcpus: 0, memoryMb: 0, diskGb: 0, instances: 0 },
    groupMembers: members.get(Number(r.id)) ?? 0,
    policy: policyOf.get(Number(r.id)) ?? clusterPolicy,
  }));
  return { hosts, membersPlaced };
}

const GROUP_POLICIES: readonly GroupPolicy[] = [
  'affinity',
  'anti-affinity',
  'soft-affinity',
  'soft-anti-affinity',
];

async function lockGroup(
  trx: Knex,
  uuid: string | null,
): Promise<{ uuid: string; policy: GroupPolicy; maxServerPerHost: number | null } | null> {
  if (uuid === null) return null;
  const row = await trx('server_groups').where({ uuid }).forUpdate().first('uuid', 'policy', 'rules');
  // A group deleted since the create was accepted no longer constrains anything (Nova drops the hint too).
  if (!row || !(GROUP_POLICIES as readonly string[]).includes(String(row.policy))) return null;
  const rules = fromJson<Record<string, unknown>>(row.rules, {});
  const max = Number(rules.max_server_per_host);
  return {
    uuid,
    policy: String(row.policy) as GroupPolicy,
    maxServerPerHost: Number.isInteger(max) && max > 0 ? max : null,
  };
}

async function placementOf(trx: Knex, hostId: number): Promise<Placement> {
  const h = await trx('hosts').where({ id: hostId }).first('id', 'hostname', 'availability_zone');
  return { hostId, hostname: String(h?.hostname ?? ''), zone: String(h?.availability_zone ?? '') };
}

async function scheduleOnce(db: Knex, cfg: Config, req: ScheduleRequest, now: number): Promise<Placement> {
  // READ COMMITTED on MariaDB: reads after the locks see the latest claims, and a zone-narrowed lock
  // releases the rows of other zones' hosts at once (REPEATABLE READ would keep every scanned row locked).
  const isolation: Knex.TransactionConfig =
    dbKind(db) === 'mysql' ? { isolationLevel: 'read committed' } : {};
  return db.transaction(async (trx) => {
    const group = await lockGroup(trx, req.groupUuid);
    const { hosts, membersPlaced } = await loadCandidates(trx, cfg, req, group);
    // Idempotent (a task step run twice): read after the locks, so a claim committed meanwhile is seen.
    const existing = await trx('instances').where({ uuid: req.serverUuid }).first('host_id');
    if (existing && existing.host_id !== null && existing.host_id !== undefined)
      return placementOf(trx, Number(existing.host_id));

    const spec: RequestSpec = {
      vcpus: req.vcpus,
      memoryMb: req.memoryMb,
      rootGb: req.rootGb,
      availabilityZone: req.availabilityZone,
      forcedHost: req.forcedHost,
      group: group && { policy: group.policy, maxServerPerHost: group.maxServerPerHost, membersPlaced },
      imageProperties: req.imageProperties,
      ignoreHosts: req.ignoreHosts ?? [],
    };
    const allocation = allocationOf(cfg);
    const passed = filterHosts(hosts, spec, {
      now,
      serviceDownTimeMs: cfg.compute.service_down_time * 1000,
      allocation,
    });
    if (passed.hosts.length === 0) throw new NoValidHost(undefined, passed.rejectedBy);
    const [chosen] = weighHosts(passed.hosts, {
      allocation,
      groupPolicy: group?.policy ?? null,
      lastChosen,
    });

    const placeholderSpec = {
      uuid: req.serverUuid,
      name: '',
      vcpus: req.vcpus,
      memoryMb: req.memoryMb,
      disks: [{ target: 'vda', path: '', format: 'qcow2', sizeGb: req.rootGb }],
      nics: [],
      consoleLog: '',
    };
    if (existing) {
      // An unplaced row (host_id null) is this server's old claim: it becomes the new one.
      await trx('instances')
        .where({ uuid: req.serverUuid })
        .update({ host_id: chosen.id, spec: JSON.stringify(placeholderSpec), updated_at: now });
    } else {
      await trx('instances').insert({
        uuid: req.serverUuid,
        host_id: chosen.id,
        generation: 1,
        desired_power: 'running',
        spec: JSON.stringify(placeholderSpec),
        created_at: now,
        updated_at: now,
      });
    }
    await trx('servers')
      .where({ uuid: req.serverUuid })
      .update({ host_id: chosen.id, availability_zone: chosen.zone, updated_at: now });
    // Noted before commit: a rolled-back claim only skews the next tie-break, never correctness.
    lastChosen.set(chosen.id, decisions++);
    return { hostId: chosen.id, hostname: chosen.hostname, zone: chosen.zone };
  }, isolation);
}

/**
 * Chooses a host and records the claim in ONE transaction: an `instances` row for serverUuid with a
 * placeholder spec (the boot fills in the real one), and servers.host_id / availability_zone (the host's
 * zone). Idempotent: an existing claim for serverUuid is returned as it is. Throws NoValidHost when no host
 * passes the filters.
 */
export async function scheduleAndClaim(
  db: Knex,
  cfg: Config,
  req: ScheduleRequest,
  now: number,
): Promise<Placement> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await scheduleOnce(db, cfg, req, now);
    } catch (err) {
      // A deadlock with another writer of these rows, or the same server claimed twice at once: try again;
      // the retry sees the committed state (and, for the duplicate, returns that claim).
      const retry = isDeadlock(err) || isDuplicateKey(err);
      if (!retry || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 5 * attempt + Math.random() * 10));
    }
  }
}

/** Frees the claim (boot failed / server deleted): deletes the instances row. */
export async function releaseClaim(db: Knex, serverUuid: string): Promise<void> {
  await db('instances').where({ uuid: serverUuid }).delete();
}

export { filterHosts, FILTERS, capacity, type HostCandidate, type RequestSpec } from './filters.js';
export { weighHosts } from './weighers.js';
