/**
 * Server tags (2.26; Nova's tags table): reads in bulk for the server views, and the API's changes, which
 * Nova allows in active, paused, suspended and stopped only (no task or lock check, unlike metadata). Each
 * change locks the server row in its transaction: the 50-tag limit holds against concurrent adds, and a
 * server deleted meanwhile gets no tags.
 */
import type { Knex } from 'knex';
import { BadRequest, Conflict, NotFound } from '../../../common/errors.js';
import { isDuplicateKey } from '../../../db/columns.js';
import { isSqlite } from '../../../db/transactions.js';
import { serverFromRow, serverNotFound, type ServerRow } from '../model.js';
import { MAX_TAG_COUNT, MAX_TAG_LENGTH } from './schemas.js';

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The tags of each of these servers, sorted (every uuid gets an entry, [] when it has none). */
export async function serverTags(db: Knex, uuids: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(uuids.map((u) => [u, []]));
  for (let i = 0; i < uuids.length; i += 500) {
    const rows = await db('server_tags').whereIn('server_uuid', uuids.slice(i, i + 500));
    for (const r of rows) (out.get(String(r.server_uuid)) as string[]).push(String(r.tag));
  }
  for (const tags of out.values()) tags.sort(byCodePoint);
  return out;
}

/** Makes `tags` (duplicates dropped) the server's whole set (create with tags, 2.52, and PUT /tags). */
export async function setTags(trx: Knex, serverUuid: string, tags: string[]): Promise<string[]> {
  const unique = [...new Set(tags)].sort(byCodePoint);
  await trx('server_tags').where({ server_uuid: serverUuid }).del();
  try {
    if (unique.length)
      await trx('server_tags').insert(unique.map((tag) => ({ server_uuid: serverUuid, tag })));
  } catch (err) {
    // tags a MariaDB PAD SPACE collation holds equal ("a" and "a "): a 400, never a 500
    if (isDuplicateKey(err)) throw new BadRequest('Tags must be unique once trailing spaces are ignored.');
    throw err;
  }
  return unique;
}

/** Nova's message for a tag in the URL that parameter_types.tag refuses. */
function checkTag(tag: string): void {
  const why =
    tag.length === 0
      ? `'${tag}' is too short`
      : tag.length > MAX_TAG_LENGTH
        ? `'${tag}' is too long`
        : /[,/]/.test(tag)
          ? `'${tag}' does not match '^[^,/]*$'`
          : null;
  if (why)
    throw new BadRequest(
      `Tag '${tag}' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: ${why}`,
    );
}

const TAGGABLE = new Set(['active', 'paused', 'suspended', 'stopped']);

/** Re-reads and locks the server, then Nova's _check_instance_in_valid_state. */
async function lockTaggable(trx: Knex, uuid: string, action: string): Promise<ServerRow> {
  const q = trx('servers').where({ uuid }).whereNull('deleted_at');
  if (!isSqlite(trx)) q.forUpdate();
  const row = await q.first();
  if (!row) throw serverNotFound(uuid);
  const server = serverFromRow(row);
  if (!TAGGABLE.has(server.vmState))
    throw new Conflict(`Cannot '${action}' instance ${uuid} while it is in vm_state ${server.vmState}`);
  return server;
}

const tagsOf = async (db: Knex, uuid: string): Promise<string[]> =>
  (await serverTags(db, [uuid])).get(uuid) as string[];

/** PUT /tags: replaces the set; returns it. */
export async function replaceTags(db: Knex, uuid: string, tags: string[]): Promise<string[]> {
  return db.transaction(async (trx) => {
    await lockTaggable(trx, uuid, 'update tags');
    return setTags(trx, uuid, tags);
  });
}

/** DELETE /tags. */
export async function clearTags(db: Knex, uuid: string): Promise<void> {
  await db.transaction(async (trx) => {
    await lockTaggable(trx, uuid, 'delete tags');
    await trx('server_tags').where({ server_uuid: uuid }).del();
  });
}

/**
 * PUT /tags/{tag}: true when added, false when the server had it already. As Nova's, the limit is checked
 * before the presence: a server at 50 tags answers 400 even for a tag it has.
 */
export async function addTag(db: Knex, uuid: string, tag: string): Promise<boolean> {
  return db.transaction(async (trx) => {
    await lockTaggable(trx, uuid, 'update tag');
    checkTag(tag); // after the state check, as Nova's
    const tags = await tagsOf(trx, uuid);
    if (tags.length >= MAX_TAG_COUNT)
      throw new BadRequest(`The number of tags exceeded the per-server limit ${MAX_TAG_COUNT}`);
    if (tags.includes(tag)) return false;
    try {
      await trx('server_tags').insert({ server_uuid: uuid, tag });
    } catch (err) {
      if (isDuplicateKey(err)) throw new BadRequest('Tags must be unique once trailing spaces are ignored.');
      throw err;
    }
    return true;
  });
}

/** DELETE /tags/{tag}: the state check comes before the 404, as Nova's. */
export async function removeTag(db: Knex, uuid: string, tag: string): Promise<void> {
  await db.transaction(async (trx) => {
    await lockTaggable(trx, uuid, 'delete tag');
    if (!(await tagsOf(trx, uuid)).includes(tag)) throw new NotFound(`Instance ${uuid} has no tag '${tag}'`);
    await trx('server_tags').where({ server_uuid: uuid, tag }).del();
  });
}

/** GET /tags/{tag}. */
export async function hasTag(db: Knex, uuid: string, tag: string): Promise<boolean> {
  return (await tagsOf(db, uuid)).includes(tag);
}
