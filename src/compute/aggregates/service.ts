/**
 * Host aggregates, as Nova's AggregateAPI: an `availability_zone` metadata key puts the member hosts in that
 * zone (hosts.availability_zone is rewritten in the same transaction, so every reader sees one answer), and a
 * host may not sit in two aggregates with different zones.
 */
import type { Knex } from 'knex';
import { isPlacementPolicy, PLACEMENT_POLICIES } from '../../scheduler/filters.js';
import { BadRequest, Conflict, NotFound } from '../../common/errors.js';
import { newUuid } from '../../common/ids.js';
import { isDuplicateKey } from '../../db/columns.js';

export interface Aggregate {
  id: number;
  uuid: string;
  name: string;
  hosts: string[];
  metadata: Record<string, string>;
  createdAt: number;
  updatedAt: number | null;
}

const AZ = 'availability_zone';

const notFound = (id: number | string) => new NotFound(`Aggregate ${id} could not be found.`);

export function parseAggregateId(id: string): number {
  // any integer, as Nova's validate_integer: -1 is well formed (and then not found)
  if (!/^-?\d+$/.test(id)) throw new BadRequest(`Invalid input received: id must be an integer.`);
  return Number(id);
}

async function load(db: Knex, rows: Record<string, unknown>[]): Promise<Aggregate[]> {
  const ids = rows.map((r) => Number(r.id));
  const hosts = ids.length
    ? await db('aggregate_hosts as ah')
        .join('hosts as h', 'h.id', 'ah.host_id')
        .whereIn('ah.aggregate_id', ids)
        .orderBy('h.hostname')
        .select('ah.aggregate_id', 'h.hostname')
    : [];
  const meta = ids.length ? await db('aggregate_metadata').whereIn('aggregate_id', ids).orderBy('key') : [];
  return rows.map((r) => {
    const id = Number(r.id);
    return {
      id,
      uuid: String(r.uuid),
      name: String(r.name),
      hosts: hosts.filter((h) => Number(h.aggregate_id) === id).map((h) => String(h.hostname)),
      metadata: Object.fromEntries(
        meta.filter((m) => Number(m.aggregate_id) === id).map((m) => [String(m.key), String(m.value)]),
      ),
      createdAt: Number(r.created_at),
      updatedAt: r.updated_at === null || r.updated_at === undefined ? null : Number(r.updated_at),
    };
  });
}

export async function listAggregates(db: Knex): Promise<Aggregate[]> {
  return load(db, await db('aggregates').orderBy('id'));
}

export async function getAggregate(db: Knex, id: number): Promise<Aggregate> {
  const row = await db('aggregates').where({ id }).first();
  if (!row) throw notFound(id);
  return (await load(db, [row]))[0];
}

function checkMetadataValues(metadata: Record<string, string | null>, fail: (reason: string) => Error): void {
  const p = metadata.placement_policy;
  if (p !== undefined && p !== null && !isPlacementPolicy(p)) {
    throw fail(`placement_policy must be one of ${PLACEMENT_POLICIES.join(', ')}`);
  }
  if (AZ in metadata && !metadata[AZ]) throw fail('does not support empty named availability zone');
}

/** Zones other aggregates give these hosts (Nova's is_safe_to_update_az). */
async function conflictingZones(
  trx: Knex,
  hostIds: number[],
  aggregateId: number,
  zone: string,
): Promise<string[]> {
  if (hostIds.length === 0) return [];
  const rows = await trx('aggregate_hosts as ah')
    .join('aggregate_metadata as m', 'm.aggregate_id', 'ah.aggregate_id')
    .whereIn('ah.host_id', hostIds)
    .andWhere('m.key', AZ)
    .andWhereNot('ah.aggregate_id', aggregateId)
    .distinct('m.value');
  return rows.map((r) => String(r.value)).filter((z) => z !== zone);
}

async function instancesOn(trx: Knex, hostIds: number[]): Promise<number> {
  if (hostIds.length === 0) return 0;
  const [{ n }] = await trx('instances').whereIn('host_id', hostIds).count({ n: '*' });
  return Number(n);
}

/** Rewrites the zone of these hosts from their aggregates: the first zone found, else the default. */
async function refreshZones(trx: Knex, hostIds: number[], defaultZone: string, now: number): Promise<void> {
  for (const hostId of hostIds) {
    const z = await trx('aggregate_hosts as ah')
      .join('aggregate_metadata as m', 'm.aggregate_id', 'ah.aggregate_id')
      .where({ 'ah.host_id': hostId, 'm.key': AZ })
      .orderBy('ah.aggregate_id')
      .first('m.value');
    await trx('hosts')
      .where({ id: hostId })
      .update({ availability_zone: z ? String(z.value) : defaultZone, updated_at: now });
  }
}

async function memberIds(trx: Knex, aggregateId: number): Promise<number[]> {
  return (
    await trx('aggregate_hosts').where({ aggregate_id: aggregateId }).forUpdate().select('host_id')
  ).map((r) => Number(r.host_id));
}

/** Applies metadata changes (null deletes a key) after the zone checks; shared by update and set_metadata. */
async function applyMetadata(
  trx: Knex,
  agg: Aggregate,
  metadata: Record<string, string | null>,
  fail: (reason: string) => Error,
): Promise<number[]> {
  checkMetadataValues(metadata, fail);
  const hostIds = await memberIds(trx, agg.id);
  if (AZ in metadata) {
    const zone = metadata[AZ] as string;
    const other = await conflictingZones(trx, hostIds, agg.id, zone);
    if (other.length)
      throw fail(`One or more hosts already in availability zone(s) ${JSON.stringify(other)}`);
    if (agg.metadata[AZ] !== zone && (await instancesOn(trx, hostIds)) > 0) {
      throw fail('One or more hosts contain instances in this zone');
    }
  }
  for (const [key, value] of Object.entries(metadata)) {
    await trx('aggregate_metadata').where({ aggregate_id: agg.id, key }).del();
    if (value !== null) await trx('aggregate_metadata').insert({ aggregate_id: agg.id, key, value });
  }
  return hostIds;
}

async function locked(trx: Knex, id: number): Promise<Aggregate> {
  const row = await trx('aggregates').where({ id }).forUpdate().first();
  if (!row) throw notFound(id);
  return (await load(trx, [row]))[0];
}

export async function createAggregate(
  db: Knex,
  name: string,
  zone: string | null,
  now: number,
): Promise<Aggregate> {
  try {
    const id = await db.transaction(async (trx) => {
      const [newId] = await trx('aggregates').insert({
        uuid: newUuid(),
        name,
        created_at: now,
        updated_at: null,
      });
      const row = await trx('aggregates').where({ name }).first();
      const aggId = Number(row?.id ?? newId);
      if (zone) await trx('aggregate_metadata').insert({ aggregate_id: aggId, key: AZ, value: zone });
      return aggId;
    });
    return getAggregate(db, id);
  } catch (err) {
    if (isDuplicateKey(err)) throw new Conflict(`Aggregate ${name} already exists.`);
    throw err;
  }
}

export async function updateAggregate(
  db: Knex,
  id: number,
  changes: { name?: string; availability_zone?: string | null },
  defaultZone: string,
  now: number,
): Promise<Aggregate> {
  const fail = (reason: string) => new BadRequest(`Cannot update aggregate ${id}. Reason: ${reason}.`);
  try {
    await db.transaction(async (trx) => {
      const agg = await locked(trx, id);
      if (changes.name !== undefined) await trx('aggregates').where({ id }).update({ name: changes.name });
      if ('availability_zone' in changes) {
        const hostIds = await applyMetadata(trx, agg, { [AZ]: changes.availability_zone ?? null }, fail);
        await refreshZones(trx, hostIds, defaultZone, now);
      }
      await trx('aggregates').where({ id }).update({ updated_at: now });
    });
  } catch (err) {
    if (isDuplicateKey(err)) throw new Conflict(`Aggregate ${changes.name} already exists.`);
    throw err;
  }
  return getAggregate(db, id);
}

export async function setAggregateMetadata(
  db: Knex,
  id: number,
  metadata: Record<string, string | null>,
  defaultZone: string,
  now: number,
): Promise<Aggregate> {
  const fail = (reason: string) =>
    new BadRequest(`Cannot update metadata of aggregate ${id}. Reason: ${reason}.`);
  await db.transaction(async (trx) => {
    const agg = await locked(trx, id);
    const hostIds = await applyMetadata(trx, agg, metadata, fail);
    if (AZ in metadata) await refreshZones(trx, hostIds, defaultZone, now);
    await trx('aggregates').where({ id }).update({ updated_at: now });
  });
  return getAggregate(db, id);
}

export async function deleteAggregate(db: Knex, id: number): Promise<void> {
  await db.transaction(async (trx) => {
    const agg = await locked(trx, id);
    if (agg.hosts.length > 0) {
      throw new BadRequest(
        `Invalid aggregate action delete for aggregate ${id}. Reason: Host aggregate is not empty.`,
      );
    }
    await trx('aggregates').where({ id }).del();
  });
}

export async function addAggregateHost(
  db: Knex,
  id: number,
  hostname: string,
  defaultZone: string,
  now: number,
): Promise<Aggregate> {
  const fail = (reason: string) => new Conflict(`Cannot add host to aggregate ${id}. Reason: ${reason}.`);
  await db.transaction(async (trx) => {
    const host = await trx('hosts').where({ hostname }).forUpdate().first();
    if (!host) throw new NotFound(`Compute host ${hostname} could not be found.`);
    const hostId = Number(host.id);
    const agg = await locked(trx, id);
    if (agg.hosts.includes(hostname)) throw new Conflict(`Aggregate ${id} already has host ${hostname}.`);
    const zone = agg.metadata[AZ];
    if (zone !== undefined) {
      const other = await conflictingZones(trx, [hostId], id, zone);
      if (other.length)
        throw fail(`One or more hosts already in availability zone(s) ${JSON.stringify(other)}`);
      const instances = await instancesOn(trx, [hostId]);
      if (String(host.availability_zone) !== zone && instances > 0) {
        throw fail(
          `The host cannot be added to the aggregate as the availability zone of the host would change from '${String(host.availability_zone)}' to '${zone}' but the host already has ${instances} instance(s).${MOVE_ADVICE}`,
        );
      }
    }
    await trx('aggregate_hosts').insert({ aggregate_id: id, host_id: hostId });
    await refreshZones(trx, [hostId], defaultZone, now);
  });
  return getAggregate(db, id);
}

/** The end of Nova's refusal to move a host with instances between zones. */
const MOVE_ADVICE =
  ' Changing the AZ of an existing instance is not supported by this action. Move the instances away from this host then try again. If you need to move the instances between AZs then you can use shelve_offload and unshelve to achieve this';

export async function removeAggregateHost(
  db: Knex,
  id: number,
  hostname: string,
  defaultZone: string,
  now: number,
): Promise<Aggregate> {
  await db.transaction(async (trx) => {
    const host = await trx('hosts').where({ hostname }).forUpdate().first();
    const agg = await trx('aggregates').where({ id }).forUpdate().first();
    const member =
      host &&
      agg &&
      (await trx('aggregate_hosts')
        .where({ aggregate_id: id, host_id: Number(host.id) })
        .first());
    if (!host || !agg || !member) throw new NotFound(`Cannot remove host ${hostname} in aggregate ${id}`);
    const hostId = Number(host.id);
    const before = String(host.availability_zone);
    await trx('aggregate_hosts').where({ aggregate_id: id, host_id: hostId }).del();
    await refreshZones(trx, [hostId], defaultZone, now);
    const after = String((await trx('hosts').where({ id: hostId }).first()).availability_zone);
    const instances = await instancesOn(trx, [hostId]);
    if (after !== before && instances > 0) {
      throw new Conflict(
        `Invalid aggregate action delete for aggregate ${id}. Reason: The host cannot be removed from the aggregate as the availability zone of the host would change from '${before}' to '${after}' but the host already has ${instances} instance(s).${MOVE_ADVICE}.`,
      );
    }
  });
  return getAggregate(db, id);
}
