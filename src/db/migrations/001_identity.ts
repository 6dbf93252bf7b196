import type { Knex } from 'knex';

/**
 * Keystone's data: domains, projects, users, roles and their assignments, application credentials,
 * the catalog (regions, services, endpoints) and token revocation events.
 * Times are epoch milliseconds (BIGINT) on every engine: exact, and free of time-zone conversions.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('domains', (t) => {
    t.string('id', 64).primary();
    t.string('name', 64).notNullable().unique();
    t.text('description');
    t.boolean('enabled').notNullable().defaultTo(true);
    t.text('extra').notNullable().defaultTo('{}');
    t.bigInteger('created_at').notNullable();
  });
  await db.schema.createTable('projects', (t) => {
    t.string('id', 64).primary();
    t.string('name', 64).notNullable();
    t.string('domain_id', 64).notNullable().references('domains.id');
    t.string('parent_id', 64).nullable();
    t.text('description');
    t.boolean('enabled').notNullable().defaultTo(true);
    t.text('tags').notNullable().defaultTo('[]');
    t.text('extra').notNullable().defaultTo('{}');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.unique(['domain_id', 'name']);
  });
  await db.schema.createTable('users', (t) => {
    t.string('id', 64).primary();
    t.string('name', 255).notNullable();
    t.string('domain_id', 64).notNullable().references('domains.id');
    t.boolean('enabled').notNullable().defaultTo(true);
    t.string('password_hash', 128).nullable();
    t.string('default_project_id', 64).nullable();
    t.text('description');
    t.text('extra').notNullable().defaultTo('{}');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.unique(['domain_id', 'name']);
  });
  await db.schema.createTable('groups', (t) => {
    t.string('id', 64).primary();
    t.string('name', 64).notNullable();
    t.string('domain_id', 64).notNullable().references('domains.id');
    t.text('description');
    t.text('extra').notNullable().defaultTo('{}');
    t.unique(['domain_id', 'name']);
  });
  await db.schema.createTable('group_members', (t) => {
    t.string('group_id', 64).notNullable().references('groups.id').onDelete('CASCADE');
    t.string('user_id', 64).notNullable().references('users.id').onDelete('CASCADE');
    t.primary(['group_id', 'user_id']);
    t.index(['user_id']);
  });
  await db.schema.createTable('roles', (t) => {
    t.string('id', 64).primary();
    t.string('name', 255).notNullable().unique();
    t.text('description');
    t.text('extra').notNullable().defaultTo('{}');
    t.bigInteger('created_at').notNullable();
  });
  // admin implies member implies reader, as Keystone's bootstrap sets it up.
  await db.schema.createTable('implied_roles', (t) => {
    t.string('prior_role_id', 64).notNullable().references('roles.id').onDelete('CASCADE');
    t.string('implied_role_id', 64).notNullable().references('roles.id').onDelete('CASCADE');
    t.primary(['prior_role_id', 'implied_role_id']);
  });
  await db.schema.createTable('role_assignments', (t) => {
    t.string('type', 16).notNullable(); // UserProject | UserDomain | GroupProject | GroupDomain
    t.string('actor_id', 64).notNullable();
    t.string('target_id', 64).notNullable();
    t.string('role_id', 64).notNullable().references('roles.id').onDelete('CASCADE');
    t.primary(['type', 'actor_id', 'target_id', 'role_id']);
    t.index(['actor_id']);
    t.index(['target_id']);
  });
  await db.schema.createTable('application_credentials', (t) => {
    t.string('id', 64).primary();
    t.string('name', 255).notNullable();
    t.string('user_id', 64).notNullable().references('users.id').onDelete('CASCADE');
    t.string('project_id', 64).notNullable();
    t.string('secret_hash', 128).notNullable();
    t.text('description');
    t.bigInteger('expires_at').nullable(); // epoch microseconds: clients expect their microseconds back
    t.boolean('unrestricted').notNullable().defaultTo(false);
    t.text('roles').notNullable(); // [{id, name}] frozen at creation
    t.bigInteger('created_at').notNullable();
    t.unique(['user_id', 'name']);
  });
  await db.schema.createTable('revocation_events', (t) => {
    t.increments('id').primary();
    t.string('audit_id', 64).nullable();
    t.string('user_id', 64).nullable();
    t.string('project_id', 64).nullable();
    t.string('domain_id', 64).nullable();
    t.string('application_credential_id', 64).nullable();
    t.bigInteger('issued_before').notNullable();
    t.bigInteger('created_at').notNullable();
    t.index(['created_at']);
  });
  await db.schema.createTable('regions', (t) => {
    t.string('id', 255).primary();
    t.text('description');
    t.string('parent_region_id', 255).nullable();
    t.text('extra').notNullable().defaultTo('{}');
  });
  await db.schema.createTable('services', (t) => {
    t.string('id', 64).primary();
    t.string('type', 255).notNullable();
    t.string('name', 255).nullable();
    t.text('description');
    t.boolean('enabled').notNullable().defaultTo(true);
    t.text('extra').notNullable().defaultTo('{}');
  });
  await db.schema.createTable('endpoints', (t) => {
    t.string('id', 64).primary();
    t.string('service_id', 64).notNullable().references('services.id');
    t.string('interface', 8).notNullable();
    t.string('region_id', 255).nullable().references('regions.id');
    t.text('url').notNullable();
    t.boolean('enabled').notNullable().defaultTo(true);
    t.text('extra').notNullable().defaultTo('{}');
  });
}

export async function down(db: Knex): Promise<void> {
  for (const table of [
    'endpoints',
    'services',
    'regions',
    'revocation_events',
    'application_credentials',
    'role_assignments',
    'implied_roles',
    'roles',
    'group_members',
    'groups',
    'users',
    'projects',
    'domains',
  ]) {
    await db.schema.dropTableIfExists(table);
  }
}
