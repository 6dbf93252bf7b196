import type { Knex } from 'knex';

/**
 * Domain-specific roles: a role belongs to a domain or is global. Global roles carry Keystone's sentinel
 * '<<null>>' instead of NULL so that (name, domain_id) stays unique for them on every engine (NULLs never
 * collide in a unique index), exactly as Keystone's role table does.
 */
const GLOBAL_ROLE_DOMAIN = '<<null>>';

export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('roles', (t) => {
    t.string('domain_id', 64).notNullable().defaultTo(GLOBAL_ROLE_DOMAIN);
  });
  await db.schema.alterTable('roles', (t) => {
    t.dropUnique(['name']);
    t.unique(['name', 'domain_id']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db('roles').whereNot({ domain_id: GLOBAL_ROLE_DOMAIN }).delete();
  await db.schema.alterTable('roles', (t) => {
    t.dropUnique(['name', 'domain_id']);
    t.unique(['name']);
  });
  await db.schema.alterTable('roles', (t) => {
    t.dropColumn('domain_id');
  });
}
