import type { Knex } from 'knex';

/** Nova host aggregates (compute issue). */
export async function up(db: Knex): Promise<void> {
  void db;
}

export async function down(db: Knex): Promise<void> {
  void db;
}
