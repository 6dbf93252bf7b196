import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  generateKeyPairSync,
  createPublicKey,
  createPrivateKey,
  type KeyObject,
  createHash,
} from 'node:crypto';

/**
 * The ES256 key repository, laid out like Keystone's JWS repositories:
 *   private/private.pem   the key new tokens are signed with (mode 0600)
 *   public/<kid>.pem      every public key still accepted; the newest max_active_keys are kept on rotation
 * Every API process reads the same repository (copy it to each API host, as Keystone's keys are).
 */
export class KeyRepository {
  private signing: { kid: string; key: KeyObject; mtimeMs: number } | null = null;
  private verifying = new Map<string, KeyObject>();
  private lastPublicScan = 0;

  constructor(readonly dir: string) {}

  get privateFile(): string {
    return join(this.dir, 'private', 'private.pem');
  }
  get publicDir(): string {
    return join(this.dir, 'public');
  }

  exists(): boolean {
    return existsSync(this.privateFile);
  }

  /** Creates the first key if the repository is empty; returns whether it did. */
  ensure(): boolean {
    if (this.exists()) return false;
    this.rotate(Number.MAX_SAFE_INTEGER);
    return true;
  }

  /**
   * Makes a new signing key. The public half is published before the private half replaces the old one, so a
   * token signed with the new key always finds its public key; the oldest public keys beyond maxActive go.
   */
  rotate(maxActive: number): { kid: string; removed: string[] } {
    mkdirSync(join(this.dir, 'private'), { recursive: true, mode: 0o700 });
    mkdirSync(this.publicDir, { recursive: true });
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = keyId(publicKey);
    writeFileSync(join(this.publicDir, `${kid}.pem`), publicKey.export({ type: 'spki', format: 'pem' }));
    const tmp = `${this.privateFile}.tmp`;
    writeFileSync(tmp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    renameSync(tmp, this.privateFile);
    const publics = readdirSync(this.publicDir)
      .filter((f) => f.endsWith('.pem'))
      .map((f) => ({ f, mtime: statSync(join(this.publicDir, f)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime || (a.f === `${kid}.pem` ? -1 : 1));
    const removed: string[] = [];
    for (const { f } of publics.slice(maxActive)) {
      unlinkSync(join(this.publicDir, f));
      removed.push(f.replace(/\.pem$/, ''));
    }
    this.signing = null;
    this.verifying.clear();
    return { kid, removed };
  }

  /** The current signing key; re-read when private.pem changes (a rotation by another process). */
  signingKey(): { kid: string; key: KeyObject } {
    const mtimeMs = statSync(this.privateFile).mtimeMs;
    if (!this.signing || this.signing.mtimeMs !== mtimeMs) {
      const key = createPrivateKey(readFileSync(this.privateFile));
      this.signing = { kid: keyId(createPublicKey(key)), key, mtimeMs };
    }
    return this.signing;
  }

  /** The public key for a kid; an unknown kid rescans the directory at most once a second. */
  verificationKey(kid: string, nowMs = Date.now()): KeyObject | null {
    let key = this.verifying.get(kid);
    if (!key && nowMs - this.lastPublicScan > 1000) {
      this.lastPublicScan = nowMs;
      this.verifying.clear();
      if (existsSync(this.publicDir)) {
        for (const f of readdirSync(this.publicDir).filter((x) => x.endsWith('.pem'))) {
          const pub = createPublicKey(readFileSync(join(this.publicDir, f)));
          this.verifying.set(keyId(pub), pub);
        }
      }
      key = this.verifying.get(kid);
    }
    return key ?? null;
  }

  listPublic(): string[] {
    return existsSync(this.publicDir)
      ? readdirSync(this.publicDir)
          .filter((f) => f.endsWith('.pem'))
          .map((f) => f.replace(/\.pem$/, ''))
      : [];
  }
}

/** A short stable id for a public key: sha256 of its DER form, 16 hex characters. */
function keyId(pub: KeyObject): string {
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}
