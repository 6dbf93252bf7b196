import type { Knex } from 'knex';

/** Glance images (image issue). */
export async function up(db: Knex): Promise<void> {
  void db;
}

export async function down(db: Knex): Promise<void> {
  void db;
}
