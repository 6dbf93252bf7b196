import type { Knex } from 'knex';

/**
 * Nova flavors (extra specs, project access) and key pairs (compute issue). Deleted flavors and key pairs
 * are removed, not soft-deleted, so a name or flavor id can be reused and `deleted` is always false.
 * TEXT columns (description, public_key) have no defaults: MariaDB refuses them, so inserts always set them.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('flavors', (t) => {
    t.increments('id').primary();
    t.string('flavorid', 255).notNullable().unique();
    t.string('name', 255).notNullable().unique();
    t.integer('memory_mb').notNullable();
    t.integer('vcpus').notNullable();
    t.integer('root_gb').notNullable();
    t.integer('ephemeral_gb').notNullable();
    t.integer('swap').notNullable();
    t.double('rxtx_factor').notNullable();
    t.boolean('is_public').notNullable();
    t.boolean('disabled').notNullable();
    t.text('description').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').nullable();
  });
  await db.schema.createTable('flavor_extra_specs', (t) => {
    t.integer('flavor_id').unsigned().notNullable().references('flavors.id').onDelete('CASCADE');
    t.string('key', 255).notNullable();
    t.string('value', 255).notNullable();
    t.primary(['flavor_id', 'key']);
  });
  await db.schema.createTable('flavor_projects', (t) => {
    t.integer('flavor_id').unsigned().notNullable().references('flavors.id').onDelete('CASCADE');
    t.string('project_id', 255).notNullable();
    t.primary(['flavor_id', 'project_id']);
    t.index(['project_id']);
  });
  await db.schema.createTable('key_pairs', (t) => {
    t.increments('id').primary();
    t.string('user_id', 255).notNullable();
    t.string('name', 255).notNullable();
    t.string('fingerprint', 255).notNullable();
    t.text('public_key').notNullable();
    t.string('type', 8).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').nullable();
    t.unique(['user_id', 'name']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('key_pairs');
  await db.schema.dropTableIfExists('flavor_projects');
  await db.schema.dropTableIfExists('flavor_extra_specs');
  await db.schema.dropTableIfExists('flavors');
}
