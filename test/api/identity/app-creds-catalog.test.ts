import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';

for (const backend of testBackends()) {
  describe(`application credentials and the catalog [${backend}]`, () => {
    let api: TestApi;
    let admin: string;
    const auth = () => ({ 'X-Auth-Token': admin });
    before(async () => {
      api = await startTestApi(backend);
      admin = await api.adminToken();
    });
    after(() => api.close());

    const loginWith = (credential: Record<string, unknown>) =>
      api.http.post('/identity/v3/auth/tokens').send({
        auth: { identity: { methods: ['application_credential'], application_credential: credential } },
      });

    it('create shows the secret once; login by id or by name+user; expiry echoed with microseconds', async () => {
      const expires = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d{3}Z$/, '.123456');
      const res = await api.http
        .post(`/identity/v3/users/${api.adminUserId}/application_credentials`)
        .set(auth())
        .send({ application_credential: { name: 'ci', roles: [{ name: 'member' }], expires_at: expires } });
      assert.equal(res.status, 201);
      const ac = res.body.application_credential;
      assert.equal(typeof ac.secret, 'string');
      assert.equal(ac.expires_at, expires);
      assert.equal(ac.project_id, api.adminProjectId);
      assert.deepEqual(
        ac.roles.map((r: { name: string }) => r.name),
        ['member'],
      );
      assert.equal(ac.unrestricted, false);
      const shown = await api.http
        .get(`/identity/v3/users/${api.adminUserId}/application_credentials/${ac.id}`)
        .set(auth());
      assert.equal(shown.body.application_credential.secret, undefined);

      const byId = await loginWith({ id: ac.id, secret: ac.secret });
      assert.equal(byId.status, 201);
      assert.deepEqual(byId.body.token.methods, ['application_credential']);
      assert.equal(byId.body.token.project.id, api.adminProjectId);
      assert.deepEqual(
        byId.body.token.roles.map((r: { name: string }) => r.name),
        ['member'],
      );
      assert.deepEqual(byId.body.token.application_credential, { id: ac.id, name: 'ci', restricted: true });
      const byName = await loginWith({
        name: 'ci',
        secret: ac.secret,
        user: { name: 'admin', domain: { id: 'default' } },
      });
      assert.equal(byName.status, 201);
      assert.equal((await loginWith({ id: ac.id, secret: 'wrong' })).status, 401);

      // a restricted credential cannot make more credentials
      const appToken = byId.headers['x-subject-token'];
      const more = await api.http
        .post(`/identity/v3/users/${api.adminUserId}/application_credentials`)
        .set('X-Auth-Token', appToken)
        .send({ application_credential: { name: 'more' } });
      assert.equal(more.status, 403);

      // deleting it revokes its tokens and its logins
      await api.http
        .delete(`/identity/v3/users/${api.adminUserId}/application_credentials/${ac.id}`)
        .set(auth())
        .expect(204);
      await api.http.get('/identity/v3/auth/projects').set('X-Auth-Token', appToken).expect(401);
      assert.equal((await loginWith({ id: ac.id, secret: ac.secret })).status, 401);
    });

    it('bad input: unknown fields 400, duplicate name 409, past expiry 400, role not held 404, other user 403', async () => {
      const url = `/identity/v3/users/${api.adminUserId}/application_credentials`;
      const unknown = await api.http
        .post(url)
        .set(auth())
        .send({ application_credential: { name: 'x', colour: 'red' } });
      assert.equal(unknown.status, 400);
      assert.match(unknown.body.error.message, /'colour' was unexpected/);
      await api.http
        .post(url)
        .set(auth())
        .send({ application_credential: { name: 'same' } })
        .expect(201);
      await api.http
        .post(url)
        .set(auth())
        .send({ application_credential: { name: 'same' } })
        .expect(409);
      await api.http
        .post(url)
        .set(auth())
        .send({ application_credential: { name: 'old', expires_at: '2001-01-01T00:00:00' } })
        .expect(400);
      await api.http
        .post(url)
        .set(auth())
        .send({ application_credential: { name: 'nr', roles: [{ name: 'no-such-role' }] } })
        .expect(404);
      const other = (
        await api.http
          .post('/identity/v3/users')
          .set(auth())
          .send({ user: { name: 'ac-other', password: 'pw' } })
      ).body.user;
      await api.http
        .post(`/identity/v3/users/${other.id}/application_credentials`)
        .set(auth())
        .send({ application_credential: { name: 'y' } })
        .expect(403);
      const list = await api.http.get(url).set(auth());
      assert.deepEqual(
        list.body.application_credentials.map((c: { name: string }) => c.name),
        ['same'],
      );
    });

    it('catalog: services, endpoints and regions CRUD, and the token catalog follows', async () => {
      const region = (
        await api.http
          .post('/identity/v3/regions')
          .set(auth())
          .send({ region: { id: 'RegionTwo', description: 'second' } })
          .expect(201)
      ).body.region;
      assert.equal(region.id, 'RegionTwo');
      await api.http
        .post('/identity/v3/regions')
        .set(auth())
        .send({ region: { id: 'RegionTwo' } })
        .expect(409);
      const svc = (
        await api.http
          .post('/identity/v3/services')
          .set(auth())
          .send({ service: { type: 'metric', name: 'gnocchi' } })
          .expect(201)
      ).body.service;
      const ep = (
        await api.http
          .post('/identity/v3/endpoints')
          .set(auth())
          .send({
            endpoint: {
              service_id: svc.id,
              interface: 'public',
              url: 'http://m.example:8041',
              region_id: 'RegionTwo',
            },
          })
          .expect(201)
      ).body.endpoint;
      assert.equal(ep.region, 'RegionTwo');
      const badIface = await api.http
        .post('/identity/v3/endpoints')
        .set(auth())
        .send({ endpoint: { service_id: svc.id, interface: 'private', url: 'http://x' } });
      assert.equal(badIface.status, 400);
      const badEnabled = await api.http
        .post('/identity/v3/endpoints')
        .set(auth())
        .send({ endpoint: { service_id: svc.id, interface: 'public', url: 'http://x', enabled: 'True' } });
      assert.equal(badEnabled.status, 400);
      const badSvc = await api.http
        .post('/identity/v3/endpoints')
        .set(auth())
        .send({ endpoint: { service_id: 'nope', interface: 'public', url: 'http://x' } });
      assert.equal(badSvc.status, 400);
      const cat = await api.http.get('/identity/v3/auth/catalog').set('X-Auth-Token', await api.adminToken());
      const metric = cat.body.catalog.find((c: { type: string }) => c.type === 'metric');
      assert.deepEqual(
        metric.endpoints.map((e: { url: string }) => e.url),
        ['http://m.example:8041'],
      );
      await api.http.delete(`/identity/v3/regions/RegionTwo`).set(auth()).expect(409);
      await api.http.delete(`/identity/v3/endpoints/${ep.id}`).set(auth()).expect(204);
      await api.http.delete(`/identity/v3/services/${svc.id}`).set(auth()).expect(204);
      await api.http.delete(`/identity/v3/regions/RegionTwo`).set(auth()).expect(204);
      const filtered = await api.http.get('/identity/v3/services?type=compute').set(auth());
      assert.deepEqual(
        filtered.body.services.map((s: { name: string }) => s.name),
        ['nova'],
      );
    });
  });
}
