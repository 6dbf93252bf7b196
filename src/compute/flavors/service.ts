/**
 * Nova flavors (compute/flavors.py, objects/flavor.py): a flavor is found by its flavorid; a private flavor
 * exists only for admins and for the projects in its access list (everyone else gets 404, as Nova's query
 * filter does). Extra specs and access rows live and die with their flavor.
 */
import type { Knex } from 'knex';
import { BadRequest, Conflict, NotFound } from '../../common/errors.js';
import { newUuid } from '../../common/ids.js';
import { isDuplicateKey, toBool } from '../../db/columns.js';
import { getProject } from '../../identity/projects/service.js';
import { boolFromNova } from '../parameter-types.js';

export interface Flavor {
  id: number;
  flavorid: string;
  name: string;
  memoryMb: number;
  vcpus: number;
  rootGb: number;
  ephemeralGb: number;
  swap: number;
  rxtxFactor: number;
  isPublic: boolean;
  disabled: boolean;
  description: string | null;
  extraSpecs: Record<string, string>;
}

/** Who is asking: admins see every flavor, others the public ones and those shared with their project. */
export interface Viewer {
  admin: boolean;
  projectId: string | null;
}

export interface NewFlavor {
  name: string;
  flavorid?: string | number | null;
  ram: number | string;
  vcpus: number | string;
  disk: number | string;
  ephemeral?: number | string;
  swap?: number | string;
  rxtxFactor?: number | string;
  isPublic?: boolean | string;
  description?: string | null;
}

const MAX_INT = 0x7fffffff;
const SQL_SP_FLOAT_MAX = 3.40282e38;

export const flavorNotFound = (id: string): NotFound => new NotFound(`Flavor ${id} could not be found.`);

function fromRow(r: Record<string, unknown>, specs: Record<string, string>): Flavor {
  return {
    id: Number(r.id),
    flavorid: String(r.flavorid),
    name: String(r.name),
    memoryMb: Number(r.memory_mb),
    vcpus: Number(r.vcpus),
    rootGb: Number(r.root_gb),
    ephemeralGb: Number(r.ephemeral_gb),
    swap: Number(r.swap),
    rxtxFactor: Number(r.rxtx_factor),
    isPublic: toBool(r.is_public),
    disabled: toBool(r.disabled),
    description: r.description === null || r.description === undefined ? null : String(r.description),
    extraSpecs: specs,
  };
}

async function withSpecs(db: Knex, rows: Record<string, unknown>[]): Promise<Flavor[]> {
  const ids = rows.map((r) => Number(r.id));
  const specs = ids.length ? await db('flavor_extra_specs').whereIn('flavor_id', ids).orderBy('key') : [];
  return rows.map((r) => {
    const own = specs.filter((s) => Number(s.flavor_id) === Number(r.id));
    return fromRow(r, Object.fromEntries(own.map((s) => [String(s.key), String(s.value)])));
  });
}

/** Nova's query filter: public flavors, or private ones whose access list holds the caller's project. */
function visibleTo(q: Knex.QueryBuilder, db: Knex, viewer: Viewer): void {
  if (viewer.admin) return;
  q.where((w) => {
    w.where('flavors.is_public', true);
    if (viewer.projectId !== null) {
      w.orWhereIn(
        'flavors.id',
        db('flavor_projects').where('project_id', viewer.projectId).select('flavor_id'),
      );
    }
  });
}

async function findRow(
  db: Knex,
  viewer: Viewer,
  flavorid: string,
  lock = false,
): Promise<Record<string, unknown>> {
  const q = db('flavors').where('flavors.flavorid', flavorid);
  visibleTo(q, db, viewer);
  if (lock) q.forUpdate();
  const row = (await q.first()) as Record<string, unknown> | undefined;
  if (!row) throw flavorNotFound(flavorid);
  return row;
}

export async function getFlavor(db: Knex, viewer: Viewer, flavorid: string): Promise<Flavor> {
  return (await withSpecs(db, [await findRow(db, viewer, flavorid)]))[0];
}

export interface ListFilters {
  /** true: public (plus those shared with the caller's project), false: private, null: all (admin). */
  isPublic: boolean | null;
  minRam?: number;
  minDisk?: number;
  disabled?: boolean;
}

export async function listFlavors(
  db: Knex,
  viewer: Viewer,
  filters: ListFilters,
  sort: { key: string; dir: 'asc' | 'desc' },
  page: { limit: number; marker: string | null },
): Promise<{ flavors: Flavor[]; hasMore: boolean }> {
  const base = db('flavors');
  if (filters.isPublic !== null) {
    const isPublic = filters.isPublic;
    base.where((w) => {
      w.where('flavors.is_public', isPublic);
      // Nova: asking for public flavors also returns the private ones shared with the caller's project
      if (isPublic && viewer.projectId !== null) {
        w.orWhereIn(
          'flavors.id',
          db('flavor_projects').where('project_id', viewer.projectId).select('flavor_id'),
        );
      }
    });
  }
  if (filters.disabled !== undefined) base.where('flavors.disabled', filters.disabled);
  if (filters.minRam !== undefined) base.where('flavors.memory_mb', '>=', filters.minRam);
  if (filters.minDisk !== undefined) base.where('flavors.root_gb', '>=', filters.minDisk);
  const column = SORT_COLUMNS[sort.key] ?? 'flavorid';
  const cmp = sort.dir === 'asc' ? '>' : '<';
  if (page.marker !== null) {
    const m = (await base.clone().where('flavors.flavorid', page.marker).first()) as
      Record<string, unknown> | undefined;
    if (!m) throw new BadRequest(`marker [${page.marker}] not found`);
    const k = m[column] as Knex.Value;
    // (sort column, primary key) is a total order, so a page never repeats or skips a row
    base.where((w) =>
      k === null
        ? w
            .whereNotNull(`flavors.${column}`)
            .orWhere((w2) => w2.whereNull(`flavors.${column}`).andWhere('flavors.id', cmp, m.id as number))
        : w
            .where(`flavors.${column}`, cmp, k)
            .orWhere((w2) => w2.where(`flavors.${column}`, k).andWhere('flavors.id', cmp, m.id as number)),
    );
  }
  if (page.limit === 0) return { flavors: [], hasMore: false };
  const rows = (await base
    .orderBy([
      { column: `flavors.${column}`, order: sort.dir },
      { column: 'flavors.id', order: sort.dir },
    ])
    .limit(page.limit + 1)) as Record<string, unknown>[];
  return { flavors: await withSpecs(db, rows.slice(0, page.limit)), hasMore: rows.length > page.limit };
}

/** API sort keys (Nova's VALID_SORT_KEYS) → columns; vcpu_weight is not stored, it sorts as flavorid. */
const SORT_COLUMNS: Record<string, string> = {
  created_at: 'created_at',
  description: 'description',
  disabled: 'disabled',
  ephemeral_gb: 'ephemeral_gb',
  flavorid: 'flavorid',
  id: 'id',
  is_public: 'is_public',
  memory_mb: 'memory_mb',
  name: 'name',
  root_gb: 'root_gb',
  rxtx_factor: 'rxtx_factor',
  swap: 'swap',
  updated_at: 'updated_at',
  vcpus: 'vcpus',
};

/** oslo strutils.validate_integer, as Nova's flavors.create applies it after the schema. */
function integer(value: number | string | undefined, field: string, min: number): number {
  const n = value === undefined ? 0 : typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n)) throw new BadRequest(`Invalid input received: ${field} must be an integer.`);
  if (n < min) throw new BadRequest(`Invalid input received: ${field} must be >= ${min}`);
  if (n > MAX_INT) throw new BadRequest(`Invalid input received: ${field} must be <= ${MAX_INT}`);
  return n;
}

export async function createFlavor(db: Knex, f: NewFlavor, now: number): Promise<Flavor> {
  const rxtx = f.rxtxFactor === undefined ? 1.0 : Number(f.rxtxFactor);
  if (!(rxtx > 0 && rxtx <= SQL_SP_FLOAT_MAX)) {
    throw new BadRequest(
      `Invalid input received: 'rxtx_factor' argument must be a float between 0 and 3.40282e+38`,
    );
  }
  // Nova generates a UUID when the id is absent or null; clients that say "auto" mean the same
  const flavorid =
    f.flavorid === undefined || f.flavorid === null || f.flavorid === '' || f.flavorid === 'auto'
      ? newUuid()
      : String(f.flavorid);
  const row = {
    flavorid,
    name: f.name.trim(),
    memory_mb: integer(f.ram, 'ram', 1),
    vcpus: integer(f.vcpus, 'vcpus', 1),
    root_gb: integer(f.disk, 'disk', 0),
    ephemeral_gb: integer(f.ephemeral, 'ephemeral', 0),
    swap: integer(f.swap, 'swap', 0),
    rxtx_factor: rxtx,
    is_public:
      f.isPublic === undefined
        ? true
        : typeof f.isPublic === 'boolean'
          ? f.isPublic
          : boolFromNova(f.isPublic),
    disabled: false,
    description: f.description ?? null,
    created_at: now,
    updated_at: null,
  };
  try {
    await db.transaction(async (trx) => {
      // clear messages for the two unique keys; the insert's unique index settles races between the checks
      if (await trx('flavors').where({ name: row.name }).first())
        throw new Conflict(`Flavor with name ${row.name} already exists.`);
      if (await trx('flavors').where({ flavorid }).first())
        throw new Conflict(`Flavor with ID ${flavorid} already exists.`);
      await trx('flavors').insert(row);
    });
  } catch (err) {
    if (isDuplicateKey(err)) {
      throw new Conflict(
        /flavorid/.test(String((err as Error).message))
          ? `Flavor with ID ${flavorid} already exists.`
          : `Flavor with name ${row.name} already exists.`,
      );
    }
    throw err;
  }
  return getFlavor(db, { admin: true, projectId: null }, flavorid);
}

export async function updateFlavorDescription(
  db: Knex,
  flavorid: string,
  description: string | null,
  now: number,
): Promise<Flavor> {
  const n = await db('flavors').where({ flavorid }).update({ description, updated_at: now });
  if (n === 0) throw flavorNotFound(flavorid);
  return getFlavor(db, { admin: true, projectId: null }, flavorid);
}

export async function deleteFlavor(db: Knex, flavorid: string): Promise<void> {
  // extra specs and access rows go with it (ON DELETE CASCADE)
  const n = await db('flavors').where({ flavorid }).del();
  if (n === 0) throw flavorNotFound(flavorid);
}

// --- extra specs (flavors_extraspecs.py) ---

const specNotFound = (flavorid: string, key: string): NotFound =>
  new NotFound(`Flavor ${flavorid} has no extra specs with key ${key}.`);

export async function setExtraSpecs(
  db: Knex,
  viewer: Viewer,
  flavorid: string,
  specs: Record<string, string>,
): Promise<void> {
  await db.transaction(async (trx) => {
    const row = await findRow(trx, viewer, flavorid, true);
    for (const [key, value] of Object.entries(specs)) {
      // under the flavor's row lock: no concurrent writer can slip in between delete and insert
      await trx('flavor_extra_specs').where({ flavor_id: row.id, key }).del();
      await trx('flavor_extra_specs').insert({ flavor_id: row.id, key, value });
    }
  });
}

export async function getExtraSpec(db: Knex, viewer: Viewer, flavorid: string, key: string): Promise<string> {
  const f = await getFlavor(db, viewer, flavorid);
  if (!(key in f.extraSpecs)) throw specNotFound(flavorid, key);
  return f.extraSpecs[key];
}

export async function deleteExtraSpec(
  db: Knex,
  viewer: Viewer,
  flavorid: string,
  key: string,
): Promise<void> {
  const row = await findRow(db, viewer, flavorid);
  const n = await db('flavor_extra_specs').where({ flavor_id: row.id, key }).del();
  if (n === 0) throw specNotFound(flavorid, key);
}

// --- access (flavor_access.py) ---

export async function listAccess(db: Knex, viewer: Viewer, flavorid: string): Promise<string[]> {
  const row = await findRow(db, viewer, flavorid);
  if (toBool(row.is_public)) throw new NotFound('Access list not available for public flavors.');
  return (await db('flavor_projects').where({ flavor_id: row.id }).orderBy('project_id')).map((r) =>
    String(r.project_id),
  );
}

/** `refusePublic`: from 2.7 Nova answers 409 for a public flavor; before, the row is added to no effect. */
export async function addAccess(
  db: Knex,
  viewer: Viewer,
  flavorid: string,
  projectId: string,
  refusePublic: boolean,
): Promise<string[]> {
  // Nova's order: the flavor (404), its publicity (409), then Keystone's word on the project (400)
  const found = await findRow(db, viewer, flavorid);
  if (refusePublic && toBool(found.is_public)) throw new Conflict('Can not add access to a public flavor.');
  try {
    await getProject(db, projectId);
  } catch (err) {
    if (err instanceof NotFound) throw new BadRequest(`Project ID ${projectId} is not a valid project.`);
    throw err;
  }
  try {
    await db.transaction(async (trx) => {
      // the flavor row stays locked until the access row is in: a concurrent delete waits or wins cleanly
      const row = await findRow(trx, viewer, flavorid, true);
      await trx('flavor_projects').insert({ flavor_id: row.id, project_id: projectId });
    });
  } catch (err) {
    if (isDuplicateKey(err)) {
      throw new Conflict(
        `Flavor access already exists for flavor ${flavorid} and project ${projectId} combination.`,
      );
    }
    throw err;
  }
  return toBool(found.is_public) ? [] : listAccess(db, viewer, flavorid);
}

export async function removeAccess(
  db: Knex,
  viewer: Viewer,
  flavorid: string,
  projectId: string,
): Promise<string[]> {
  const row = await findRow(db, viewer, flavorid);
  const n = await db('flavor_projects').where({ flavor_id: row.id, project_id: projectId }).del();
  if (n === 0) throw new NotFound(`Flavor access not found for ${flavorid} / ${projectId} combination.`);
  return toBool(row.is_public) ? [] : listAccess(db, viewer, flavorid);
}
