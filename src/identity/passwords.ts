import { hash, verify } from '@node-rs/bcrypt';

/**
 * bcrypt, as Keystone stores passwords ($2b$ hashes), so a Keystone user table can be imported as it is.
 * Runs on libuv's thread pool, off the event loop.
 */
export class PasswordHasher {
  constructor(private readonly rounds: number) {}

  hash(secret: string): Promise<string> {
    return hash(secret, this.rounds);
  }

  async verify(secret: string, stored: string | null): Promise<boolean> {
    if (!stored) return false;
    try {
      return await verify(secret, stored);
    } catch {
      return false;
    }
  }
}
