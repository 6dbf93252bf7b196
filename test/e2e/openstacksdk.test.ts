/**
 * The real openstacksdk (Debian's python3-openstacksdk) against a kvmstack all-in-one: test/e2e/sdk_check.py
 * connects, authorizes, lists, creates and deletes a project and validates tokens, and prints what it saw.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  cleanEnv,
  exec,
  pythonWithSdk,
  REPO_ROOT,
  startKvmstack,
  type Env,
  type Kvmstack,
} from './support.js';

const SCRIPT = join(REPO_ROOT, 'test', 'e2e', 'sdk_check.py');
const ALL_TYPES = ['block-storage', 'compute', 'identity', 'image', 'network', 'volumev3'];

interface SdkReport {
  ok: boolean;
  error?: string;
  trace?: string;
  token: string;
  token_is_jws: boolean;
  identity_endpoint: string;
  current_project_id: string;
  current_user_id: string;
  projects: string[];
  users: string[];
  roles: string[];
  domains: string[];
  services: string[];
  regions: string[];
  created_project: { id: string; name: string; description: string };
  shown_project: { id: string; name: string; description: string; enabled: boolean };
  found_by_name: string | null;
  projects_after_create: string[];
  projects_after_delete: string[];
  found_after_delete: string | null;
  get_deleted_project: string;
  validate_own: {
    status: number;
    subject_matches: boolean;
    user: string;
    project: string;
    roles: string[];
    catalog_types: string[];
  };
  other_token_differs: boolean;
  validate_other_before_revoke: number;
  revoke_status: number;
  validate_other_after_revoke: number;
  validate_garbage: number;
  wrong_password: string;
}

describe('openstacksdk against kvmstack up', { timeout: 120_000 }, () => {
  let cloud: Kvmstack;
  let python: string;

  before(async () => {
    python = await pythonWithSdk();
    cloud = await startKvmstack();
  });
  after(() => cloud?.stop());

  async function runScript(args: string[], env: Env = {}): Promise<SdkReport> {
    const res = await exec(python, [SCRIPT, ...args], { env: cleanEnv(env), timeoutMs: 60_000 });
    let report: SdkReport;
    try {
      report = JSON.parse(res.stdout) as SdkReport;
    } catch {
      throw new Error(`sdk_check.py exited ${res.code} without JSON:\n${res.stdout}\n${res.stderr}`);
    }
    assert.equal(report.ok, true, `${report.error}\n${report.trace}`);
    assert.equal(res.code, 0, res.stderr);
    return report;
  }

  /** What both ways of connecting must have seen. */
  async function assertReport(r: SdkReport, newProject: string): Promise<void> {
    assert.equal(r.token_is_jws, true);
    assert.equal(
      r.identity_endpoint,
      `${cloud.url}/identity/v3`,
      'the identity endpoint comes from the catalog',
    );
    assert.ok(r.projects.includes('admin'));
    assert.ok(!r.projects.includes(newProject));
    assert.ok(r.users.includes('admin'));
    assert.deepEqual(r.roles, ['admin', 'member', 'reader']);
    assert.deepEqual(r.domains, ['Default']);
    assert.deepEqual(r.services, ALL_TYPES);
    assert.deepEqual(r.regions, ['RegionOne']);

    assert.equal(r.created_project.name, newProject);
    assert.equal(r.created_project.description, 'made by openstacksdk');
    assert.match(r.created_project.id, /^[0-9a-f]{32}$/);
    assert.deepEqual(r.shown_project, { ...r.created_project, enabled: true });
    assert.equal(r.found_by_name, r.created_project.id);
    assert.ok(r.projects_after_create.includes(newProject));
    assert.ok(!r.projects_after_delete.includes(newProject));
    assert.equal(r.found_after_delete, null);
    assert.equal(r.get_deleted_project, 'ResourceNotFound');

    assert.deepEqual(r.validate_own, {
      status: 200,
      subject_matches: true,
      user: 'admin',
      project: 'admin',
      roles: ['admin', 'member', 'reader'],
      catalog_types: ALL_TYPES,
    });
    assert.equal(r.other_token_differs, true);
    assert.equal(r.validate_other_before_revoke, 200);
    assert.equal(r.revoke_status, 204);
    assert.equal(r.validate_other_after_revoke, 404);
    assert.equal(r.validate_garbage, 404);
    assert.equal(r.wrong_password, 'Unauthorized');

    // cross-check with the CLI: the ids the SDK saw are the cloud's, and the project is really gone
    const admin = await cloud.run<{ id: string; name: string }>(['project', 'show', 'admin']);
    assert.equal(r.current_project_id, admin.id);
    const user = await cloud.run<{ id: string }>(['user', 'show', 'admin']);
    assert.equal(r.current_user_id, user.id);
    const gone = await cloud.attempt(['project', 'show', r.created_project.id]);
    assert.notEqual(gone.code, 0);
  }

  it('connects with auth arguments: token, lists, project create/delete, token validation', async () => {
    const name = `sdk-args-${process.pid}`;
    const r = await runScript(['args', cloud.env.OS_AUTH_URL, 'admin', cloud.adminPassword, 'admin', name]);
    await assertReport(r, name);
  });

  it('connects with the clouds.yaml `kvmstack up` wrote (OS_CLIENT_CONFIG_FILE + OS_CLOUD=kvmstack)', async () => {
    const name = `sdk-cloud-${process.pid}`;
    const r = await runScript(['cloud', name], {
      OS_CLIENT_CONFIG_FILE: join(cloud.dataDir, 'clouds.yaml'),
      OS_CLOUD: 'kvmstack',
    });
    await assertReport(r, name);
  });

  it('the script reports a failure for a wrong password (the check can fail)', async () => {
    const res = await exec(
      python,
      [SCRIPT, 'args', cloud.env.OS_AUTH_URL, 'admin', 'not-the-password', 'admin', 'x'],
      {
        env: cleanEnv(),
      },
    );
    assert.equal(res.code, 1);
    const report = JSON.parse(res.stdout) as SdkReport;
    assert.equal(report.ok, false);
    assert.match(report.error ?? '', /HTTP 401/);
  });
});
