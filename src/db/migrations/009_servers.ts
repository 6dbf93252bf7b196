import type { Knex } from 'knex';

/**
 * Nova servers and what hangs off them (compute issue): the server record as the API shows it (placement and
 * the domain spec stay in `instances`, the cluster's table), metadata, tags, instance actions and their
 * events, durable tasks (design §3), server groups and per-project quota overrides.
 * Servers are soft-deleted (`deleted_at`) as Nova's, so `changes-since` and admins' `deleted=true` see them.
 * TEXT columns have no defaults (MariaDB refuses them): inserts always set them.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('servers', (t) => {
    t.string('uuid', 36).primary();
    t.string('project_id', 255).notNullable();
    t.string('user_id', 255).notNullable();
    t.string('name', 255).notNullable();
    t.string('hostname', 255).notNullable();
    t.text('description').nullable();
    t.string('image_id', 36).notNullable(); // '' when booted from a volume
    /** The flavor as it was at boot (Nova's embedded flavor, 2.47): id, name, vcpus, ram, disk, ... */
    t.text('flavor').notNullable();
    t.integer('vcpus').notNullable(); // the flavor's, as columns: quota usage and the scheduler sum them
    t.integer('memory_mb').notNullable();
    t.integer('root_gb').notNullable();
    t.string('key_name', 255).nullable();
    t.text('key_data').nullable();
    t.text('user_data').nullable(); // base64, as given
    t.boolean('config_drive').notNullable();
    t.string('availability_zone', 255).nullable(); // requested (null: any), or where it landed
    t.string('vm_state', 32).notNullable(); // building active stopped paused suspended error deleted
    t.string('task_state', 32).nullable();
    t.integer('power_state').notNullable(); // 0 nostate 1 running 3 paused 4 shutdown 6 crashed 7 suspended
    t.integer('progress').notNullable();
    t.integer('host_id').unsigned().nullable(); // null until scheduled (and after a failed boot)
    t.boolean('locked').notNullable();
    t.string('locked_by', 16).nullable(); // admin | owner
    t.string('locked_reason', 255).nullable();
    t.string('reservation_id', 32).notNullable();
    t.integer('launch_index').notNullable();
    t.string('access_ip_v4', 64).nullable();
    t.string('access_ip_v6', 64).nullable();
    /** What the create asked for: networks, security groups, scheduler hints (the boot task reads them). */
    t.text('request').notNullable();
    t.text('fault').nullable(); // {code, message, details, created}
    t.bigInteger('launched_at').nullable();
    t.bigInteger('terminated_at').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.bigInteger('deleted_at').nullable();
    t.index(['project_id', 'deleted_at']);
    t.index(['host_id']);
    t.index(['updated_at']);
    t.index(['reservation_id']);
  });
  await db.schema.createTable('server_metadata', (t) => {
    t.string('server_uuid', 36).notNullable().references('servers.uuid').onDelete('CASCADE');
    t.string('key', 255).notNullable();
    t.string('value', 255).notNullable();
    t.primary(['server_uuid', 'key']);
  });
  await db.schema.createTable('server_tags', (t) => {
    t.string('server_uuid', 36).notNullable().references('servers.uuid').onDelete('CASCADE');
    t.string('tag', 60).notNullable();
    t.primary(['server_uuid', 'tag']);
    t.index(['tag']);
  });
  await db.schema.createTable('instance_actions', (t) => {
    t.increments('id').primary();
    t.string('request_id', 64).notNullable();
    t.string('server_uuid', 36).notNullable();
    t.string('action', 64).notNullable();
    t.string('project_id', 255).notNullable();
    t.string('user_id', 255).notNullable();
    t.text('message').nullable(); // 'Error' when an event failed, as Nova's
    t.bigInteger('start_time').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['server_uuid', 'start_time']);
    t.unique(['server_uuid', 'request_id']);
  });
  await db.schema.createTable('instance_action_events', (t) => {
    t.increments('id').primary();
    t.integer('action_id').unsigned().notNullable().references('instance_actions.id').onDelete('CASCADE');
    t.string('event', 64).notNullable();
    t.string('result', 16).nullable(); // Success | Error, null while running
    t.text('traceback').nullable();
    t.string('host', 255).nullable();
    t.bigInteger('start_time').notNullable();
    t.bigInteger('finish_time').nullable();
    t.unique(['action_id', 'event']);
  });
  await db.schema.createTable('tasks', (t) => {
    t.string('id', 36).primary();
    t.string('kind', 32).notNullable(); // boot, delete, action
    t.string('server_uuid', 36).notNullable();
    t.string('state', 16).notNullable(); // pending running done failed
    t.string('step', 64).notNullable(); // the next step to run; steps are idempotent
    t.text('payload').notNullable();
    t.string('owner', 64).nullable(); // the API process running it
    t.bigInteger('heartbeat_at').nullable(); // a running task whose heartbeat is stale is claimed by another
    t.integer('attempts').notNullable();
    t.text('error').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['state', 'heartbeat_at']);
    t.index(['server_uuid']);
  });
  await db.schema.createTable('server_groups', (t) => {
    t.string('uuid', 36).primary();
    t.string('project_id', 255).notNullable();
    t.string('user_id', 255).notNullable();
    t.string('name', 255).notNullable();
    t.string('policy', 32).notNullable(); // affinity anti-affinity soft-affinity soft-anti-affinity
    t.text('rules').notNullable(); // {"max_server_per_host": N} (2.64)
    t.bigInteger('created_at').notNullable();
    t.index(['project_id']);
  });
  await db.schema.createTable('server_group_members', (t) => {
    t.string('group_uuid', 36).notNullable().references('server_groups.uuid').onDelete('CASCADE');
    t.string('server_uuid', 36).notNullable();
    t.primary(['group_uuid', 'server_uuid']);
    t.unique(['server_uuid']); // a server is in at most one group
  });
  /** Per-project (and per-user, for key pairs) overrides of the [compute] quota_* defaults. */
  await db.schema.createTable('compute_quotas', (t) => {
    t.string('project_id', 255).notNullable();
    t.string('user_id', 255).notNullable(); // '' for the project's own limit
    t.string('resource', 64).notNullable();
    t.integer('hard_limit').notNullable(); // -1: unlimited
    t.primary(['project_id', 'user_id', 'resource']);
  });
}

export async function down(db: Knex): Promise<void> {
  for (const table of [
    'compute_quotas',
    'server_group_members',
    'server_groups',
    'tasks',
    'instance_action_events',
    'instance_actions',
    'server_tags',
    'server_metadata',
    'servers',
  ])
    await db.schema.dropTableIfExists(table);
}
