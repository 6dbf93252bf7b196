import type { Knex } from 'knex';

/**
 * The cluster: hosts (each one a nova-compute service and a hypervisor to the compute API), what every host
 * reads of every other host's storage lease (the bypass report of design §5), and each VM's desired state
 * as the agents reconcile towards it (owner host and generation).
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('hosts', (t) => {
    t.increments('id').primary(); // Nova's integer service/hypervisor id (< 2.53)
    t.string('uuid', 36).notNullable().unique(); // and its UUID id (>= 2.53)
    t.string('hostname', 255).notNullable().unique();
    t.string('host_uuid', 36).notNullable(); // libvirt's host_uuid: a second machine with the same name is refused
    t.string('host_ip', 64).notNullable();
    t.string('rpc_url', 255).notNullable();
    t.string('rpc_secret', 128).notNullable();
    t.string('credential_hash', 128).notNullable().unique();
    t.string('availability_zone', 255).notNullable().defaultTo('nova');
    t.boolean('enabled').notNullable().defaultTo(true);
    t.string('disabled_reason', 255).nullable();
    t.boolean('forced_down').notNullable().defaultTo(false);
    t.bigInteger('revoked_at').nullable();
    t.text('inventory').notNullable().defaultTo('{}');
    t.text('domains').notNullable().defaultTo('[]');
    t.text('stores').notNullable().defaultTo('[]');
    t.bigInteger('lease_counter').nullable();
    t.bigInteger('last_report_at').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });
  await db.schema.createTable('lease_observations', (t) => {
    t.integer('observer_id').unsigned().notNullable().references('hosts.id').onDelete('CASCADE');
    t.integer('subject_id').unsigned().notNullable().references('hosts.id').onDelete('CASCADE');
    t.bigInteger('counter').notNullable();
    /** When the observer last saw the counter change, converted to the API's clock at report time. */
    t.bigInteger('changed_at').notNullable();
    t.bigInteger('reported_at').notNullable();
    t.primary(['observer_id', 'subject_id']);
  });
  await db.schema.createTable('instances', (t) => {
    t.string('uuid', 36).primary();
    t.integer('host_id').unsigned().nullable().references('hosts.id');
    t.integer('generation').notNullable().defaultTo(1);
    t.string('desired_power', 16).notNullable().defaultTo('running'); // running | stopped
    t.text('spec').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['host_id']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('instances');
  await db.schema.dropTableIfExists('lease_observations');
  await db.schema.dropTableIfExists('hosts');
}
