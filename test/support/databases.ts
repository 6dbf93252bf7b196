import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory from 'knex';

export type Backend = 'sqlite' | 'mariadb';

/**
 * The database engines the data-layer and API tests run on: both unless KVMSTACK_TEST_DBS names a subset.
 * MariaDB is not optional: tools/test.sh starts it; a missing server fails the tests instead of skipping them.
 */
export function testBackends(): Backend[] {
  const wanted = (process.env.KVMSTACK_TEST_DBS ?? 'sqlite,mariadb').split(',').map((s) => s.trim());
  return (['sqlite', 'mariadb'] as const).filter((b) => wanted.includes(b));
}

const MARIADB_USER = process.env.KVMSTACK_TEST_MARIADB_USER ?? 'kvmstack_test';
const MARIADB_PASSWORD = process.env.KVMSTACK_TEST_MARIADB_PASSWORD ?? 'kvmstack_test';
const MARIADB_HOST = process.env.KVMSTACK_TEST_MARIADB_HOST ?? '127.0.0.1';

export interface TestDatabase {
  backend: Backend;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database: a temp SQLite file, or a new MariaDB schema kvmstack_t_<random>. */
export async function createTestDatabase(backend: Backend): Promise<TestDatabase> {
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'kvmstack-db-'));
    return {
      backend,
      url: `sqlite://${join(dir, 'test.sqlite')}`,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const name = `kvmstack_t_${randomBytes(6).toString('hex')}`;
  const admin = knexFactory({
    client: 'mysql2',
    connection: { host: MARIADB_HOST, user: MARIADB_USER, password: MARIADB_PASSWORD },
    pool: { min: 0, max: 1 },
  });
  try {
    await admin.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } catch (err) {
    await admin.destroy();
    throw new Error(`MariaDB is needed for the tests (run tools/mariadb.sh): ${(err as Error).message}`);
  }
  await admin.destroy();
  const url = `mysql://${MARIADB_USER}:${MARIADB_PASSWORD}@${MARIADB_HOST}:3306/${name}`;
  return {
    backend,
    url,
    drop: async () => {
      const k = knexFactory({
        client: 'mysql2',
        connection: { host: MARIADB_HOST, user: MARIADB_USER, password: MARIADB_PASSWORD },
        pool: { min: 0, max: 1 },
      });
      try {
        await k.raw(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await k.destroy();
      }
    },
  };
}
