import { createHash, timingSafeEqual } from 'node:crypto';
import { withRetry } from '../../db/transactions.js';
import type { Knex } from 'knex';
import { Conflict, Forbidden, NotFound, Unauthorized } from '../../common/errors.js';
import { newSecret, newUuid } from '../../common/ids.js';
import { fromJson, toBool, toJson } from '../../db/columns.js';

export interface Host {
  id: number;
  uuid: string;
  hostname: string;
  hostUuid: string;
  hostIp: string;
  rpcUrl: string;
  rpcSecret: string;
  availabilityZone: string;
  enabled: boolean;
  disabledReason: string | null;
  forcedDown: boolean;
  revokedAt: number | null;
  inventory: Record<string, unknown>;
  domains: Record<string, unknown>[];
  stores: Record<string, unknown>[];
  leaseCounter: number | null;
  lastReportAt: number | null;
  createdAt: number;
}

export function hostFromRow(r: Record<string, unknown>): Host {
  return {
    id: Number(r.id),
    uuid: String(r.uuid),
    hostname: String(r.hostname),
    hostUuid: String(r.host_uuid),
    hostIp: String(r.host_ip),
    rpcUrl: String(r.rpc_url),
    rpcSecret: String(r.rpc_secret),
    availabilityZone: String(r.availability_zone),
    enabled: toBool(r.enabled),
    disabledReason: (r.disabled_reason as string | null) ?? null,
    forcedDown: toBool(r.forced_down),
    revokedAt: r.revoked_at === null || r.revoked_at === undefined ? null : Number(r.revoked_at),
    inventory: fromJson(r.inventory, {}),
    domains: fromJson(r.domains, []),
    stores: fromJson(r.stores, []),
    leaseCounter: r.lease_counter === null || r.lease_counter === undefined ? null : Number(r.lease_counter),
    lastReportAt:
      r.last_report_at === null || r.last_report_at === undefined ? null : Number(r.last_report_at),
    createdAt: Number(r.created_at),
  };
}

/** Host credentials are 256-bit random secrets: a fast hash is enough to keep them out of the database. */
const hashCredential = (credential: string): string => createHash('sha256').update(credential).digest('hex');

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface EnrollRequest {
  enrollment_secret: string;
  hostname: string;
  host_uuid: string;
  host_ip: string;
  rpc_url: string;
  inventory?: Record<string, unknown>;
}

export interface Enrollment {
  host: Host;
  /** The agent presents this on every call to the API. Shown once. */
  credential: string;
  /** The API presents this on every call to the agent. */
  rpcSecret: string;
}

/**
 * Auto-discovery: an agent with the cluster's enrollment secret joins as an enabled compute host and gets a
 * per-host credential. The same machine (same libvirt host_uuid) enrolling again gets fresh credentials; a
 * different machine claiming an enrolled name is refused, and so is a revoked host.
 */
export async function enrollHost(
  db: Knex,
  configuredSecret: string,
  req: EnrollRequest,
  now: number,
): Promise<Enrollment> {
  if (!configuredSecret || !sameSecret(req.enrollment_secret, configuredSecret)) {
    throw new Unauthorized("The enrollment secret is not the cluster's.");
  }
  const credential = newSecret(32);
  const rpcSecret = newSecret(32);
  return db.transaction(async (trx) => {
    const existing = await trx('hosts').where({ hostname: req.hostname }).forUpdate().first();
    const fields = {
      host_ip: req.host_ip,
      rpc_url: req.rpc_url,
      rpc_secret: rpcSecret,
      credential_hash: hashCredential(credential),
      inventory: toJson(req.inventory ?? {}),
      updated_at: now,
    };
    if (existing) {
      const host = hostFromRow(existing);
      if (host.revokedAt !== null)
        throw new Forbidden(`Host ${req.hostname} was revoked; an administrator must delete it first.`);
      if (host.hostUuid !== req.host_uuid) {
        throw new Conflict(
          `Host name ${req.hostname} is enrolled by another machine (host_uuid ${host.hostUuid}).`,
        );
      }
      await trx('hosts').where({ id: host.id }).update(fields);
    } else {
      // Every TEXT column is given: MariaDB does not apply TEXT defaults.
      await trx('hosts').insert({
        ...fields,
        uuid: newUuid(),
        hostname: req.hostname,
        host_uuid: req.host_uuid,
        domains: '[]',
        stores: '[]',
        created_at: now,
      });
    }
    const row = await trx('hosts').where({ hostname: req.hostname }).first();
    return { host: hostFromRow(row), credential, rpcSecret };
  });
}

/** The host a credential belongs to; unknown credentials and revoked hosts are refused. */
export async function authenticateHost(db: Knex, credential: string): Promise<Host> {
  const row = await db('hosts')
    .where({ credential_hash: hashCredential(credential) })
    .first();
  if (!row) throw new Unauthorized('Unknown host credential.');
  const host = hostFromRow(row);
  if (host.revokedAt !== null) throw new Forbidden(`Host ${host.hostname} was revoked.`);
  return host;
}

export interface HostReport {
  inventory: Record<string, unknown>;
  domains: Record<string, unknown>[];
  stores: Record<string, unknown>[];
  lease_counter: number | null;
  /** Where the agent listens now: it may have moved since it enrolled (a restart on another port). */
  rpc_url?: string;
  /** For every peer: the last counter this host read, and how long ago (its own clock) it last changed. */
  peers: { host_id: string; counter: number; changed_ms_ago: number }[];
}

/**
 * Stores a heartbeat. Peer observations are converted to the API's clock by "ms ago" (agents' clocks need
 * not agree), so the HA monitor can ask: has anyone seen host X's lease advance lately?
 */
export async function recordReport(db: Knex, host: Host, report: HostReport, now: number): Promise<void> {
  // retried: the scheduler locks host rows, and the lease rows' foreign keys lock them too (a deadlock is a race)
  await withRetry(db, async (trx) => {
    await trx('hosts')
      .where({ id: host.id })
      .update({
        inventory: toJson(report.inventory),
        domains: toJson(report.domains),
        stores: toJson(report.stores),
        lease_counter: report.lease_counter,
        ...(report.rpc_url ? { rpc_url: report.rpc_url } : {}),
        last_report_at: now,
        updated_at: now,
      });
    if (report.peers.length === 0) return;
    const peers = await trx('hosts')
      .whereIn(
        'uuid',
        report.peers.map((p) => p.host_id),
      )
      .select('id', 'uuid');
    const idOf = new Map(peers.map((p) => [String(p.uuid), Number(p.id)]));
    for (const p of report.peers) {
      const subject = idOf.get(p.host_id);
      if (subject === undefined || subject === host.id) continue;
      const row = {
        observer_id: host.id,
        subject_id: subject,
        counter: p.counter,
        changed_at: now - p.changed_ms_ago,
        reported_at: now,
      };
      await trx('lease_observations').insert(row).onConflict(['observer_id', 'subject_id']).merge();
    }
  });
}

export async function listHosts(db: Knex): Promise<Host[]> {
  return (await db('hosts').orderBy('hostname')).map(hostFromRow);
}

export async function getHost(db: Knex, idOrUuid: string): Promise<Host> {
  const q = db('hosts');
  if (/^\d+$/.test(idOrUuid)) q.where({ id: Number(idOrUuid) });
  else q.where({ uuid: idOrUuid }).orWhere({ hostname: idOrUuid });
  const row = await q.first();
  if (!row) throw new NotFound(`Host ${idOrUuid} could not be found.`);
  return hostFromRow(row);
}

/** A revoked host's credential stops working at once; it cannot re-enroll until an administrator deletes it. */
export async function revokeHost(db: Knex, idOrUuid: string, now: number): Promise<Host> {
  const host = await getHost(db, idOrUuid);
  await db('hosts').where({ id: host.id }).update({ revoked_at: now, updated_at: now });
  return getHost(db, String(host.id));
}

/** What each host says of every other host's lease: subject → observations. */
export async function leaseObservations(
  db: Knex,
): Promise<{ observer: string; subject: string; counter: number; changedAt: number; reportedAt: number }[]> {
  const rows = await db('lease_observations as o')
    .join('hosts as a', 'a.id', 'o.observer_id')
    .join('hosts as b', 'b.id', 'o.subject_id')
    .select('a.hostname as observer', 'b.hostname as subject', 'o.counter', 'o.changed_at', 'o.reported_at');
  return rows.map((r) => ({
    observer: String(r.observer),
    subject: String(r.subject),
    counter: Number(r.counter),
    changedAt: Number(r.changed_at),
    reportedAt: Number(r.reported_at),
  }));
}

/**
 * Nova's service state: `up` while the host reported within downAfterMs ([compute] service_down_time) and is
 * neither forced down nor revoked.
 */
export function hostState(host: Host, now: number, downAfterMs: number): 'up' | 'down' {
  if (host.forcedDown || host.revokedAt !== null || host.lastReportAt === null) return 'down';
  return now - host.lastReportAt <= downAfterMs ? 'up' : 'down';
}

export interface HostStatusUpdate {
  enabled?: boolean;
  disabledReason?: string | null;
  forcedDown?: boolean;
}

/** Sets the scheduling status (Nova's service disabled/disabled_reason) and forced_down of a host. */
export async function setHostStatus(
  db: Knex,
  hostId: number,
  update: HostStatusUpdate,
  now: number,
): Promise<Host> {
  const fields: Record<string, unknown> = { updated_at: now };
  if (update.enabled !== undefined) fields.enabled = update.enabled;
  if (update.disabledReason !== undefined) fields.disabled_reason = update.disabledReason;
  if (update.forcedDown !== undefined) fields.forced_down = update.forcedDown;
  const n = await db('hosts').where({ id: hostId }).update(fields);
  if (n === 0) throw new NotFound(`Host ${hostId} could not be found.`);
  return getHost(db, String(hostId));
}

/**
 * Removes a host's enrollment (Nova's compute service delete): refused with 409 while instances are placed
 * on it; its lease observations and aggregate memberships go with it (FK cascades). The agent's credential
 * dies with the row, and the machine may enroll again afterwards.
 */
export async function deleteHost(db: Knex, hostId: number): Promise<void> {
  await db.transaction(async (trx) => {
    const row = await trx('hosts').where({ id: hostId }).forUpdate().first();
    if (!row) throw new NotFound(`Host ${hostId} could not be found.`);
    const [{ n }] = await trx('instances').where({ host_id: hostId }).count({ n: '*' });
    if (Number(n) > 0) {
      throw new Conflict(
        'Unable to delete compute service that is hosting instances. Migrate or delete the instances first.',
      );
    }
    await trx('lease_observations').where({ observer_id: hostId }).orWhere({ subject_id: hostId }).del();
    await trx('hosts').where({ id: hostId }).del();
  });
}
