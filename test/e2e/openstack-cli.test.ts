/**
 * The real python-openstackclient (Debian's `openstack`) against a kvmstack all-in-one started by `kvmstack up`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { issueToken, startKvmstack, type Env, type Kvmstack } from './support.js';

type Row = Record<string, unknown>;
type Token = { id: string; expires: string; project_id: string; user_id: string };
type AppCred = {
  id: string;
  name: string;
  secret: string;
  project_id: string;
  user_id: string;
  roles: string;
};

const ALL_TYPES = ['block-storage', 'compute', 'identity', 'image', 'network', 'volumev3'];
const uniq = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 8)}`;

describe('openstack CLI against kvmstack up', { timeout: 150_000 }, () => {
  let cloud: Kvmstack;
  let adminProjectId: string;
  let adminUserId: string;
  /** The environment for `openstack` as a given user with password, on a project. */
  const userEnv = (name: string, password: string, project: string): Env => ({
    ...cloud.env,
    OS_USERNAME: name,
    OS_PASSWORD: password,
    OS_PROJECT_NAME: project,
  });
  /** Only where to find the cloud: no credentials at all. */
  const bareEnv = (): Env => ({
    OS_AUTH_URL: cloud.env.OS_AUTH_URL,
    OS_IDENTITY_API_VERSION: '3',
    OS_REGION_NAME: cloud.env.OS_REGION_NAME,
  });
  const validate = (authToken: string, subject: string) =>
    fetch(`${cloud.localUrl}/identity/v3/auth/tokens`, {
      headers: { 'X-Auth-Token': authToken, 'X-Subject-Token': subject },
    });

  before(async () => {
    cloud = await startKvmstack();
    adminProjectId = (await cloud.run<Row>(['project', 'show', 'admin'])).id as string;
    adminUserId = (await cloud.run<Row>(['user', 'show', 'admin'])).id as string;
  });
  after(() => cloud?.stop());

  it('token issue: a JWS token for admin on the admin project, valid for about an hour', async () => {
    const t = await cloud.run<Token>(['token', 'issue']);
    assert.match(t.id, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(t.project_id, adminProjectId);
    assert.equal(t.user_id, adminUserId);
    const ttl = Date.parse(t.expires) - Date.now();
    assert.ok(ttl > 50 * 60_000 && ttl <= 61 * 60_000, `expires ${t.expires}`);
    const res = await validate(t.id, t.id);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { token: { user: { name: string }; project: { name: string } } };
    assert.equal(body.token.user.name, 'admin');
    assert.equal(body.token.project.name, 'admin');
  });

  it('catalog list: every service with public, internal and admin endpoints on the public URL', async () => {
    const catalog = await cloud.run<
      { Name: string; Type: string; Endpoints: { interface: string; region: string; url: string }[] }[]
    >(['catalog', 'list']);
    assert.deepEqual(catalog.map((s) => s.Type).sort(), ALL_TYPES);
    const byType = Object.fromEntries(catalog.map((s) => [s.Type, s]));
    assert.equal(byType.identity.Name, 'keystone');
    assert.equal(byType.compute.Name, 'nova');
    for (const s of catalog) {
      assert.deepEqual(s.Endpoints.map((e) => e.interface).sort(), ['admin', 'internal', 'public'], s.Type);
      for (const e of s.Endpoints) {
        assert.equal(e.region, 'RegionOne');
        assert.ok(e.url.startsWith(`${cloud.url}/`), `${s.Type}: ${e.url}`);
      }
    }
    assert.equal(byType.identity.Endpoints[0].url, `${cloud.url}/identity/v3`);
    assert.equal(byType.compute.Endpoints[0].url, `${cloud.url}/compute/v2.1`);
    for (const type of ['volumev3', 'block-storage']) {
      for (const e of byType[type].Endpoints)
        assert.equal(e.url, `${cloud.url}/volume/v3/${adminProjectId}`, 'project id substituted');
    }
  });

  it('domain list, region list, service list, endpoint list', async () => {
    const domains = await cloud.run<Row[]>(['domain', 'list']);
    assert.deepEqual(domains, [
      { ID: 'default', Name: 'Default', Enabled: true, Description: 'The default domain' },
    ]);

    const regions = await cloud.run<Row[]>(['region', 'list']);
    assert.deepEqual(
      regions.map((r) => r.Region),
      ['RegionOne'],
    );

    const services = await cloud.run<Row[]>(['service', 'list']);
    assert.deepEqual(services.map((s) => s.Type).sort(), ALL_TYPES);
    assert.deepEqual(services.map((s) => `${s.Type}=${s.Name}`).sort(), [
      'block-storage=cinder',
      'compute=nova',
      'identity=keystone',
      'image=glance',
      'network=neutron',
      'volumev3=cinderv3',
    ]);

    const endpoints = await cloud.run<Row[]>(['endpoint', 'list']);
    assert.equal(endpoints.length, ALL_TYPES.length * 3);
    for (const e of endpoints) {
      assert.equal(e.Region, 'RegionOne');
      assert.equal(e.Enabled, true);
      assert.ok(['public', 'internal', 'admin'].includes(e.Interface as string));
    }
    const identity = endpoints.filter((e) => e['Service Type'] === 'identity');
    assert.deepEqual(
      identity.map((e) => e.URL),
      Array(3).fill(`${cloud.url}/identity/v3`),
    );
    // the unsubstituted template, as Keystone stores it
    assert.ok(
      endpoints
        .filter((e) => e['Service Type'] === 'volumev3')
        .every((e) => e.URL === `${cloud.url}/volume/v3/$(project_id)s`),
    );
    const filtered = await cloud.run<Row[]>([
      'endpoint',
      'list',
      '--service',
      'compute',
      '--interface',
      'public',
    ]);
    assert.deepEqual(
      filtered.map((e) => e.URL),
      [`${cloud.url}/compute/v2.1`],
    );
  });

  it('project create, list, show, set, delete', async () => {
    const name = uniq('proj');
    const created = await cloud.run<Row>(['project', 'create', '--description', 'first', name]);
    assert.equal(created.name, name);
    assert.equal(created.description, 'first');
    assert.equal(created.domain_id, 'default');
    assert.equal(created.enabled, true);
    assert.match(created.id as string, /^[0-9a-f]{32}$/);

    const list = await cloud.run<Row[]>(['project', 'list']);
    assert.ok(list.some((p) => p.Name === 'admin'));
    assert.ok(list.some((p) => p.ID === created.id && p.Name === name));

    assert.deepEqual(await cloud.run<Row>(['project', 'show', name]), created);
    assert.deepEqual(await cloud.run<Row>(['project', 'show', created.id as string]), created);

    const renamed = `${name}-renamed`;
    assert.equal(
      await cloud.run(['project', 'set', '--description', 'second', '--name', renamed, '--disable', name]),
      '',
    );
    const shown = await cloud.run<Row>(['project', 'show', created.id as string]);
    assert.equal(shown.name, renamed);
    assert.equal(shown.description, 'second');
    assert.equal(shown.enabled, false);
    const gone = await cloud.attempt(['project', 'show', name]);
    assert.notEqual(gone.code, 0, 'the old name no longer finds it');

    assert.equal(await cloud.run(['project', 'delete', renamed]), '');
    const names = (await cloud.run<Row[]>(['project', 'list'])).map((p) => p.Name);
    assert.ok(names.includes('admin') && !names.includes(renamed) && !names.includes(name), names.join(' '));
    const after = await cloud.attempt(['project', 'show', created.id as string]);
    assert.notEqual(after.code, 0);
    assert.match(after.stderr, /No project with a name or ID of '[0-9a-f]{32}' exists/);
  });

  it('project show of a missing project exits non-zero with "No project with a name or ID"', async () => {
    const res = await cloud.attempt(['project', 'show', 'does-not-exist']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /No project with a name or ID of 'does-not-exist' exists\./);
    assert.equal(res.stdout, '');
    const user = await cloud.attempt(['user', 'show', 'nobody-here']);
    assert.equal(user.code, 1);
    assert.match(user.stderr, /No user with a name or ID of 'nobody-here' exists\./);
  });

  it('user create, list, show, set --password (new works, old does not), delete', async () => {
    const project = uniq('uproj');
    const name = uniq('user');
    await cloud.run(['project', 'create', project]);
    const created = await cloud.run<Row>([
      'user',
      'create',
      '--password',
      'old-password-1',
      '--project',
      project,
      '--email',
      'e2e@example.org',
      '--description',
      'made by e2e',
      name,
    ]);
    assert.equal(created.name, name);
    assert.equal(created.domain_id, 'default');
    assert.equal(created.enabled, true);
    assert.equal(created.email, 'e2e@example.org');
    assert.equal(created.description, 'made by e2e');
    assert.equal(created.default_project_id, (await cloud.run<Row>(['project', 'show', project])).id);
    assert.equal(created.password, undefined, 'no password in the output');

    const list = await cloud.run<Row[]>(['user', 'list']);
    assert.ok(list.some((u) => u.ID === created.id && u.Name === name));
    assert.ok(list.some((u) => u.Name === 'admin'));
    assert.deepEqual(await cloud.run<Row>(['user', 'show', name]), created);

    // the user needs a role on the project to get a token scoped to it
    await cloud.run(['role', 'add', '--user', name, '--project', project, 'member']);
    const before = await cloud.run<Token>(['token', 'issue'], userEnv(name, 'old-password-1', project));
    assert.equal(before.user_id, created.id);

    assert.equal(await cloud.run(['user', 'set', '--password', 'new-password-2', name]), '');
    const withNew = await cloud.run<Token>(['token', 'issue'], userEnv(name, 'new-password-2', project));
    assert.equal(withNew.user_id, created.id);
    assert.equal(withNew.project_id, created.default_project_id);
    const withOld = await cloud.attempt(['token', 'issue'], userEnv(name, 'old-password-1', project));
    assert.equal(withOld.code, 1);
    assert.match(withOld.stderr, /HTTP 401/);

    await cloud.run(['user', 'set', '--disable', name]);
    assert.equal((await cloud.run<Row>(['user', 'show', name])).enabled, false);
    const disabled = await cloud.attempt(['token', 'issue'], userEnv(name, 'new-password-2', project));
    assert.match(disabled.stderr, /HTTP 401/, 'a disabled user cannot log in');
    await cloud.run(['user', 'set', '--enable', name]);

    assert.equal(await cloud.run(['user', 'delete', name]), '');
    assert.ok(!(await cloud.run<Row[]>(['user', 'list'])).some((u) => u.Name === name));
    const gone = await cloud.attempt(['user', 'show', name]);
    assert.match(gone.stderr, /No user with a name or ID of '.*' exists/);
    const login = await cloud.attempt(['token', 'issue'], userEnv(name, 'new-password-2', project));
    assert.match(login.stderr, /HTTP 401/, 'a deleted user cannot log in');
    await cloud.run(['project', 'delete', project]);
  });

  it('role list: admin, member, reader', async () => {
    const roles = await cloud.run<Row[]>(['role', 'list']);
    assert.deepEqual(roles.map((r) => r.Name).sort(), ['admin', 'member', 'reader']);
    for (const r of roles) assert.match(r.ID as string, /^[0-9a-f]{32}$/);
  });

  describe('with a member user', () => {
    let project: string;
    let projectId: string;
    let user: string;
    let userId: string;
    const password = 'member-password-1';

    before(async () => {
      project = uniq('mproj');
      user = uniq('member');
      projectId = (await cloud.run<Row>(['project', 'create', project])).id as string;
      userId = (await cloud.run<Row>(['user', 'create', '--password', password, user])).id as string;
      await cloud.run(['role', 'add', '--user', user, '--project', project, 'member']);
    });

    it('role assignment list --names and --user X --project Y; role add/remove', async () => {
      const all = await cloud.run<Row[]>(['role', 'assignment', 'list', '--names']);
      const summary = all.map((a) => `${a.Role} ${a.User} ${a.Project}`);
      assert.ok(summary.includes('admin admin@Default admin@Default'), summary.join('\n'));
      assert.ok(summary.includes(`member ${user}@Default ${project}@Default`), summary.join('\n'));

      const mine = await cloud.run<Row[]>([
        'role',
        'assignment',
        'list',
        '--user',
        user,
        '--project',
        project,
      ]);
      const member = (await cloud.run<Row>(['role', 'show', 'member'])).id;
      assert.deepEqual(mine, [
        {
          Role: member,
          User: userId,
          Group: '',
          Project: projectId,
          Domain: '',
          System: '',
          Inherited: false,
        },
      ]);

      await cloud.run(['role', 'add', '--user', user, '--project', project, 'reader']);
      const two = await cloud.run<Row[]>([
        'role',
        'assignment',
        'list',
        '--user',
        user,
        '--project',
        project,
        '--names',
      ]);
      assert.deepEqual(two.map((a) => a.Role).sort(), ['member', 'reader']);
      assert.ok(two.every((a) => a.User === `${user}@Default` && a.Project === `${project}@Default`));

      assert.equal(await cloud.run(['role', 'remove', '--user', user, '--project', project, 'reader']), '');
      const back = await cloud.run<Row[]>([
        'role',
        'assignment',
        'list',
        '--user',
        user,
        '--project',
        project,
        '--names',
      ]);
      assert.deepEqual(
        back.map((a) => a.Role),
        ['member'],
      );
      const adminOnly = await cloud.run<Row[]>([
        'role',
        'assignment',
        'list',
        '--user',
        'admin',
        '--project',
        'admin',
        '--names',
      ]);
      assert.deepEqual(
        adminOnly.map((a) => a.Role),
        ['admin'],
      );
    });

    it('a member gets a token with member and reader but 403 on user list and project create', async () => {
      const env = userEnv(user, password, project);
      const t = await cloud.run<Token>(['token', 'issue'], env);
      assert.equal(t.user_id, userId);
      assert.equal(t.project_id, projectId);
      const body = (await (await validate(t.id, t.id)).json()) as { token: { roles: { name: string }[] } };
      assert.deepEqual(body.token.roles.map((r) => r.name).sort(), ['member', 'reader']);

      const users = await cloud.attempt(['user', 'list'], env);
      assert.equal(users.code, 1);
      assert.match(
        users.stderr,
        /You are not authorized to perform the requested action: identity:list_users\. \(HTTP 403\)/,
      );
      const create = await cloud.attempt(['project', 'create', uniq('nope')], env);
      assert.equal(create.code, 1);
      assert.match(create.stderr, /identity:create_project\. \(HTTP 403\)/);
      assert.deepEqual(
        (await cloud.run<Row[]>(['project', 'list'])).filter((p) => String(p.Name).startsWith('nope-')),
        [],
        'nothing was created',
      );
      // its own project it may read
      assert.equal((await cloud.run<Row>(['project', 'show', projectId], env)).name, project);
    });

    it('application credential create; log in with it alone; list; delete; then it no longer logs in', async () => {
      const env = userEnv(user, password, project);
      const cred = await cloud.run<AppCred>(
        ['application', 'credential', 'create', '--description', 'e2e', 'ci-cred'],
        env,
      );
      assert.equal(cred.name, 'ci-cred');
      assert.equal(cred.project_id, projectId);
      assert.equal(cred.user_id, userId);
      assert.ok(cred.secret.length >= 32, 'a generated secret');
      assert.deepEqual(cred.roles.split(' ').sort(), ['member', 'reader']);

      const credEnv: Env = {
        ...bareEnv(),
        OS_AUTH_TYPE: 'v3applicationcredential',
        OS_APPLICATION_CREDENTIAL_ID: cred.id,
        OS_APPLICATION_CREDENTIAL_SECRET: cred.secret,
      };
      const t = await cloud.run<Token>(['token', 'issue'], credEnv);
      assert.equal(t.user_id, userId);
      assert.equal(t.project_id, projectId);
      const body = (await (await validate(t.id, t.id)).json()) as {
        token: { methods: string[]; application_credential: { id: string; restricted: boolean } };
      };
      assert.deepEqual(body.token.methods, ['application_credential']);
      assert.equal(body.token.application_credential.id, cred.id);
      const shown = await cloud.run<Row>(['project', 'show', projectId], credEnv);
      assert.equal(shown.name, project);
      assert.equal(shown.id, projectId);

      const wrong = await cloud.attempt(['token', 'issue'], {
        ...credEnv,
        OS_APPLICATION_CREDENTIAL_SECRET: `${cred.secret}x`,
      });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /HTTP 401/);

      const list = await cloud.run<Row[]>(['application', 'credential', 'list'], env);
      assert.deepEqual(list, [
        { ID: cred.id, Name: 'ci-cred', 'Project ID': projectId, Description: 'e2e', 'Expires At': null },
      ]);
      assert.equal((await cloud.run<Row>(['application', 'credential', 'show', 'ci-cred'], env)).id, cred.id);

      assert.equal(await cloud.run(['application', 'credential', 'delete', 'ci-cred'], env), '');
      assert.deepEqual(await cloud.run<Row[]>(['application', 'credential', 'list'], env), []);
      const deleted = await cloud.attempt(['token', 'issue'], credEnv);
      assert.equal(deleted.code, 1);
      assert.match(deleted.stderr, /HTTP 401/);
      assert.equal(deleted.stdout, '');
    });

    after(async () => {
      await cloud.attempt(['user', 'delete', user]);
      await cloud.attempt(['project', 'delete', project]);
    });
  });

  it('token revoke: the revoked token no longer works with --os-auth-type token nor validates', async () => {
    const t = await cloud.run<Token>(['token', 'issue']);
    const tokenArgs = ['--os-auth-type', 'token', '--os-token', t.id, '--os-project-id', adminProjectId];
    const works = await cloud.run<Row[]>([...tokenArgs, 'project', 'list'], bareEnv());
    assert.ok(works.some((p) => p.Name === 'admin'));

    const checker = await issueToken(cloud.localUrl, {
      name: 'admin',
      password: cloud.adminPassword,
      project: 'admin',
    });
    assert.equal((await validate(checker, t.id)).status, 200);

    assert.equal(await cloud.run(['token', 'revoke', t.id]), '');

    const fails = await cloud.attempt([...tokenArgs, 'project', 'list'], bareEnv());
    assert.equal(fails.code, 1);
    assert.match(fails.stderr, /HTTP 401/);
    assert.equal(fails.stdout, '');
    const res = await validate(checker, t.id);
    assert.equal(res.status, 404);
    const direct = await fetch(`${cloud.localUrl}/identity/v3/projects`, {
      headers: { 'X-Auth-Token': t.id },
    });
    assert.equal(direct.status, 401);
    // other tokens of the same user are untouched
    assert.equal((await validate(checker, checker)).status, 200);
    const other = await cloud.run<Token>(['token', 'issue']);
    assert.notEqual(other.id, t.id);
  });
});
