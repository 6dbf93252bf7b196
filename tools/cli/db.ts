import type { Command } from 'commander';
import { openDatabase } from '../../src/db/connection.js';
import { migrateLatest, migrationStatus } from '../../src/db/migrate.js';
import { configFrom } from './context.js';

export function dbCommands(program: Command): void {
  const db = program.command('db').description('database schema');
  db.command('migrate')
    .description('bring the database schema to the newest version')
    .action(async (_o, cmd: Command) => {
      const config = configFrom(cmd.optsWithGlobals());
      const knex = openDatabase(config.database.connection);
      try {
        const applied = await migrateLatest(knex);
        console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database schema is up to date');
      } finally {
        await knex.destroy();
      }
    });
  db.command('status')
    .description('list applied and pending migrations')
    .action(async (_o, cmd: Command) => {
      const config = configFrom(cmd.optsWithGlobals());
      const knex = openDatabase(config.database.connection);
      try {
        const { applied, pending } = await migrationStatus(knex);
        console.log(`applied: ${applied.join(', ') || '(none)'}\npending: ${pending.join(', ') || '(none)'}`);
      } finally {
        await knex.destroy();
      }
    });
}
