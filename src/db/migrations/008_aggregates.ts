import type { Knex } from 'knex';

/**
 * Nova host aggregates. Members are hosts rows (a deleted host leaves its aggregates, as Nova's service
 * delete does); metadata is key → string, `availability_zone` among it. Deleted aggregates are removed, not
 * soft-deleted, so `deleted` is always false in the API and a name can be reused.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('aggregates', (t) => {
    t.increments('id').primary();
    t.string('uuid', 36).notNullable().unique();
    t.string('name', 255).notNullable().unique();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').nullable();
  });
  await db.schema.createTable('aggregate_hosts', (t) => {
    t.integer('aggregate_id').unsigned().notNullable().references('aggregates.id').onDelete('CASCADE');
    t.integer('host_id').unsigned().notNullable().references('hosts.id').onDelete('CASCADE');
    t.primary(['aggregate_id', 'host_id']);
    t.index(['host_id']);
  });
  await db.schema.createTable('aggregate_metadata', (t) => {
    t.integer('aggregate_id').unsigned().notNullable().references('aggregates.id').onDelete('CASCADE');
    t.string('key', 255).notNullable();
    t.string('value', 255).notNullable();
    t.primary(['aggregate_id', 'key']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('aggregate_metadata');
  await db.schema.dropTableIfExists('aggregate_hosts');
  await db.schema.dropTableIfExists('aggregates');
}
