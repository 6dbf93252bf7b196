import type { Knex } from 'knex';

/** Neutron networks, subnets, ports (network issue). */
export async function up(db: Knex): Promise<void> {
  void db;
}

export async function down(db: Knex): Promise<void> {
  void db;
}
