import type { Knex } from 'knex';
import { BadRequest, Conflict, NotFound } from '../../common/errors.js';
import { newHexId } from '../../common/ids.js';
import { fromJson, isDuplicateKey, toBool, toJson } from '../../db/columns.js';

export interface Region {
  id: string;
  description: string;
  parentRegionId: string | null;
}
export interface Service {
  id: string;
  type: string;
  name: string | null;
  description: string | null;
  enabled: boolean;
  extra: Record<string, unknown>;
}
export interface Endpoint {
  id: string;
  serviceId: string;
  interface: 'public' | 'internal' | 'admin';
  regionId: string | null;
  url: string;
  enabled: boolean;
}

const regionFromRow = (r: Record<string, unknown>): Region => ({
  id: String(r.id),
  description: (r.description as string | null) ?? '',
  parentRegionId: (r.parent_region_id as string | null) ?? null,
});
const serviceFromRow = (r: Record<string, unknown>): Service => ({
  id: String(r.id),
  type: String(r.type),
  name: (r.name as string | null) ?? null,
  description: (r.description as string | null) ?? null,
  enabled: toBool(r.enabled),
  extra: fromJson(r.extra, {}),
});
const endpointFromRow = (r: Record<string, unknown>): Endpoint => ({
  id: String(r.id),
  serviceId: String(r.service_id),
  interface: r.interface as Endpoint['interface'],
  regionId: (r.region_id as string | null) ?? null,
  url: String(r.url),
  enabled: toBool(r.enabled),
});

// Regions
export async function getRegion(db: Knex, id: string): Promise<Region> {
  const row = await db('regions').where({ id }).first();
  if (!row) throw new NotFound(`Could not find region: ${id}.`);
  return regionFromRow(row);
}
export async function listRegions(db: Knex, f: { parentRegionId?: string }): Promise<Region[]> {
  const q = db('regions').orderBy('id');
  if (f.parentRegionId !== undefined) q.where('parent_region_id', f.parentRegionId);
  return (await q).map(regionFromRow);
}
export async function createRegion(
  db: Knex,
  input: { id?: string; description?: string; parent_region_id?: string | null },
): Promise<Region> {
  if (input.parent_region_id) await parentOr404(db, input.parent_region_id);
  const row = {
    id: input.id ?? newHexId(),
    description: input.description ?? '',
    parent_region_id: input.parent_region_id ?? null,
    extra: '{}',
  };
  try {
    await db('regions').insert(row);
  } catch (err) {
    if (isDuplicateKey(err))
      throw new Conflict(`Conflict occurred attempting to store region - Duplicate ID, ${row.id}.`);
    throw err;
  }
  return regionFromRow(row);
}
export async function updateRegion(
  db: Knex,
  id: string,
  input: { description?: string; parent_region_id?: string | null },
): Promise<Region> {
  await getRegion(db, id);
  if (input.parent_region_id) {
    if (input.parent_region_id === id) throw new BadRequest('A region cannot be its own parent.');
    await parentOr404(db, input.parent_region_id);
  }
  const changes: Record<string, unknown> = {};
  if (input.description !== undefined) changes.description = input.description;
  if (input.parent_region_id !== undefined) changes.parent_region_id = input.parent_region_id;
  if (Object.keys(changes).length) await db('regions').where({ id }).update(changes);
  return getRegion(db, id);
}
export async function deleteRegion(db: Knex, id: string): Promise<void> {
  await db.transaction(async (trx) => {
    await getRegion(trx, id);
    if (await trx('regions').where({ parent_region_id: id }).first())
      throw new Conflict(`Region ${id} has child regions.`);
    if (await trx('endpoints').where({ region_id: id }).first())
      throw new Conflict(`Region ${id} still has endpoints.`);
    await trx('regions').where({ id }).delete();
  });
}
async function parentOr404(db: Knex, id: string): Promise<void> {
  if (!(await db('regions').where({ id }).first())) throw new NotFound(`Could not find region: ${id}.`);
}

// Services
export async function getService(db: Knex, id: string): Promise<Service> {
  const row = await db('services').where({ id }).first();
  if (!row) throw new NotFound(`Could not find service: ${id}.`);
  return serviceFromRow(row);
}
export async function listServices(db: Knex, f: { type?: string; name?: string }): Promise<Service[]> {
  const q = db('services').orderBy('type');
  if (f.type !== undefined) q.where('type', f.type);
  if (f.name !== undefined) q.where('name', f.name);
  return (await q).map(serviceFromRow);
}
export async function createService(
  db: Knex,
  input: { type: string; name?: string; description?: string; enabled?: boolean; [k: string]: unknown },
): Promise<Service> {
  const { type, name, description, enabled, id: _id, ...extra } = input;
  const row = {
    id: newHexId(),
    type,
    name: name ?? null,
    description: description ?? null,
    enabled: enabled ?? true,
    extra: toJson(extra),
  };
  await db('services').insert(row);
  return serviceFromRow(row);
}
export async function updateService(
  db: Knex,
  id: string,
  input: { type?: string; name?: string; description?: string; enabled?: boolean; [k: string]: unknown },
): Promise<Service> {
  const current = await getService(db, id);
  const { type, name, description, enabled, id: _id, ...extra } = input;
  const changes: Record<string, unknown> = { extra: toJson({ ...current.extra, ...extra }) };
  if (type !== undefined) changes.type = type;
  if (name !== undefined) changes.name = name;
  if (description !== undefined) changes.description = description;
  if (enabled !== undefined) changes.enabled = enabled;
  await db('services').where({ id }).update(changes);
  return getService(db, id);
}
export async function deleteService(db: Knex, id: string): Promise<void> {
  await db.transaction(async (trx) => {
    await getService(trx, id);
    await trx('endpoints').where({ service_id: id }).delete();
    await trx('services').where({ id }).delete();
  });
}

// Endpoints
export async function getEndpoint(db: Knex, id: string): Promise<Endpoint> {
  const row = await db('endpoints').where({ id }).first();
  if (!row) throw new NotFound(`Could not find endpoint: ${id}.`);
  return endpointFromRow(row);
}
export async function listEndpoints(
  db: Knex,
  f: { serviceId?: string; interface?: string; regionId?: string },
): Promise<Endpoint[]> {
  const q = db('endpoints').orderBy('id');
  if (f.serviceId !== undefined) q.where('service_id', f.serviceId);
  if (f.interface !== undefined) q.where('interface', f.interface);
  if (f.regionId !== undefined) q.where('region_id', f.regionId);
  return (await q).map(endpointFromRow);
}
export interface EndpointInput {
  service_id?: string;
  interface?: string;
  region_id?: string | null;
  region?: string | null;
  url?: string;
  enabled?: boolean;
}
export async function createEndpoint(db: Knex, input: EndpointInput): Promise<Endpoint> {
  return db.transaction(async (trx) => {
    await serviceOr400(trx, input.service_id as string);
    const regionId = input.region_id ?? input.region ?? null;
    if (regionId) await ensureRegion(trx, regionId);
    const row = {
      id: newHexId(),
      service_id: input.service_id,
      interface: input.interface,
      region_id: regionId,
      url: input.url,
      enabled: input.enabled ?? true,
      extra: '{}',
    };
    await trx('endpoints').insert(row);
    return endpointFromRow(row);
  });
}
export async function updateEndpoint(db: Knex, id: string, input: EndpointInput): Promise<Endpoint> {
  return db.transaction(async (trx) => {
    await getEndpoint(trx, id);
    const changes: Record<string, unknown> = {};
    if (input.service_id !== undefined) {
      await serviceOr400(trx, input.service_id);
      changes.service_id = input.service_id;
    }
    const regionId = input.region_id !== undefined ? input.region_id : input.region;
    if (regionId !== undefined) {
      if (regionId) await ensureRegion(trx, regionId);
      changes.region_id = regionId;
    }
    for (const k of ['interface', 'url', 'enabled'] as const)
      if (input[k] !== undefined) changes[k] = input[k];
    if (Object.keys(changes).length) await trx('endpoints').where({ id }).update(changes);
    return getEndpoint(trx, id);
  });
}
export async function deleteEndpoint(db: Knex, id: string): Promise<void> {
  await getEndpoint(db, id);
  await db('endpoints').where({ id }).delete();
}
async function serviceOr400(db: Knex, id: string): Promise<void> {
  if (!(await db('services').where({ id }).first())) throw new BadRequest(`Could not find service: ${id}.`);
}
/** An endpoint naming an unknown region creates it, as Keystone's _validate_endpoint_region does. */
async function ensureRegion(db: Knex, id: string): Promise<void> {
  if (!(await db('regions').where({ id }).first())) {
    await db('regions').insert({ id, description: '', parent_region_id: null, extra: '{}' });
  }
}

export interface CatalogEntry {
  id: string;
  type: string;
  name: string;
  endpoints: {
    id: string;
    interface: string;
    region: string | null;
    region_id: string | null;
    url: string;
  }[];
}

/** The token catalog: enabled services with their enabled endpoints; $(project_id)s is filled in as Keystone does. */
export async function buildCatalog(db: Knex, projectId: string | null): Promise<CatalogEntry[]> {
  const services = (await db('services').where({ enabled: true }).orderBy('type')).map(serviceFromRow);
  const endpoints = (await db('endpoints').where({ enabled: true }).orderBy('interface')).map(
    endpointFromRow,
  );
  const out: CatalogEntry[] = [];
  for (const s of services) {
    const eps = endpoints
      .filter((e) => e.serviceId === s.id)
      .flatMap((e) => {
        const needsProject = /\$\((project_id|tenant_id)\)s/.test(e.url);
        if (needsProject && !projectId) return [];
        const url = e.url.replace(/\$\((project_id|tenant_id)\)s/g, projectId ?? '');
        return [{ id: e.id, interface: e.interface, region: e.regionId, region_id: e.regionId, url }];
      });
    out.push({ id: s.id, type: s.type, name: s.name ?? '', endpoints: eps });
  }
  return out;
}
