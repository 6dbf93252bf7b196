import type { Command } from 'commander';
import { KeyRepository } from '../../src/identity/tokens/keys.js';
import { configFrom } from './context.js';

export function keyCommands(program: Command): void {
  const keys = program.command('keys').description('token signing keys (ES256 key repository)');
  keys
    .command('setup')
    .description('create the first signing key if the repository is empty')
    .action((_o, cmd: Command) => {
      const repo = new KeyRepository(configFrom(cmd.optsWithGlobals()).token.key_repository);
      console.log(
        repo.ensure()
          ? `created the first signing key in ${repo.dir}`
          : `signing keys already present in ${repo.dir}`,
      );
    });
  keys
    .command('rotate')
    .description('make a new signing key; keep the newest [token] max_active_keys public keys')
    .action((_o, cmd: Command) => {
      const config = configFrom(cmd.optsWithGlobals());
      const repo = new KeyRepository(config.token.key_repository);
      const { kid, removed } = repo.rotate(config.token.max_active_keys);
      console.log(
        `new signing key ${kid}; tokens signed by ${removed.length ? removed.join(', ') : 'no key'} no longer validate`,
      );
      console.log(
        'copy the repository to every API host (as with Keystone keys); running API processes pick it up without a restart',
      );
    });
  keys
    .command('list')
    .description('list the public keys tokens are accepted with')
    .action((_o, cmd: Command) => {
      const repo = new KeyRepository(configFrom(cmd.optsWithGlobals()).token.key_repository);
      const current = repo.exists() ? repo.signingKey().kid : null;
      for (const kid of repo.listPublic()) console.log(`${kid}${kid === current ? '  (signing)' : ''}`);
    });
}
