import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';

for (const backend of testBackends()) {
  describe(`two API processes over one database [${backend}]`, () => {
    let a: TestApi;
    let b: TestApi;
    before(async () => {
      a = await startTestApi(backend, { overrides: { 'token.revocation_refresh_interval': 0.2 } });
      b = await startTestApi(backend, {
        shareWith: a,
        overrides: { 'token.revocation_refresh_interval': 0.2 },
      });
    });
    after(async () => {
      await b.close();
      await a.close();
    });

    it('a token issued by one is valid on the other; a revocation on one reaches the other within the refresh interval', async () => {
      const token = await a.adminToken();
      await b.http.get('/identity/v3/projects').set('X-Auth-Token', token).expect(200);
      const other = await b.adminToken();
      await b.http
        .delete('/identity/v3/auth/tokens')
        .set('X-Auth-Token', other)
        .set('X-Subject-Token', token)
        .expect(204);
      await b.http.get('/identity/v3/projects').set('X-Auth-Token', token).expect(401); // at once where it was revoked
      await new Promise((r) => setTimeout(r, 600));
      await a.http.get('/identity/v3/projects').set('X-Auth-Token', token).expect(401);
      await a.http.get('/identity/v3/projects').set('X-Auth-Token', other).expect(200);
    });

    it('writes through one process are read through the other', async () => {
      const token = await a.adminToken();
      const created = await a.http
        .post('/identity/v3/projects')
        .set('X-Auth-Token', token)
        .send({ project: { name: 'shared' } })
        .expect(201);
      const seen = await b.http
        .get(`/identity/v3/projects/${created.body.project.id}`)
        .set('X-Auth-Token', token)
        .expect(200);
      assert.equal(seen.body.project.name, 'shared');
    });
  });
}
