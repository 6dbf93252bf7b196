/**
 * Nova key pairs (compute/api.py KeypairAPI): they belong to a user, not a project; names are unique per
 * user. The quota is counted per user, checked before the insert and re-checked after it (Nova's
 * recheck_quota), so two racing creates can never both end above the limit.
 */
import type { Knex } from 'knex';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../common/errors.js';
import type { Config } from '../../common/config/options.js';
import { isDuplicateKey } from '../../db/columns.js';
import { computeLimits } from '../quotas/service.js';
import {
  InvalidKey,
  generateSshKeyPair,
  generateX509KeyPair,
  sshFingerprint,
  x509Fingerprint,
} from './crypto.js';

export type KeyType = 'ssh' | 'x509';

export interface KeyPair {
  id: number;
  userId: string;
  name: string;
  fingerprint: string;
  publicKey: string;
  type: KeyType;
  createdAt: number;
  updatedAt: number | null;
}

const fromRow = (r: Record<string, unknown>): KeyPair => ({
  id: Number(r.id),
  userId: String(r.user_id),
  name: String(r.name),
  fingerprint: String(r.fingerprint),
  publicKey: String(r.public_key),
  type: r.type === 'x509' ? 'x509' : 'ssh',
  createdAt: Number(r.created_at),
  updatedAt: r.updated_at === null || r.updated_at === undefined ? null : Number(r.updated_at),
});

const notFound = (name: string, userId: string): NotFound =>
  new NotFound(`Keypair ${name} not found for user ${userId}`);
const overQuota = (): Forbidden => new Forbidden('Quota exceeded, too many key pairs.');

export async function getKeyPair(db: Knex, userId: string, name: string): Promise<KeyPair> {
  const row = await db('key_pairs').where({ user_id: userId, name }).first();
  if (!row) throw notFound(name, userId);
  return fromRow(row);
}

export async function listKeyPairs(
  db: Knex,
  userId: string,
  page: { limit: number | null; marker: string | null },
): Promise<{ keypairs: KeyPair[]; hasMore: boolean }> {
  const q = db('key_pairs').where({ user_id: userId });
  if (page.marker !== null) {
    if (!(await db('key_pairs').where({ user_id: userId, name: page.marker }).first())) {
      throw new BadRequest(`Marker ${page.marker} could not be found.`);
    }
    q.where('name', '>', page.marker);
  }
  if (page.limit === 0) return { keypairs: [], hasMore: false };
  q.orderBy('name');
  if (page.limit !== null) q.limit(page.limit + 1);
  const rows = (await q).map(fromRow);
  const hasMore = page.limit !== null && rows.length > page.limit;
  return { keypairs: hasMore ? rows.slice(0, page.limit as number) : rows, hasMore };
}

async function count(db: Knex, userId: string): Promise<number> {
  const row = (await db('key_pairs').where({ user_id: userId }).count({ n: '*' }).first()) as {
    n: number | string;
  };
  return Number(row.n);
}

export interface CreateKeyPair {
  userId: string;
  name: string;
  type: KeyType;
  /** Absent: the server generates the pair and returns the private key once. */
  publicKey?: string;
  /** [compute] quota_key_pairs; negative: unlimited. Used as is when `limits` is absent. */
  quota: number;
  /** The caller's project and the config: the limit is then the quota resolver's (per-user overrides). */
  limits?: { config: Config; projectId: string | null };
}

export async function createKeyPair(
  db: Knex,
  c: CreateKeyPair,
  now: number,
): Promise<{ keypair: KeyPair; privateKey?: string }> {
  const quota = c.limits
    ? (await computeLimits(db, c.limits.config, c.limits.projectId ?? '', c.userId)).key_pairs
    : c.quota;
  const limited = quota >= 0;
  if (limited && (await count(db, c.userId)) + 1 > quota) throw overQuota();
  let fingerprint: string;
  let publicKey: string;
  let privateKey: string | undefined;
  if (c.publicKey !== undefined) {
    publicKey = c.publicKey;
    try {
      fingerprint = c.type === 'x509' ? x509Fingerprint(publicKey) : sshFingerprint(publicKey);
    } catch (err) {
      if (!(err instanceof InvalidKey)) throw err;
      const reason = c.type === 'x509' ? err.message : 'failed to generate fingerprint';
      throw new BadRequest(`Keypair data is invalid: ${reason}`);
    }
  } else {
    const made = c.type === 'x509' ? await generateX509KeyPair(c.userId) : await generateSshKeyPair();
    ({ fingerprint, publicKey, privateKey } = made);
  }
  try {
    await db('key_pairs').insert({
      user_id: c.userId,
      name: c.name,
      fingerprint,
      public_key: publicKey,
      type: c.type,
      created_at: now,
      updated_at: null,
    });
  } catch (err) {
    if (isDuplicateKey(err)) throw new Conflict(`Key pair '${c.name}' already exists.`);
    throw err;
  }
  // re-check after the insert: a concurrent create may have taken the last slot
  if (limited && (await count(db, c.userId)) > quota) {
    await db('key_pairs').where({ user_id: c.userId, name: c.name }).del();
    throw overQuota();
  }
  return { keypair: await getKeyPair(db, c.userId, c.name), privateKey };
}

export async function deleteKeyPair(db: Knex, userId: string, name: string): Promise<void> {
  const n = await db('key_pairs').where({ user_id: userId, name }).del();
  if (n === 0) throw notFound(name, userId);
}
