#!/usr/bin/env node
import { readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { optionTableMarkdown } from '../../src/common/config/load.js';
import { OPTIONS, type OptionSpec } from '../../src/common/config/options.js';
import { aioCommands } from './aio.js';
import { apiCommand } from './api.js';
import { bootstrapCommand } from './bootstrap.js';
import { configFrom } from './context.js';
import { dbCommands } from './db.js';
import { keyCommands } from './keys.js';

const program = new Command('kvmstack')
  .description('kvmstack: a lightweight private cloud for KVM with OpenStack APIs')
  .option('--config <file>', 'configuration file (default: $KVMSTACK_CONFIG or /etc/kvmstack/kvmstack.conf)')
  .showHelpAfterError();

aioCommands(program);
apiCommand(program);
dbCommands(program);
keyCommands(program);
bootstrapCommand(program);

const config = program.command('config').description('configuration');
config
  .command('show')
  .description('print the effective configuration (secrets hidden)')
  .action((_o, cmd: Command) => {
    const loaded = configFrom(cmd.optsWithGlobals()) as unknown as Record<string, Record<string, unknown>>;
    console.log(
      `# from ${(loaded as unknown as { file: string | null }).file ?? 'defaults and environment'}`,
    );
    let section = '';
    for (const o of OPTIONS as readonly OptionSpec[]) {
      if (o.section !== section) console.log(`\n[${(section = o.section)}]`);
      console.log(
        `${o.name} = ${o.secret && loaded[o.section][o.name] ? '********' : String(loaded[o.section][o.name])}`,
      );
    }
  });
config
  .command('doc')
  .description('print the option table (or rewrite it in a README between its markers)')
  .option('--write <file>', 'replace the table between <!-- options:begin --> and <!-- options:end -->')
  .action((opts: { write?: string }) => {
    const table = optionTableMarkdown();
    if (!opts.write) return console.log(table);
    const text = readFileSync(opts.write, 'utf8');
    const markers = /(<!-- options:begin -->)[\s\S]*?(<!-- options:end -->)/;
    if (!markers.test(text)) throw new Error(`${opts.write} has no option markers`);
    const next = text.replace(markers, (_m, begin: string, end: string) => `${begin}\n${table}\n${end}`);
    writeFileSync(opts.write, next);
    console.log(`updated the option table in ${opts.write}`);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`kvmstack: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
