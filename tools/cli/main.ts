#!/usr/bin/env node
import { readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { optionTableMarkdown } from '../../src/common/config/load.js';
import { OPTIONS, type OptionSpec } from '../../src/common/config/options.js';
import { AGENT_OPTIONS } from '../../host-agent/config.js';
import { aioCommands } from './aio.js';
import { apiCommand } from './api.js';
import { bootstrapCommand } from './bootstrap.js';
import { configFrom } from './context.js';
import { dbCommands } from './db.js';
import { imageCommands } from './image.js';
import { keyCommands } from './keys.js';
import { labCommands } from './lab.js';

const program = new Command('kvmstack')
  .description('kvmstack: a lightweight private cloud for KVM with OpenStack APIs')
  .option('--config <file>', 'configuration file (default: $KVMSTACK_CONFIG or /etc/kvmstack/kvmstack.conf)')
  .showHelpAfterError();

aioCommands(program);
apiCommand(program);
dbCommands(program);
keyCommands(program);
bootstrapCommand(program);
imageCommands(program);
labCommands(program);

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
  .description('print the option tables (or rewrite them in a README between their markers)')
  .option(
    '--write <file>',
    'replace the tables between <!-- options:begin/end --> and <!-- agent-options:begin/end -->',
  )
  .action((opts: { write?: string }) => {
    const tables: [string, string][] = [
      ['options', optionTableMarkdown(OPTIONS)],
      ['agent-options', optionTableMarkdown(AGENT_OPTIONS)],
    ];
    if (!opts.write) return console.log(tables.map(([, t]) => t).join('\n\n'));
    let text = readFileSync(opts.write, 'utf8');
    for (const [name, table] of tables) {
      const markers = new RegExp(`(<!-- ${name}:begin -->)[\\s\\S]*?(<!-- ${name}:end -->)`);
      if (!markers.test(text)) throw new Error(`${opts.write} has no <!-- ${name}:begin --> marker`);
      text = text.replace(markers, (_m, begin: string, end: string) => `${begin}\n${table}\n${end}`);
    }
    writeFileSync(opts.write, text);
    console.log(`updated the option tables in ${opts.write}`);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`kvmstack: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
