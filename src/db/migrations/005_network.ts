import type { Knex } from 'knex';

/**
 * Neutron networks, subnets, ports (network issue). Times are epoch ms; every resource table carries Neutron's
 * standard attributes (description, revision_number, created_at, updated_at); booleans are 0/1.
 *
 * networks            id, project_id, name, admin_state_up, status, shared, router_external, mtu,
 *                     port_security_enabled, availability_zone_hints (JSON text),
 *                     the one segment: network_type ('flat' | 'vlan'), physical_network, segmentation_id
 *                     (null for flat) and segment_key (= segmentation_id, 0 for flat): unique
 *                     (physical_network, segment_key) makes a VLAN id, and a flat network, once per physnet.
 * subnets             id, project_id, network_id, name, ip_version (4), cidr (normalized), gateway_ip (null: none),
 *                     enable_dhcp
 * subnet_allocation_pools   subnet_id, first_ip/last_ip (text) and first_int/last_int (IPv4 as integers)
 * subnet_dns_nameservers    subnet_id, address, position (order as given)
 * subnet_host_routes        subnet_id, destination, nexthop
 * ports               id, project_id, network_id, name, mac_address (unique per network), admin_state_up,
 *                     status (DOWN until an agent reports it ACTIVE), device_id, device_owner ('network:dhcp'
 *                     for DHCP ports), port_security_enabled, binding_host_id ('' = unbound),
 *                     binding_vnic_type, binding_profile (JSON text)
 * ip_allocations      port_id, subnet_id, network_id, ip_address, ip_int: unique (network_id, ip_address)
 * port_allowed_address_pairs  port_id, ip_address (address or CIDR), mac_address
 * neutron_tags        resource_type ('network', 'subnet', 'port', 'security_group'), resource_id, tag
 * neutron_quotas      project_id, resource, hard_limit (rows only for limits set through the API)
 * neutron_quota_locks project_id, resource: lock rows that serialize creates against the quota
 */
export async function up(db: Knex): Promise<void> {
  const standard = (t: Knex.CreateTableBuilder) => {
    t.string('description', 255).notNullable().defaultTo('');
    t.integer('revision_number').notNullable().defaultTo(0);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  };
  await db.schema.createTable('networks', (t) => {
    t.string('id', 36).primary();
    t.string('project_id', 64).notNullable().index();
    t.string('name', 255).notNullable().defaultTo('');
    t.boolean('admin_state_up').notNullable().defaultTo(true);
    t.string('status', 16).notNullable().defaultTo('ACTIVE');
    t.boolean('shared').notNullable().defaultTo(false);
    t.boolean('router_external').notNullable().defaultTo(false);
    t.integer('mtu').notNullable();
    t.boolean('port_security_enabled').notNullable().defaultTo(true);
    t.string('availability_zone_hints', 255).notNullable().defaultTo('[]');
    t.string('network_type', 16).notNullable();
    t.string('physical_network', 64).notNullable();
    t.integer('segmentation_id').nullable();
    t.integer('segment_key').notNullable();
    t.unique(['physical_network', 'segment_key']);
    standard(t);
  });
  await db.schema.createTable('subnets', (t) => {
    t.string('id', 36).primary();
    t.string('project_id', 64).notNullable().index();
    t.string('network_id', 36).notNullable().references('networks.id').index();
    t.string('name', 255).notNullable().defaultTo('');
    t.integer('ip_version').notNullable();
    t.string('cidr', 64).notNullable();
    t.string('gateway_ip', 64).nullable();
    t.boolean('enable_dhcp').notNullable().defaultTo(true);
    standard(t);
  });
  await db.schema.createTable('subnet_allocation_pools', (t) => {
    t.increments('id').primary();
    t.string('subnet_id', 36).notNullable().references('subnets.id').onDelete('CASCADE').index();
    t.string('first_ip', 64).notNullable();
    t.string('last_ip', 64).notNullable();
    t.bigInteger('first_int').notNullable();
    t.bigInteger('last_int').notNullable();
  });
  await db.schema.createTable('subnet_dns_nameservers', (t) => {
    t.string('subnet_id', 36).notNullable().references('subnets.id').onDelete('CASCADE');
    t.string('address', 128).notNullable();
    t.integer('position').notNullable();
    t.primary(['subnet_id', 'address']);
  });
  await db.schema.createTable('subnet_host_routes', (t) => {
    t.string('subnet_id', 36).notNullable().references('subnets.id').onDelete('CASCADE');
    t.string('destination', 64).notNullable();
    t.string('nexthop', 64).notNullable();
    t.primary(['subnet_id', 'destination', 'nexthop']);
  });
  await db.schema.createTable('ports', (t) => {
    t.string('id', 36).primary();
    t.string('project_id', 64).notNullable().index();
    t.string('network_id', 36).notNullable().references('networks.id');
    t.string('name', 255).notNullable().defaultTo('');
    t.string('mac_address', 32).notNullable();
    t.boolean('admin_state_up').notNullable().defaultTo(true);
    t.string('status', 16).notNullable().defaultTo('DOWN');
    t.string('device_id', 255).notNullable().defaultTo('');
    t.string('device_owner', 255).notNullable().defaultTo('');
    t.boolean('port_security_enabled').notNullable().defaultTo(true);
    t.string('binding_host_id', 255).notNullable().defaultTo('');
    t.string('binding_vnic_type', 64).notNullable().defaultTo('normal');
    t.text('binding_profile').notNullable();
    t.unique(['network_id', 'mac_address']);
    t.index(['device_id']);
    t.index(['binding_host_id']);
    standard(t);
  });
  await db.schema.createTable('ip_allocations', (t) => {
    t.string('port_id', 36).notNullable().references('ports.id').onDelete('CASCADE');
    t.string('subnet_id', 36).notNullable().references('subnets.id');
    t.string('network_id', 36).notNullable();
    t.string('ip_address', 64).notNullable();
    t.bigInteger('ip_int').notNullable();
    t.primary(['port_id', 'ip_address']);
    t.unique(['network_id', 'ip_address']);
    t.index(['subnet_id', 'ip_int']);
  });
  await db.schema.createTable('port_allowed_address_pairs', (t) => {
    t.string('port_id', 36).notNullable().references('ports.id').onDelete('CASCADE');
    t.string('ip_address', 64).notNullable();
    t.string('mac_address', 32).notNullable();
    t.primary(['port_id', 'ip_address', 'mac_address']);
  });
  await db.schema.createTable('neutron_tags', (t) => {
    t.string('resource_type', 32).notNullable();
    t.string('resource_id', 36).notNullable();
    t.string('tag', 255).notNullable();
    t.primary(['resource_id', 'tag']);
    t.index(['resource_type', 'tag']);
  });
  await db.schema.createTable('neutron_quotas', (t) => {
    t.string('project_id', 64).notNullable();
    t.string('resource', 64).notNullable();
    t.integer('hard_limit').notNullable();
    t.primary(['project_id', 'resource']);
  });
  await db.schema.createTable('neutron_quota_locks', (t) => {
    t.string('project_id', 64).notNullable();
    t.string('resource', 64).notNullable();
    t.primary(['project_id', 'resource']);
  });
}

export async function down(db: Knex): Promise<void> {
  for (const table of [
    'neutron_quota_locks',
    'neutron_quotas',
    'neutron_tags',
    'port_allowed_address_pairs',
    'ip_allocations',
    'ports',
    'subnet_host_routes',
    'subnet_dns_nameservers',
    'subnet_allocation_pools',
    'subnets',
    'networks',
  ])
    await db.schema.dropTableIfExists(table);
}
