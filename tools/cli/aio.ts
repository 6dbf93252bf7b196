import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { DEFAULT_CONFIG_FILE } from '../../src/common/config/load.js';
import { openDatabase } from '../../src/db/connection.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { KeyRepository } from '../../src/identity/tokens/keys.js';
import { livePid } from './api.js';
import { runBootstrap } from './bootstrap.js';
import { configFrom, step, type LoadedConfig } from './context.js';

const CLI_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), 'main.js');

/** The first non-loopback IPv4 address: what other machines and the guests reach this host at. */
function primaryAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function writeDefaultConfig(file: string, dataDir: string, port: number): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    [
      '# kvmstack configuration (all-in-one). Every option and its default: `kvmstack config show`, or the README.',
      '[DEFAULT]',
      `data_dir = ${dataDir}`,
      `log_file = ${dataDir}/log/kvmstack-api.log`,
      '',
      '[api]',
      `port = ${port}`,
      `public_url = http://${primaryAddress()}:${port}`,
      '',
    ].join('\n'),
  );
}

function openrcText(config: LoadedConfig, password: string): string {
  return [
    `export OS_AUTH_URL=${config.api.public_url}/identity/v3`,
    'export OS_IDENTITY_API_VERSION=3',
    `export OS_USERNAME=${config.bootstrap.admin_username}`,
    `export OS_PASSWORD='${password.replace(/'/g, `'\\''`)}'`,
    `export OS_PROJECT_NAME=${config.bootstrap.admin_project}`,
    'export OS_USER_DOMAIN_NAME=Default',
    'export OS_PROJECT_DOMAIN_NAME=Default',
    `export OS_REGION_NAME=${config.DEFAULT.region}`,
    '',
  ].join('\n');
}

function cloudsYamlText(config: LoadedConfig, password: string): string {
  return [
    'clouds:',
    '  kvmstack:',
    '    auth:',
    `      auth_url: ${config.api.public_url}/identity/v3`,
    `      username: ${config.bootstrap.admin_username}`,
    `      password: ${JSON.stringify(password)}`,
    `      project_name: ${config.bootstrap.admin_project}`,
    '      user_domain_name: Default',
    '      project_domain_name: Default',
    `    region_name: ${config.DEFAULT.region}`,
    '    identity_api_version: 3',
    '',
  ].join('\n');
}

async function waitHealthy(url: string, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/healthcheck`);
      if (res.ok) return true;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** Starts `kvmstack api` detached, logging to [DEFAULT] log_file, with its pid file. */
async function startApiInBackground(config: LoadedConfig, configFile: string): Promise<number> {
  const pidFile = config.api.pid_file;
  const logFile = config.DEFAULT.log_file || join(config.DEFAULT.data_dir, 'log', 'kvmstack-api.log');
  mkdirSync(dirname(logFile), { recursive: true });
  const out = openSync(logFile, 'a');
  // The bootstrap password has done its job: keep it out of the long-running process's /proc/<pid>/environ.
  const { KVMSTACK_BOOTSTRAP_ADMIN_PASSWORD: _secret, ...env } = process.env;
  const child = spawn(process.execPath, [CLI_MAIN, '--config', configFile, 'api', '--pid-file', pidFile], {
    detached: true,
    stdio: ['ignore', out, out],
    env,
  });
  child.unref();
  const localUrl = `http://127.0.0.1:${config.api.port}`;
  if (!(await waitHealthy(localUrl, 30)))
    throw new Error(`the API did not become healthy within 30 s; see ${logFile}`);
  return child.pid as number;
}

export function aioCommands(program: Command): void {
  program
    .command('up')
    .description('bring up (or check) the all-in-one cloud: config, keys, database, admin, API, local agent')
    .option('--data-dir <dir>', 'data directory for a new configuration', '/var/lib/kvmstack')
    .option('--port <port>', 'API port for a new configuration', '5000')
    .action(async (opts: { dataDir: string; port: string }, cmd: Command) => {
      const globals = cmd.optsWithGlobals() as { config?: string };
      const configFile = resolve(globals.config ?? process.env.KVMSTACK_CONFIG ?? DEFAULT_CONFIG_FILE);
      if (!existsSync(configFile)) {
        writeDefaultConfig(configFile, resolve(opts.dataDir), Number(opts.port));
        step(`wrote ${configFile}`);
      } else step(`using ${configFile}`);
      const config = configFrom({ config: configFile });
      mkdirSync(config.DEFAULT.data_dir, { recursive: true, mode: 0o750 });

      const keys = new KeyRepository(config.token.key_repository);
      step(
        keys.ensure()
          ? `created the token signing key in ${keys.dir}`
          : `token signing keys present in ${keys.dir}`,
      );

      const knex = openDatabase(config.database.connection);
      try {
        const applied = await migrateLatest(knex);
        step(applied.length ? `database migrated (${applied.join(', ')})` : 'database schema is up to date');
      } finally {
        await knex.destroy();
      }

      const boot = await runBootstrap(config);
      step(
        boot.changes.length
          ? `bootstrapped: ${boot.changes.length} change(s)`
          : 'admin user, project, roles and catalog already in place',
      );
      const openrc = join(config.DEFAULT.data_dir, 'openrc');
      const clouds = join(config.DEFAULT.data_dir, 'clouds.yaml');
      if (boot.adminPassword) {
        writeFileSync(openrc, openrcText(config, boot.adminPassword), { mode: 0o600 });
        writeFileSync(clouds, cloudsYamlText(config, boot.adminPassword), { mode: 0o600 });
        chmodSync(openrc, 0o600);
        step(`wrote ${openrc} and ${clouds} (admin password: ${boot.adminPassword})`);
      } else if (!existsSync(openrc)) {
        step(
          `the admin password is not known here: set KVMSTACK_BOOTSTRAP_ADMIN_PASSWORD and run \`kvmstack up\` again to reset it`,
        );
      }

      const running = livePid(config.api.pid_file);
      if (running) step(`API already running (pid ${running})`);
      else
        step(
          `API started (pid ${await startApiInBackground(config, configFile)}), log in ${config.DEFAULT.log_file || 'the data directory'}`,
        );
      if (!(await waitHealthy(`http://127.0.0.1:${config.api.port}`, 10)))
        throw new Error('the API does not answer /healthcheck');

      // The local host agent joins here once kvmstack has one (host-agent issue); until then the cloud has no compute host.
      step('local host agent: not part of this version yet; the cloud has identity only');

      console.log(
        `\nkvmstack is up at ${config.api.public_url}\n\nPoint the openstack CLI at it:\n  source ${openrc}\n  openstack token issue\n  openstack catalog list\nor: export OS_CLIENT_CONFIG_FILE=${clouds} OS_CLOUD=kvmstack\n\nStop it with: tools/kvmstack stop`,
      );
    });

  program
    .command('stop')
    .description('stop what `kvmstack up` started')
    .action(async (_o, cmd: Command) => {
      const config = configFrom(cmd.optsWithGlobals());
      const pid = livePid(config.api.pid_file);
      if (!pid) {
        step('API is not running');
        if (existsSync(config.api.pid_file)) unlinkSync(config.api.pid_file);
        return;
      }
      process.kill(pid, 'SIGTERM');
      // Wait for the process itself, not its pid file: it removes the file just before it exits.
      const alive = () => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      const deadline = Date.now() + 15_000;
      while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (alive()) process.kill(pid, 'SIGKILL');
      if (existsSync(config.api.pid_file)) unlinkSync(config.api.pid_file);
      step(`API stopped (pid ${pid})`);
    });

  program
    .command('status')
    .description('is the all-in-one API running and healthy?')
    .action(async (_o, cmd: Command) => {
      const config = configFrom(cmd.optsWithGlobals());
      const pid = livePid(config.api.pid_file);
      const healthy = pid ? await waitHealthy(`http://127.0.0.1:${config.api.port}`, 2) : false;
      console.log(
        `api: ${pid ? `running (pid ${pid})` : 'stopped'}${pid ? `, ${healthy ? 'healthy' : 'NOT answering /healthcheck'}` : ''}`,
      );
      const openrc = join(config.DEFAULT.data_dir, 'openrc');
      if (existsSync(openrc)) console.log(`credentials: ${openrc}`);
      process.exitCode = pid && healthy ? 0 : 1;
    });
}
