import type { Knex } from 'knex';

/**
 * Neutron security groups. Times are epoch ms; each resource table has the standard attributes of 005.
 *
 * security_groups               id, project_id, name, stateful
 * security_group_rules          id, project_id (the creator's, as Neutron), security_group_id, direction,
 *                               ethertype, protocol (lower-case name or number text, null = any),
 *                               port_range_min/max, remote_ip_prefix (as given, with its mask),
 *                               remote_group_id; dedup_key = the rule's normalized identity: unique per group,
 *                               so two concurrent identical creates cannot both succeed (409 SecurityGroupRuleExists)
 * default_security_group        project_id → its `default` group; the primary key makes two concurrent
 *                               first uses create one default group (Neutron's table of the same name)
 * security_group_port_bindings  port ↔ group; deleting a port removes its bindings, a bound group cannot go
 */
export async function up(db: Knex): Promise<void> {
  const standard = (t: Knex.CreateTableBuilder) => {
    t.string('description', 255).notNullable().defaultTo('');
    t.integer('revision_number').notNullable().defaultTo(0);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  };
  await db.schema.createTable('security_groups', (t) => {
    t.string('id', 36).primary();
    t.string('project_id', 64).notNullable().index();
    t.string('name', 255).notNullable().defaultTo('');
    t.boolean('stateful').notNullable().defaultTo(true);
    standard(t);
  });
  await db.schema.createTable('security_group_rules', (t) => {
    t.string('id', 36).primary();
    t.string('project_id', 64).notNullable().index();
    t.string('security_group_id', 36).notNullable().references('security_groups.id').onDelete('CASCADE');
    t.string('direction', 16).notNullable();
    t.string('ethertype', 8).notNullable();
    t.string('protocol', 40).nullable();
    t.integer('port_range_min').nullable();
    t.integer('port_range_max').nullable();
    t.string('remote_ip_prefix', 64).nullable();
    // Neutron deletes the rules that name a group as their remote when that group goes.
    t.string('remote_group_id', 36).nullable().references('security_groups.id').onDelete('CASCADE').index();
    t.string('dedup_key', 191).notNullable();
    t.unique(['security_group_id', 'dedup_key']);
    standard(t);
  });
  await db.schema.createTable('default_security_group', (t) => {
    t.string('project_id', 64).primary();
    t.string('security_group_id', 36)
      .notNullable()
      .unique()
      .references('security_groups.id')
      .onDelete('CASCADE');
  });
  await db.schema.createTable('security_group_port_bindings', (t) => {
    t.string('port_id', 36).notNullable().references('ports.id').onDelete('CASCADE');
    // No cascade: deleting a group that a port still uses fails (409 SecurityGroupInUse), even in a race.
    t.string('security_group_id', 36).notNullable().references('security_groups.id').index();
    t.primary(['port_id', 'security_group_id']);
  });
}

export async function down(db: Knex): Promise<void> {
  for (const table of [
    'security_group_port_bindings',
    'default_security_group',
    'security_group_rules',
    'security_groups',
  ])
    await db.schema.dropTableIfExists(table);
}
