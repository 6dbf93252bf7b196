/**
 * Server metadata (Nova's instance_metadata): reads in bulk for the server views, and the API's updates,
 * which Nova allows only on a launched, idle server in active, paused, suspended or stopped, and never on a
 * locked one (but for admins). Each update re-reads and locks the server row in its transaction, so a delete
 * or an action that starts meanwhile cannot slip between the state check and the write, and two merges
 * cannot lose each other's keys. As Nova's, a metadata change does not touch the server's updated_at.
 */
import type { Knex } from 'knex';
import type { AuthContext } from '../../../common/context.js';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../../common/errors.js';
import { isDuplicateKey } from '../../../db/columns.js';
import { isSqlite } from '../../../db/transactions.js';
import { checkUnlocked } from '../actions/transition.js';
import { serverFromRow, serverNotFound, type ServerRow } from '../model.js';

export type Metadata = Record<string, string>;

/** Keys in code-point order, so that bodies do not depend on the database's order. */
const sorted = (md: Metadata): Metadata =>
  Object.fromEntries(Object.entries(md).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** The metadata of each of these servers (every uuid gets an entry, {} when it has none). */
export async function serverMetadata(db: Knex, uuids: string[]): Promise<Map<string, Metadata>> {
  const out = new Map<string, Metadata>(uuids.map((u) => [u, {}]));
  for (let i = 0; i < uuids.length; i += 500) {
    const rows = await db('server_metadata').whereIn('server_uuid', uuids.slice(i, i + 500));
    for (const r of rows) (out.get(String(r.server_uuid)) as Metadata)[String(r.key)] = String(r.value);
  }
  for (const [u, md] of out) out.set(u, sorted(md));
  return out;
}

/**
 * Makes `md` the server's whole metadata (create, PUT, and the end of a merge). Keys a MariaDB collation
 * would hold equal (e.g. "a" and "a " under PAD SPACE) cannot both be stored: a 400, never a 500.
 */
export async function replaceMetadata(trx: Knex, serverUuid: string, md: Metadata): Promise<void> {
  await trx('server_metadata').where({ server_uuid: serverUuid }).del();
  const rows = Object.entries(md).map(([key, value]) => ({ server_uuid: serverUuid, key, value }));
  try {
    for (let i = 0; i < rows.length; i += 200) await trx('server_metadata').insert(rows.slice(i, i + 200));
  } catch (err) {
    if (isDuplicateKey(err))
      throw new BadRequest('Metadata keys must be unique once trailing spaces are ignored.');
    throw err;
  }
}

/** Nova's MetadataLimitExceeded (403 from the API); limit < 0 is unlimited. */
export function checkMetadataQuota(md: Metadata, limit: number): void {
  if (limit >= 0 && Object.keys(md).length > limit)
    throw new Forbidden(`Maximum number of metadata items exceeds ${limit}`);
}

const UPDATABLE = new Set(['active', 'paused', 'suspended', 'stopped']);

/** Nova's check_instance_lock then check_instance_state(vm_state=[...], task_state=None), must_have_launched. */
function checkUpdatable(server: ServerRow, auth: AuthContext, action: string): void {
  checkUnlocked(server, auth);
  const [attr, state] = !UPDATABLE.has(server.vmState)
    ? ['vm_state', server.vmState]
    : server.taskState !== null
      ? ['task_state', server.taskState]
      : server.launchedAt === null
        ? ['launched_at', 'None']
        : [null, null];
  if (attr) throw new Conflict(`Cannot '${action}' instance ${server.uuid} while it is in ${attr} ${state}`);
}

/** The server row again, locked for the rest of the transaction (SQLite transactions are serial anyway). */
async function lockServer(trx: Knex, uuid: string): Promise<ServerRow> {
  const q = trx('servers').where({ uuid }).whereNull('deleted_at');
  if (!isSqlite(trx)) q.forUpdate();
  const row = await q.first();
  if (!row) throw serverNotFound(uuid);
  return serverFromRow(row);
}

export interface MetadataUpdate {
  server: ServerRow;
  auth: AuthContext;
  /** [compute] quota_metadata_items. */
  limit: number;
}

/**
 * Nova's update_instance_metadata: merges `md` into the server's metadata (replace: `md` becomes all of it),
 * checks the item quota on the result, and returns the metadata as Nova answers (the result).
 */
export async function updateMetadata(
  db: Knex,
  u: MetadataUpdate,
  md: Metadata,
  replace: boolean,
): Promise<Metadata> {
  return db.transaction(async (trx) => {
    const server = await lockServer(trx, u.server.uuid);
    checkUpdatable(server, u.auth, 'update metadata');
    const result = replace
      ? { ...md }
      : { ...(await serverMetadata(trx, [server.uuid])).get(server.uuid), ...md };
    checkMetadataQuota(result, u.limit);
    await replaceMetadata(trx, server.uuid, result);
    return replace ? md : sorted(result);
  });
}

const itemNotFound = () => new NotFound('Metadata item was not found');

export async function getMetadataItem(db: Knex, serverUuid: string, key: string): Promise<string> {
  // compared here, not in SQL: a MariaDB collation may hold "a" and "a " equal
  const md = (await serverMetadata(db, [serverUuid])).get(serverUuid) as Metadata;
  if (!Object.hasOwn(md, key)) throw itemNotFound();
  return md[key];
}

/** Nova's delete: 404 for a missing key comes before the lock and state checks. */
export async function deleteMetadataItem(
  db: Knex,
  u: Omit<MetadataUpdate, 'limit'>,
  key: string,
): Promise<void> {
  await db.transaction(async (trx) => {
    const server = await lockServer(trx, u.server.uuid);
    const md = (await serverMetadata(trx, [server.uuid])).get(server.uuid) as Metadata;
    if (!Object.hasOwn(md, key)) throw itemNotFound();
    checkUpdatable(server, u.auth, 'delete metadata');
    delete md[key];
    await replaceMetadata(trx, server.uuid, md);
  });
}
