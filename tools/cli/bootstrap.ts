import type { Command } from 'commander';
import { openDatabase } from '../../src/db/connection.js';
import { bootstrap, type BootstrapResult } from '../../src/identity/bootstrap.js';
import { PasswordHasher } from '../../src/identity/passwords.js';
import { configFrom, type LoadedConfig } from './context.js';

export async function runBootstrap(config: LoadedConfig): Promise<BootstrapResult> {
  const knex = openDatabase(config.database.connection);
  try {
    return await bootstrap(
      knex,
      config,
      new PasswordHasher(config.identity.password_hash_rounds),
      Date.now(),
    );
  } finally {
    await knex.destroy();
  }
}

export function bootstrapCommand(program: Command): void {
  program
    .command('bootstrap')
    .description('create the default domain, roles, admin project and user, region and catalog (idempotent)')
    .action(async (_o, cmd: Command) => {
      const config = configFrom(cmd.optsWithGlobals());
      const result = await runBootstrap(config);
      for (const c of result.changes) console.log(`- ${c}`);
      if (!result.changes.length) console.log('everything was already in place');
      if (result.adminPassword) console.log(`admin password: ${result.adminPassword}`);
    });
}
