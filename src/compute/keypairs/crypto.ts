/**
 * Key material as Nova's nova/crypto.py handles it, with Node's crypto only: Node cannot read OpenSSH public
 * keys, so the wire format (RFC 4253 §6.6, RFC 5656, RFC 8709) is parsed here and the key checked by
 * building it as a JWK with crypto.createPublicKey.
 */
import { X509Certificate, createHash, createPublicKey, generateKeyPair } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { run } from '../../common/exec.js';

export class InvalidKey extends Error {}

function readString(buf: Buffer, at: number): [Buffer, number] {
  if (at + 4 > buf.length) throw new InvalidKey('truncated');
  const len = buf.readUInt32BE(at);
  if (at + 4 + len > buf.length) throw new InvalidKey('truncated');
  return [buf.subarray(at + 4, at + 4 + len), at + 4 + len];
}

/** An mpint without its sign byte, as JWK wants it. */
const unsigned = (b: Buffer): Buffer => (b.length > 1 && b[0] === 0 ? b.subarray(1) : b);

const CURVES: Record<string, { crv: string; size: number }> = {
  nistp256: { crv: 'P-256', size: 32 },
  nistp384: { crv: 'P-384', size: 48 },
  nistp521: { crv: 'P-521', size: 66 },
};

/** Throws InvalidKey unless `text` is "<type> <base64 blob> [comment]" holding a well-formed key. */
function checkOpenSsh(text: string): Buffer {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 2 || !/^[A-Za-z0-9+/]+={0,2}$/.test(parts[1]))
    throw new InvalidKey('not an OpenSSH key');
  const blob = Buffer.from(parts[1], 'base64');
  const [typeBuf, at] = readString(blob, 0);
  const type = typeBuf.toString('latin1');
  if (type !== parts[0]) throw new InvalidKey('key type mismatch');
  const fields: Buffer[] = [];
  for (let p = at; p < blob.length;) {
    const [f, next] = readString(blob, p);
    fields.push(f);
    p = next;
  }
  try {
    if (type === 'ssh-rsa' && fields.length === 2) {
      createPublicKey({
        key: {
          kty: 'RSA',
          e: unsigned(fields[0]).toString('base64url'),
          n: unsigned(fields[1]).toString('base64url'),
        },
        format: 'jwk',
      });
    } else if (type === 'ssh-ed25519' && fields.length === 1 && fields[0].length === 32) {
      createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: fields[0].toString('base64url') },
        format: 'jwk',
      });
    } else if (type.startsWith('ecdsa-sha2-') && fields.length === 2) {
      const curve = CURVES[type.slice('ecdsa-sha2-'.length)];
      const point = fields[1];
      if (
        !curve ||
        fields[0].toString('latin1') !== type.slice(11) ||
        point[0] !== 4 ||
        point.length !== 1 + 2 * curve.size
      ) {
        throw new InvalidKey('bad ecdsa key');
      }
      createPublicKey({
        key: {
          kty: 'EC',
          crv: curve.crv,
          x: point.subarray(1, 1 + curve.size).toString('base64url'),
          y: point.subarray(1 + curve.size).toString('base64url'),
        },
        format: 'jwk',
      });
    } else if (type === 'ssh-dss' && fields.length === 4) {
      // DSA: structure only (p, q, g, y); JWK has no DSA form
    } else {
      throw new InvalidKey(`unsupported key type ${type}`);
    }
  } catch (err) {
    throw err instanceof InvalidKey ? err : new InvalidKey('bad key');
  }
  return blob;
}

const colons = (hex: string): string => hex.match(/../g)!.join(':');

/** Nova's generate_fingerprint: MD5 of the key blob, lower-case hex in colon form. */
export function sshFingerprint(publicKey: string): string {
  const blob = checkOpenSsh(publicKey);
  return colons(createHash('md5').update(blob).digest('hex'));
}

/** Nova's generate_x509_fingerprint: SHA-1 of the certificate's DER, lower-case hex in colon form. */
export function x509Fingerprint(pem: string): string {
  try {
    return new X509Certificate(pem).fingerprint.toLowerCase();
  } catch (err) {
    throw new InvalidKey(`failed to generate X509 fingerprint. Error message: ${(err as Error).message}`);
  }
}

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}
/** A positive integer as an SSH mpint: a leading zero byte when the top bit is set. */
const mpint = (b: Buffer): Buffer => sshString(b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);

/**
 * Nova's generate_key_pair: a 2048-bit RSA key, the private half in PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"),
 * the public half in OpenSSH form with Nova's "Generated-by-Nova" comment.
 */
export async function generateSshKeyPair(): Promise<{
  privateKey: string;
  publicKey: string;
  fingerprint: string;
}> {
  // off the event loop (libuv's thread pool): 2048-bit generation takes ~170 ms of CPU
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    publicExponent: 65537,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const jwk = createPublicKey(publicKey).export({ format: 'jwk' });
  const blob = Buffer.concat([
    sshString(Buffer.from('ssh-rsa')),
    mpint(Buffer.from(jwk.e as string, 'base64url')),
    mpint(Buffer.from(jwk.n as string, 'base64url')),
  ]);
  const ssh = `ssh-rsa ${blob.toString('base64')} Generated-by-Nova`;
  return { privateKey, publicKey: ssh, fingerprint: sshFingerprint(ssh) };
}

/**
 * Nova's generate_winrm_x509_cert, done the way Nova does it (the openssl CLI): a self-signed client
 * certificate for CN=<user id> with the user's UPN, valid ten years; the private key is the base64 of a
 * PKCS#12 bundle with an empty password.
 */
export async function generateX509KeyPair(
  userId: string,
): Promise<{ privateKey: string; publicKey: string; fingerprint: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kvmstack-x509-'));
  try {
    const conf = join(dir, 'temp.conf');
    const key = join(dir, 'temp.key');
    const cert = join(dir, 'temp.crt');
    const p12 = join(dir, 'temp.p12');
    writeFileSync(
      conf,
      'distinguished_name  = req_distinguished_name\n[req_distinguished_name]\n[v3_req_client]\n' +
        `extendedKeyUsage = clientAuth\nsubjectAltName = otherName:1.3.6.1.4.1.311.20.2.3;UTF8:${userId}@localhost\n`,
    );
    // -subj is one argument of an argument array: the user id never meets a shell
    await run('openssl', [
      'req',
      '-x509',
      '-nodes',
      '-days',
      '3650',
      '-config',
      conf,
      '-newkey',
      'rsa:2048',
      '-outform',
      'PEM',
      '-keyout',
      key,
      '-subj',
      `/CN=${userId.replace(/[/\\]/g, '_')}`,
      '-extensions',
      'v3_req_client',
      '-out',
      cert,
    ]);
    await run('openssl', [
      'pkcs12',
      '-export',
      '-inkey',
      key,
      '-in',
      cert,
      '-password',
      'pass:',
      '-out',
      p12,
    ]);
    const certificate = readFileSync(cert, 'utf8');
    return {
      privateKey: readFileSync(p12).toString('base64'),
      publicKey: certificate,
      fingerprint: x509Fingerprint(certificate),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
