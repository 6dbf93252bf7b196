import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import request from 'supertest';
import { loadConfig } from '../../src/common/config/load.js';
import { openDatabase } from '../../src/db/connection.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { bootstrap } from '../../src/identity/bootstrap.js';
import { PasswordHasher } from '../../src/identity/passwords.js';
import { KeyRepository } from '../../src/identity/tokens/keys.js';
import { startApiService, type ApiService } from '../../src/service.js';
import { createTestDatabase, type Backend } from './databases.js';

export const ADMIN_PASSWORD = 'admin-secret-pw';

export interface TestApi {
  backend: Backend;
  url: string;
  service: ApiService;
  dataDir: string;
  databaseUrl: string;
  adminUserId: string;
  adminProjectId: string;
  /** supertest against the running server. */
  http: ReturnType<typeof request>;
  /** A fresh admin token, project-scoped to the admin project. */
  adminToken(): Promise<string>;
  /** A token for a user/password scoped to a project id (or unscoped). */
  tokenFor(userId: string, password: string, projectId?: string): Promise<string>;
  /** Fixtures made through the API as admin: they return the created resource's body. */
  createProject(name: string, extra?: Record<string, unknown>): Promise<{ id: string; name: string }>;
  createUser(
    name: string,
    password: string,
    extra?: Record<string, unknown>,
  ): Promise<{ id: string; name: string }>;
  /** Grants a role (by name) to a user on a project. */
  grant(projectId: string, userId: string, roleName: string): Promise<void>;
  close(): Promise<void>;
}

export interface TestApiOptions {
  /** Extra config overrides, e.g. { 'token.expiration': 60 }. */
  overrides?: Record<string, string | number | boolean>;
  /** Injected clock. */
  now?: () => number;
  /** Log to this file instead of discarding. */
  logFile?: string;
  /** A second API process over the same database and key repository as this one. */
  shareWith?: TestApi;
}

/**
 * A real API process on a fresh database and key repository, listening on a free port: the same code path
 * as `kvmstack api`, with bcrypt at its cheapest cost so tests stay fast.
 */
export async function startTestApi(backend: Backend, opts: TestApiOptions = {}): Promise<TestApi> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kvmstack-api-'));
  const shared = opts.shareWith;
  const database = shared
    ? { url: shared.databaseUrl, drop: async () => {} }
    : await createTestDatabase(backend);
  const config = loadConfig({
    env: {},
    file: undefined,
    overrides: {
      'DEFAULT.data_dir': dataDir,
      'database.connection': database.url,
      ...(shared ? { 'token.key_repository': join(shared.dataDir, 'jws-keys') } : {}),
      'identity.password_hash_rounds': 4,
      'bootstrap.admin_password': ADMIN_PASSWORD,
      'api.listen': '127.0.0.1',
      'api.public_url': 'http://127.0.0.1:0',
      ...opts.overrides,
    },
  });
  const db = openDatabase(config.database.connection);
  await migrateLatest(db);
  new KeyRepository(config.token.key_repository).ensure();
  const log = opts.logFile
    ? pino({ level: 'debug' }, pino.destination(opts.logFile))
    : pino({ level: 'silent' });
  const service = await startApiService(config, { log, db, now: opts.now, port: 0 });
  const url = `http://127.0.0.1:${service.port}`;
  config.api.public_url = url; // links and the catalog name the port actually bound
  const boot = await bootstrap(db, config, new PasswordHasher(4), Date.now());
  const http = request(service.server);

  async function tokenFor(userId: string, password: string, projectId?: string): Promise<string> {
    const res = await http.post('/identity/v3/auth/tokens').send({
      auth: {
        identity: { methods: ['password'], password: { user: { id: userId, password } } },
        ...(projectId ? { scope: { project: { id: projectId } } } : {}),
      },
    });
    if (res.status !== 201) throw new Error(`token for ${userId}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.headers['x-subject-token'] as string;
  }

  let adminTokenCache: string | null = null;
  const asAdmin = async () =>
    (adminTokenCache ??= await tokenFor(boot.adminUserId, ADMIN_PASSWORD, boot.adminProjectId));
  async function create(collection: string, key: string, body: Record<string, unknown>) {
    const res = await http
      .post(`/identity/v3/${collection}`)
      .set('X-Auth-Token', await asAdmin())
      .send({ [key]: body });
    if (res.status !== 201) throw new Error(`create ${key}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body[key] as { id: string; name: string };
  }

  return {
    backend,
    url,
    service,
    dataDir,
    databaseUrl: database.url,
    adminUserId: boot.adminUserId,
    adminProjectId: boot.adminProjectId,
    http,
    adminToken: () => tokenFor(boot.adminUserId, ADMIN_PASSWORD, boot.adminProjectId),
    tokenFor,
    createProject: (name, extra = {}) => create('projects', 'project', { name, ...extra }),
    createUser: (name, password, extra = {}) => create('users', 'user', { name, password, ...extra }),
    async grant(projectId, userId, roleName) {
      const token = await asAdmin();
      const role = (await http.get(`/identity/v3/roles?name=${roleName}`).set('X-Auth-Token', token)).body
        .roles[0];
      const res = await http
        .put(`/identity/v3/projects/${projectId}/users/${userId}/roles/${role.id}`)
        .set('X-Auth-Token', token);
      if (res.status !== 204) throw new Error(`grant ${roleName}: ${res.status} ${JSON.stringify(res.body)}`);
    },
    async close() {
      await service.close();
      await db.destroy();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
