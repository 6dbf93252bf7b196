/**
 * Neutron's standard attributes, shared by every resource table. Each table has the columns
 * `description` (string 255, always inserted), `revision_number` (int), `created_at`/`updated_at` (epoch ms),
 * and its tags live in the one table `neutron_tags (resource_type, resource_id, tag)`.
 *
 * - `standardView(row, tags)`: description, tags, created_at, updated_at (2024-01-01T00:00:00Z), revision_number;
 * - `standardColumns(nowMs, description)`: the values to insert;
 * - `bumpRevision(trx, table, id, nowMs)`: every update (and every tag change) increments revision_number;
 * - `ifMatchRevision(ctx)` + `checkRevision(expected, current)`: `If-Match: revision_number=N` → 412;
 * - `loadTags(db, type, ids)`, `replaceTags(trx, type, id, tags)`, `deleteTags(trx, type, ids)`.
 */
import type { Knex } from 'knex';
import type { Ctx } from '../../common/context.js';
import { isoSecondsZ } from '../../common/time.js';
import { inChunks } from './db.js';
import { badRequest, PreconditionFailed } from './errors.js';

export const TAGS_TABLE = 'neutron_tags';
export const MAX_TAG_LEN = 255;
export const MAX_TAGS_COUNT = 50;

export interface StandardRow {
  description: string | null;
  revision_number: number | string;
  created_at: number | string;
  updated_at: number | string;
}

export function standardView(row: StandardRow, tags: string[]): Record<string, unknown> {
  return {
    description: row.description ?? '',
    tags,
    created_at: isoSecondsZ(Number(row.created_at)),
    updated_at: isoSecondsZ(Number(row.updated_at)),
    revision_number: Number(row.revision_number),
  };
}

export function standardColumns(
  nowMs: number,
  description: unknown,
): { description: string; revision_number: number; created_at: number; updated_at: number } {
  return {
    description: typeof description === 'string' ? description : '',
    revision_number: 0,
    created_at: nowMs,
    updated_at: nowMs,
  };
}

/** One more revision: call once per successful update of the resource (its own columns, tags, bindings). */
export async function bumpRevision(trx: Knex, table: string, id: string, nowMs: number): Promise<void> {
  await trx(table)
    .where({ id })
    .update({ revision_number: trx.raw('revision_number + 1'), updated_at: nowMs });
}

/** The revision an `If-Match: revision_number=N` header demands, or null (neutron's api_common). */
export function ifMatchRevision(ctx: Ctx): number | null {
  const header = ctx.get('if-match');
  if (!header) return null;
  let found: number | null = null;
  for (const raw of header.split(',')) {
    const etag = raw
      .trim()
      .replace(/^W\//, '')
      .replace(/^"(.*)"$/, '$1');
    if (!etag.startsWith('revision_number=')) continue;
    if (found !== null)
      throw badRequest(
        'Bad if-match request: Multiple revision_number etags are not supported.',
        'BadRequest',
      );
    const n = etag.slice('revision_number='.length);
    if (!/^-?\d+$/.test(n))
      throw badRequest(
        'Bad if-match request: Revision number etag must be in the format of revision_number=<int>.',
        'BadRequest',
      );
    found = Number(n);
  }
  return found;
}

/** 412 RevisionNumberConstraintFailed when the stored revision is not the one the client based its change on. */
export function checkRevision(expected: number | null, current: number | string): void {
  if (expected !== null && expected !== Number(current))
    throw new PreconditionFailed(`Constrained to ${expected}, but current revision is ${Number(current)}`, {
      type: 'RevisionNumberConstraintFailed',
    });
}

/** Tags of each resource, sorted (resources without tags map to []). */
export async function loadTags(
  db: Knex,
  resourceType: string,
  ids: string[],
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  if (!ids.length) return out;
  const rows = await inChunks(
    ids,
    (part) =>
      db(TAGS_TABLE)
        .where('resource_type', resourceType)
        .whereIn('resource_id', part)
        .select('resource_id', 'tag') as Promise<{ resource_id: string; tag: string }[]>,
  );
  for (const r of rows) out.get(r.resource_id)?.push(r.tag);
  for (const tags of out.values()) tags.sort();
  return out;
}

/** Validates a tag list as neutron's tagging extension (unique strings ≤ 255, at most 50). */
export function validateTags(tags: unknown, resource: string): string[] {
  if (!Array.isArray(tags))
    throw badRequest(`Invalid input for operation: '${JSON.stringify(tags)}' is not a list.`, 'InvalidInput');
  for (const t of tags) validateTag(t);
  if (new Set(tags).size !== tags.length)
    throw badRequest(
      `Invalid input for operation: Duplicate items in the list: '${dupes(tags as string[]).join(', ')}'.`,
      'InvalidInput',
    );
  if (tags.length > MAX_TAGS_COUNT)
    throw badRequest(
      `Bad ${resource} request: The number of tags exceed the per-resource limit of ${MAX_TAGS_COUNT}.`,
      'BadRequest',
    );
  return tags as string[];
}

export function validateTag(tag: unknown): string {
  if (typeof tag !== 'string')
    throw badRequest(
      `Invalid input for operation: '${JSON.stringify(tag)}' is not a valid string.`,
      'InvalidInput',
    );
  if (tag.length > MAX_TAG_LEN)
    throw badRequest(
      `Invalid input for operation: '${tag}' exceeds maximum length of ${MAX_TAG_LEN}.`,
      'InvalidInput',
    );
  return tag;
}

const dupes = (xs: string[]): string[] => [...new Set(xs.filter((x, i) => xs.indexOf(x) !== i))];

/** Replaces the resource's tags (no revision bump: the caller bumps once per request). */
export async function replaceTags(
  trx: Knex,
  resourceType: string,
  id: string,
  tags: string[],
): Promise<void> {
  await trx(TAGS_TABLE).where({ resource_type: resourceType, resource_id: id }).delete();
  if (tags.length)
    await trx(TAGS_TABLE).insert(tags.map((tag) => ({ resource_type: resourceType, resource_id: id, tag })));
}

export async function deleteTags(trx: Knex, resourceType: string, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 500)
    await trx(TAGS_TABLE)
      .where('resource_type', resourceType)
      .whereIn('resource_id', ids.slice(i, i + 500))
      .delete();
}
