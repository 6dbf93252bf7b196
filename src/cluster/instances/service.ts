import type { Knex } from 'knex';
import { Conflict, NotFound } from '../../common/errors.js';
import { fromJson, toJson } from '../../db/columns.js';
import type { DomainSpec } from '../../../host-agent/driver/types.js';

export interface Instance {
  uuid: string;
  hostId: number | null;
  generation: number;
  desiredPower: 'running' | 'stopped';
  spec: DomainSpec;
}

const fromRow = (r: Record<string, unknown>): Instance => ({
  uuid: String(r.uuid),
  hostId: r.host_id === null || r.host_id === undefined ? null : Number(r.host_id),
  generation: Number(r.generation),
  desiredPower: r.desired_power === 'stopped' ? 'stopped' : 'running',
  spec: fromJson(r.spec, {} as DomainSpec),
});

export async function getInstance(db: Knex, uuid: string): Promise<Instance> {
  const row = await db('instances').where({ uuid }).first();
  if (!row) throw new NotFound(`Instance ${uuid} could not be found.`);
  return fromRow(row);
}

/** Records where a VM should run, as the scheduler decided; a new VM starts at generation 1. */
export async function placeInstance(
  db: Knex,
  spec: DomainSpec,
  hostId: number,
  now: number,
): Promise<Instance> {
  await db('instances').insert({
    uuid: spec.uuid,
    host_id: hostId,
    generation: 1,
    desired_power: 'running',
    spec: toJson(spec),
    created_at: now,
    updated_at: now,
  });
  return getInstance(db, spec.uuid);
}

/**
 * Moves a VM to another host (after a live migration, or an evacuation) and bumps its generation in one
 * compare-and-set: a concurrent move of the same VM loses with 409 instead of both "winning".
 */
export async function moveInstance(
  db: Knex,
  uuid: string,
  fromGeneration: number,
  toHostId: number,
  now: number,
): Promise<Instance> {
  const updated = await db('instances')
    .where({ uuid, generation: fromGeneration })
    .update({ host_id: toHostId, generation: fromGeneration + 1, updated_at: now });
  if (updated !== 1) {
    await getInstance(db, uuid);
    throw new Conflict(`Instance ${uuid} changed concurrently (expected generation ${fromGeneration}).`);
  }
  return getInstance(db, uuid);
}

export async function setDesiredPower(
  db: Knex,
  uuid: string,
  power: 'running' | 'stopped',
  now: number,
): Promise<void> {
  const n = await db('instances').where({ uuid }).update({ desired_power: power, updated_at: now });
  if (n !== 1) throw new NotFound(`Instance ${uuid} could not be found.`);
}

export async function forgetInstance(db: Knex, uuid: string): Promise<void> {
  await db('instances').where({ uuid }).delete();
}

export interface ReconcileAnswer {
  /** What this host should run, with the generation each command must carry. */
  owned: { uuid: string; generation: number; desired_power: 'running' | 'stopped'; spec: DomainSpec }[];
  /** For domains the host has but does not own: who owns them now (null: the database has no such VM). */
  /** deleted: no placement, and the server row says it was deleted (the tombstone of a local delete). */
  others: { uuid: string; owner: string | null; generation: number | null; deleted?: boolean }[];
}

/** The database's desired state for one host, and the verdict on each domain it reported. */
export async function reconcileAnswer(
  db: Knex,
  hostId: number,
  localUuids: string[],
): Promise<ReconcileAnswer> {
  const owned = (await db('instances').where({ host_id: hostId }).orderBy('uuid')).map(fromRow);
  const ownedSet = new Set(owned.map((i) => i.uuid));
  const foreign = localUuids.filter((u) => !ownedSet.has(u));
  const rows = foreign.length
    ? await db('instances')
        .leftJoin('hosts', 'hosts.id', 'instances.host_id')
        .whereIn('instances.uuid', foreign)
        .select('instances.uuid', 'instances.generation', 'hosts.uuid as owner')
    : [];
  const known = new Map(rows.map((r) => [String(r.uuid), r]));
  const unplaced = foreign.filter((u) => !known.has(u));
  const deleted = new Set(
    unplaced.length
      ? (await db('servers').whereIn('uuid', unplaced).whereNotNull('deleted_at').select('uuid')).map((r) =>
          String(r.uuid),
        )
      : [],
  );
  return {
    owned: owned.map((i) => ({
      uuid: i.uuid,
      generation: i.generation,
      desired_power: i.desiredPower,
      spec: i.spec,
    })),
    others: foreign.map((u) => {
      const r = known.get(u);
      return {
        uuid: u,
        owner: r?.owner ? String(r.owner) : null,
        generation: r ? Number(r.generation) : null,
        ...(deleted.has(u) ? { deleted: true } : {}),
      };
    }),
  };
}
