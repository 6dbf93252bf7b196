import type { Knex } from 'knex';

/**
 * Glance images: the image rows, their free-form string properties, tags and members (shared images).
 * Rows are deleted for real (no Glance-style soft delete): a deleted image is simply not found.
 * The data file is named by (store, location), the path relative to the store's mount, so every host
 * resolves it through its own mount of the shared store.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('images', (t) => {
    t.string('id', 36).primary();
    t.string('name', 255).nullable();
    t.string('status', 30).notNullable();
    t.string('visibility', 16).notNullable();
    t.boolean('protected').notNullable().defaultTo(false);
    t.boolean('os_hidden').notNullable().defaultTo(false);
    t.string('owner', 255).nullable();
    t.string('disk_format', 32).nullable();
    t.string('container_format', 32).nullable();
    t.integer('min_disk').notNullable().defaultTo(0);
    t.integer('min_ram').notNullable().defaultTo(0);
    t.bigInteger('size').nullable();
    t.bigInteger('virtual_size').nullable();
    t.string('checksum', 32).nullable();
    t.string('os_hash_algo', 64).nullable();
    t.string('os_hash_value', 128).nullable();
    t.string('store', 255).nullable();
    t.string('location', 1024).nullable();
    /** The upload that moved the image to `saving`: only that upload may finish or undo it. */
    t.string('upload_id', 36).nullable();
    /** Renewed while that upload streams: a `saving` image whose upload stopped renewing was left by a crash. */
    t.bigInteger('upload_heartbeat_at').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['owner']);
    t.index(['created_at']);
    t.index(['visibility']);
  });
  await db.schema.createTable('image_properties', (t) => {
    t.string('image_id', 36).notNullable().references('images.id').onDelete('CASCADE');
    t.string('name', 255).notNullable();
    t.text('value').notNullable();
    t.primary(['image_id', 'name']);
  });
  await db.schema.createTable('image_tags', (t) => {
    t.string('image_id', 36).notNullable().references('images.id').onDelete('CASCADE');
    t.string('value', 255).notNullable();
    t.primary(['image_id', 'value']);
  });
  await db.schema.createTable('image_members', (t) => {
    t.string('image_id', 36).notNullable().references('images.id').onDelete('CASCADE');
    t.string('member', 255).notNullable();
    t.string('status', 20).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.primary(['image_id', 'member']);
    t.index(['member']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('image_members');
  await db.schema.dropTableIfExists('image_tags');
  await db.schema.dropTableIfExists('image_properties');
  await db.schema.dropTableIfExists('images');
}
