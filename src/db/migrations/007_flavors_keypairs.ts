import type { Knex } from 'knex';

/** Nova flavors (extra specs, access) and key pairs (compute issue). */
export async function up(db: Knex): Promise<void> {
  void db;
}

export async function down(db: Knex): Promise<void> {
  void db;
}
