/** Key pair bodies as Nova's views/keypairs.py marshals them, per microversion. */
import type { Microversion } from '../../common/microversion.js';
import { isoMicrosNoZ } from '../../common/time.js';
import type { KeyPair } from './service.js';

/** A list item (wrapped per item in {"keypair": ...}): no user_id, id or times. */
export function keypairListItem(k: KeyPair, mv: Microversion): Record<string, unknown> {
  const body: Record<string, unknown> = { name: k.name, public_key: k.publicKey, fingerprint: k.fingerprint };
  if (mv.atLeast('2.2')) body.type = k.type; // 2.2
  return body;
}

/** The create answer: the list fields plus user_id, and the private key when the server generated it. */
export function keypairCreateView(
  k: KeyPair,
  mv: Microversion,
  privateKey?: string,
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: k.name,
    public_key: k.publicKey,
    fingerprint: k.fingerprint,
    user_id: k.userId,
  };
  if (mv.atLeast('2.2')) body.type = k.type; // 2.2
  if (privateKey !== undefined) body.private_key = privateKey; // generation exists up to 2.91
  return body;
}

/** GET /os-keypairs/{name}: the database row's fields; deleted rows are removed, so deleted is false. */
export function keypairShowView(k: KeyPair, mv: Microversion): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: k.name,
    public_key: k.publicKey,
    fingerprint: k.fingerprint,
    user_id: k.userId,
    id: k.id,
    created_at: isoMicrosNoZ(k.createdAt),
    updated_at: k.updatedAt === null ? null : isoMicrosNoZ(k.updatedAt),
    deleted: false,
    deleted_at: null,
  };
  if (mv.atLeast('2.2')) body.type = k.type; // 2.2
  return body;
}
