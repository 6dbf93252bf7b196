import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { livePidFrom } from '../../src/common/pidfile.js';
import { startApiService } from '../../src/service.js';
import { configFrom } from './context.js';

export function apiCommand(program: Command): void {
  program
    .command('api')
    .description('run the API service in the foreground')
    .option('--pid-file <file>', 'write the pid here while running')
    .action(async (opts: { pidFile?: string }, cmd: Command) => {
      const config = configFrom(cmd.optsWithGlobals());
      const api = await startApiService(config);
      if (opts.pidFile) {
        mkdirSync(dirname(opts.pidFile), { recursive: true });
        writeFileSync(opts.pidFile, `${process.pid}\n`);
      }
      const stop = async (signal: string) => {
        api.deps.log.info({ signal }, 'stopping');
        await api.close();
        if (opts.pidFile && livePidFrom(opts.pidFile) === process.pid) unlinkSync(opts.pidFile);
        api.deps.log.flush?.();
        process.exit(0);
      };
      process.once('SIGTERM', () => void stop('SIGTERM'));
      process.once('SIGINT', () => void stop('SIGINT'));
    });
}
