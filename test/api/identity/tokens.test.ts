import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApi, ADMIN_PASSWORD, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';

const ISO_MICROS_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

for (const backend of testBackends()) {
  describe(`POST/GET/HEAD/DELETE /v3/auth/tokens [${backend}]`, () => {
    let api: TestApi;
    before(async () => {
      api = await startTestApi(backend);
    });
    after(() => api.close());

    const passwordAuth = (scope?: unknown) => ({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { name: 'Default' }, password: ADMIN_PASSWORD } },
        },
        ...(scope ? { scope } : {}),
      },
    });

    it('issues a project-scoped token with the body OSC and gophercloud read', async () => {
      const res = await api.http
        .post('/identity/v3/auth/tokens')
        .send(passwordAuth({ project: { name: 'admin', domain: { name: 'Default' } } }));
      assert.equal(res.status, 201);
      const subject = res.headers['x-subject-token'];
      assert.match(subject, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a compact JWS');
      assert.equal(JSON.parse(Buffer.from(subject.split('.')[0], 'base64url').toString()).alg, 'ES256');
      const t = res.body.token;
      assert.deepEqual(t.methods, ['password']);
      assert.equal(t.user.name, 'admin');
      assert.deepEqual(t.user.domain, { id: 'default', name: 'Default' });
      assert.equal(t.project.name, 'admin');
      assert.deepEqual(t.project.domain, { id: 'default', name: 'Default' });
      assert.match(t.expires_at, ISO_MICROS_Z);
      assert.match(t.issued_at, ISO_MICROS_Z);
      assert.ok(t.expires_at > t.issued_at);
      assert.deepEqual(t.roles.map((r: { name: string }) => r.name).sort(), ['admin', 'member', 'reader']);
      assert.equal(t.audit_ids.length, 1);
      const types = t.catalog.map((c: { type: string }) => c.type).sort();
      assert.deepEqual(types, ['block-storage', 'compute', 'identity', 'image', 'network', 'volumev3']);
      const volume = t.catalog.find((c: { type: string }) => c.type === 'volumev3');
      assert.ok(volume.endpoints.every((e: { url: string }) => e.url.endsWith(`/volume/v3/${t.project.id}`)));
      for (const e of volume.endpoints) assert.equal(e.region, 'RegionOne');
      assert.ok(res.headers['x-openstack-request-id'].startsWith('req-'));
    });

    it('GET returns exactly the body POST returned; HEAD 200; DELETE 204, then 404', async () => {
      const post = await api.http
        .post('/identity/v3/auth/tokens')
        .send(passwordAuth({ project: { name: 'admin', domain: { id: 'default' } } }));
      const token = post.headers['x-subject-token'];
      const get = await api.http
        .get('/identity/v3/auth/tokens')
        .set('X-Auth-Token', token)
        .set('X-Subject-Token', token);
      assert.equal(get.status, 200);
      assert.deepEqual(get.body, post.body);
      assert.equal(get.headers['x-subject-token'], token);
      const head = await api.http
        .head('/identity/v3/auth/tokens')
        .set('X-Auth-Token', token)
        .set('X-Subject-Token', token);
      assert.equal(head.status, 200);
      const other = await api.adminToken();
      const del = await api.http
        .delete('/identity/v3/auth/tokens')
        .set('X-Auth-Token', other)
        .set('X-Subject-Token', token);
      assert.equal(del.status, 204);
      const again = await api.http
        .get('/identity/v3/auth/tokens')
        .set('X-Auth-Token', other)
        .set('X-Subject-Token', token);
      assert.equal(again.status, 404);
      assert.equal(again.body.error.code, 404);
      const use = await api.http.get('/identity/v3/projects').set('X-Auth-Token', token);
      assert.equal(use.status, 401, 'a revoked token is refused everywhere');
    });

    it('unscoped token has no catalog, project or roles; admin user has a default project so is scoped', async () => {
      // The bootstrap admin has default_project_id = admin: unscoped requests get it, as Keystone does.
      const res = await api.http.post('/identity/v3/auth/tokens').send(passwordAuth());
      assert.equal(res.status, 201);
      assert.equal(res.body.token.project.name, 'admin');
    });

    it('wrong password, unknown user, unknown project: 401 with the Keystone body', async () => {
      const bad = await api.http.post('/identity/v3/auth/tokens').send({
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: 'admin', domain: { id: 'default' }, password: 'nope' } },
          },
        },
      });
      assert.equal(bad.status, 401);
      assert.deepEqual(Object.keys(bad.body), ['error']);
      assert.equal(bad.body.error.code, 401);
      assert.equal(bad.body.error.title, 'Unauthorized');
      const ghost = await api.http.post('/identity/v3/auth/tokens').send({
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: 'ghost', domain: { id: 'default' }, password: 'x' } },
          },
        },
      });
      assert.equal(ghost.status, 401);
      const noProject = await api.http
        .post('/identity/v3/auth/tokens')
        .send(passwordAuth({ project: { id: 'does-not-exist' } }));
      assert.equal(noProject.status, 401);
    });

    it('malformed bodies are 400 with the Keystone body, never 500', async () => {
      const cases: [string, string][] = [
        ['{"auth": ', 'truncated JSON'],
        ['{"auth": {"identity": {"methods": "password"}}}', 'methods not an array'],
        ['{"auth": {}}', 'identity missing'],
        ['[]', 'not an object'],
        ['{"auth": {"identity": {"methods": ["password"]}}}', 'password section missing'],
      ];
      for (const [body, why] of cases) {
        const res = await api.http
          .post('/identity/v3/auth/tokens')
          .set('Content-Type', 'application/json')
          .send(body);
        assert.equal(res.status, 400, why);
        assert.equal(res.body.error.code, 400, why);
      }
      const unsupported = await api.http
        .post('/identity/v3/auth/tokens')
        .send({ auth: { identity: { methods: ['totp'], totp: {} } } });
      assert.equal(unsupported.status, 401);
    });

    it('oversized bodies are 413', async () => {
      const big = JSON.stringify({
        auth: { identity: { methods: ['password'], password: { user: { name: 'x'.repeat(200_000) } } } },
      });
      const res = await api.http
        .post('/identity/v3/auth/tokens')
        .set('Content-Type', 'application/json')
        .send(big);
      assert.equal(res.status, 413);
      assert.equal(res.body.error.code, 413);
    });

    it('rescoping with the token method keeps expiry and user, adds the method, and chains audit ids', async () => {
      const first = await api.http
        .post('/identity/v3/auth/tokens')
        .send(passwordAuth({ project: { name: 'admin', domain: { id: 'default' } } }));
      const id = first.headers['x-subject-token'];
      const res = await api.http.post('/identity/v3/auth/tokens').send({
        auth: {
          identity: { methods: ['token'], token: { id } },
          scope: { project: { name: 'admin', domain: { id: 'default' } } },
        },
      });
      assert.equal(res.status, 201);
      assert.equal(res.body.token.expires_at, first.body.token.expires_at);
      assert.deepEqual(new Set(res.body.token.methods), new Set(['password', 'token']));
      assert.deepEqual(res.body.token.user, first.body.token.user);
      assert.equal(res.body.token.audit_ids[1], first.body.token.audit_ids[0]);
      // Revoking the child leaves the parent valid.
      const admin = await api.adminToken();
      await api.http
        .delete('/identity/v3/auth/tokens')
        .set('X-Auth-Token', admin)
        .set('X-Subject-Token', res.headers['x-subject-token'])
        .expect(204);
      await api.http
        .get('/identity/v3/auth/tokens')
        .set('X-Auth-Token', admin)
        .set('X-Subject-Token', id)
        .expect(200);
    });

    it('a tampered or foreign token is 401', async () => {
      const token = await api.adminToken();
      const [h, p, s] = token.split('.');
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
      claims.sub = 'someone-else';
      const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
      const res = await api.http.get('/identity/v3/projects').set('X-Auth-Token', forged);
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], `Keystone uri="${api.url}/identity"`);
      const none = await api.http.get('/identity/v3/projects');
      assert.equal(none.status, 401);
      const garbage = await api.http.get('/identity/v3/projects').set('X-Auth-Token', 'not-a-token');
      assert.equal(garbage.status, 401);
    });
  });
}
