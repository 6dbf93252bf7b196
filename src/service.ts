import type { Server } from 'node:http';
import { createServer } from 'node:http';
import pino, { type Logger } from 'pino';
import type { Knex } from 'knex';
import { createApp } from './app.js';
import type { Config } from './common/config/options.js';
import type { AppDeps } from './common/context.js';
import { openDatabase } from './db/connection.js';
import { migrationStatus } from './db/migrate.js';
import { createIdentityRuntime } from './identity/index.js';
import type { IdentityRuntime } from './identity/runtime.js';
import { removeStrayImageFiles } from './image/images/service.js';
import { checkSegmentOptions } from './network/networks/segments.js';
import { createTaskRunner } from './compute/tasks/index.js';
import type { TaskRunner } from './compute/tasks/runner.js';

/** How often each API process removes image files no image owns (interrupted deletes, dead uploads). */
const STRAY_IMAGE_SWEEP_MS = 3_600_000;

export interface ApiService {
  deps: AppDeps;
  identity: IdentityRuntime;
  server: Server;
  /** The bound port (useful with port 0). */
  port: number;
  /** This process's durable-task runner. */
  tasks: TaskRunner;
  close(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  const dest = config.DEFAULT.log_file
    ? pino.destination({ dest: config.DEFAULT.log_file, mkdir: true, sync: false })
    : pino.destination(1);
  return pino({ level: config.DEFAULT.log_level, base: { svc: 'kvmstack-api', pid: process.pid } }, dest);
}

/**
 * Starts one API process: opens the database (which must be migrated), loads the signing keys, starts the
 * revocation refresher and listens. Several such processes may share one MariaDB and one key repository.
 */
export async function startApiService(
  config: Config,
  opts: { log?: Logger; db?: Knex; now?: () => number; port?: number; listen?: string } = {},
): Promise<ApiService> {
  const log = opts.log ?? createLogger(config);
  const db = opts.db ?? openDatabase(config.database.connection, config.database.max_pool_size);
  const { pending } = await migrationStatus(db);
  if (pending.length) {
    throw new Error(
      `the database needs migrating (${pending.join(', ')} pending): run \`kvmstack db migrate\``,
    );
  }
  checkSegmentOptions(config);
  const now = opts.now ?? Date.now;
  const identity = createIdentityRuntime({ config, db, now });
  if (!identity.keys.exists()) {
    throw new Error(`no token signing key in ${config.token.key_repository}: run \`kvmstack keys setup\``);
  }
  identity.keys.signingKey();
  const tasks = createTaskRunner({ db, config, log, now });
  const deps: AppDeps = { config, db, log, now, tokens: identity.tokens, tasks };
  await identity.revocations.start(config.token.revocation_refresh_interval * 1000, (err) =>
    log.warn({ err }, 'revocation refresh failed'),
  );
  const purge = setInterval(
    () => identity.revocations.purge().catch((err) => log.warn({ err }, 'revocation purge failed')),
    600_000,
  );
  purge.unref();
  const sweep = setInterval(
    () => removeStrayImageFiles(deps).catch((err) => log.warn({ err }, 'stray image file sweep failed')),
    STRAY_IMAGE_SWEEP_MS,
  );
  sweep.unref();
  const { app } = createApp(deps, identity);
  const server = createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  const port = opts.port ?? config.api.port;
  const listen = opts.listen ?? config.api.listen;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, listen, () => resolve());
  });
  const bound = (server.address() as { port: number }).port;
  tasks.start(); // pending and orphaned tasks of any process, resumed here
  log.info(
    { port: bound, listen, db: config.database.connection.replace(/\/\/[^@]*@/, '//***@') },
    'kvmstack API listening',
  );
  return {
    deps,
    identity,
    server,
    port: bound,
    tasks,
    async close() {
      identity.revocations.stop();
      await tasks.stop();
      clearInterval(purge);
      clearInterval(sweep);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (!opts.db) await db.destroy();
    },
  };
}
