import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import knexFactory, { type Knex } from 'knex';

export type DbKind = 'sqlite' | 'mysql';

/** Which engine a knex instance talks to; the few SQL differences (locking, upserts) branch on it. */
export function dbKind(db: Knex): DbKind {
  const client = String(db.client.config.client);
  return client.includes('sqlite') ? 'sqlite' : 'mysql';
}

/**
 * Opens `[database] connection`: sqlite:///abs/path.sqlite (or sqlite://:memory:) with better-sqlite3,
 * or mysql://user:pass@host[:port]/db with mysql2 (MariaDB or MySQL).
 */
export function openDatabase(url: string, maxPool = 10): Knex {
  if (url.startsWith('sqlite://')) {
    const file = url.slice('sqlite://'.length) || ':memory:';
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    return knexFactory({
      client: 'better-sqlite3',
      connection: { filename: file },
      useNullAsDefault: true,
      // One connection: SQLite has one writer; knex queues the rest, which serialises transactions.
      pool: {
        min: 1,
        max: 1,
        afterCreate: (
          conn: { pragma: (s: string) => unknown },
          done: (err: Error | null, c: unknown) => void,
        ) => {
          conn.pragma('journal_mode = WAL');
          conn.pragma('foreign_keys = ON');
          conn.pragma('busy_timeout = 5000');
          conn.pragma('synchronous = NORMAL');
          done(null, conn);
        },
      },
    });
  }
  if (url.startsWith('mysql://') || url.startsWith('mysql+pymysql://') || url.startsWith('mariadb://')) {
    const u = new URL(url.replace(/^(mysql\+pymysql|mariadb):/, 'mysql:'));
    return knexFactory({
      client: 'mysql2',
      connection: {
        host: u.hostname || '127.0.0.1',
        port: u.port ? Number(u.port) : 3306,
        user: decodeURIComponent(u.username),
        password: decodeURIComponent(u.password),
        database: u.pathname.replace(/^\//, ''),
        socketPath: u.searchParams.get('unix_socket') ?? undefined,
        charset: 'utf8mb4',
        supportBigNumbers: true,
        bigNumberStrings: false,
        timezone: 'Z',
      },
      pool: { min: 0, max: maxPool },
    });
  }
  throw new Error(
    `[database] connection: unsupported URL scheme in "${url.replace(/\/\/[^@]*@/, '//***@')}"`,
  );
}
