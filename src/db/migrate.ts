import type { Knex } from 'knex';
import * as m001 from './migrations/001_identity.js';
import * as m002 from './migrations/002_domain_roles.js';
import * as m003 from './migrations/003_cluster.js';
import * as m004 from './migrations/004_images.js';
import * as m005 from './migrations/005_network.js';
import * as m006 from './migrations/006_security_groups.js';
import * as m007 from './migrations/007_flavors_keypairs.js';
import * as m008 from './migrations/008_aggregates.js';
import * as m009 from './migrations/009_servers.js';

interface Migration {
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

/** Migrations in order. Listed explicitly so they work from the compiled tree without filesystem scanning. */
const MIGRATIONS: [string, Migration][] = [
  ['001_identity', m001],
  ['002_domain_roles', m002],
  ['003_cluster', m003],
  ['004_images', m004],
  ['005_network', m005],
  ['006_security_groups', m006],
  ['007_flavors_keypairs', m007],
  ['008_aggregates', m008],
  ['009_servers', m009],
];

const source: Knex.MigrationSource<Migration> = {
  getMigrations: async () => MIGRATIONS.map(([, m]) => m),
  getMigrationName: (m) => (MIGRATIONS.find(([, x]) => x === m) as [string, Migration])[0],
  getMigration: async (m) => m,
};

const settings = { migrationSource: source, tableName: 'kvmstack_migrations' };

/** Brings the schema to the newest version; returns the names applied. */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(settings)) as [number, string[]];
  return applied;
}

export async function migrationStatus(db: Knex): Promise<{ applied: string[]; pending: string[] }> {
  const [done, pending] = (await db.migrate.list(settings)) as [{ name: string }[], Migration[]];
  return { applied: done.map((d) => d.name), pending: pending.map((m) => source.getMigrationName(m)) };
}
