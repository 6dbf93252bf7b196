import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';

for (const backend of testBackends()) {
  describe(`roles, grants, groups, role assignments [${backend}]`, () => {
    let api: TestApi;
    let admin: string;
    const auth = () => ({ 'X-Auth-Token': admin });
    const mk = async (path: string, key: string, body: Record<string, unknown>) =>
      (
        await api.http
          .post(`/identity/v3/${path}`)
          .set(auth())
          .send({ [key]: body })
          .expect(201)
      ).body[key];
    before(async () => {
      api = await startTestApi(backend);
      admin = await api.adminToken();
    });
    after(() => api.close());

    it('bootstrap made admin ⊃ member ⊃ reader; role CRUD; duplicate names 409', async () => {
      const roles = (await api.http.get('/identity/v3/roles').set(auth())).body.roles.map(
        (r: { name: string }) => r.name,
      );
      assert.deepEqual(roles, ['admin', 'member', 'reader']);
      const inf = (await api.http.get('/identity/v3/role_inferences').set(auth())).body.role_inferences;
      const pairs = inf
        .flatMap((r: { prior_role: { name: string }; implies: { name: string }[] }) =>
          r.implies.map((i) => `${r.prior_role.name}>${i.name}`),
        )
        .sort();
      assert.deepEqual(pairs, ['admin>member', 'member>reader']);
      const role = await mk('roles', 'role', { name: 'auditor', description: 'reads' });
      assert.equal(role.domain_id, null);
      await api.http
        .post('/identity/v3/roles')
        .set(auth())
        .send({ role: { name: 'auditor' } })
        .expect(409);
      const patched = await api.http
        .patch(`/identity/v3/roles/${role.id}`)
        .set(auth())
        .send({ role: { description: 'reads all' } });
      assert.equal(patched.body.role.description, 'reads all');
      await api.http.delete(`/identity/v3/roles/${role.id}`).set(auth()).expect(204);
      await api.http.get(`/identity/v3/roles/${role.id}`).set(auth()).expect(404);
    });

    it('grants: PUT idempotent, HEAD/GET check 204/404, list, DELETE revokes tokens on that project only', async () => {
      const p1 = await mk('projects', 'project', { name: 'g1' });
      const p2 = await mk('projects', 'project', { name: 'g2' });
      const u = await mk('users', 'user', { name: 'gina', password: 'pw' });
      const member = (await api.http.get('/identity/v3/roles?name=member').set(auth())).body.roles[0];
      const path = (p: string) => `/identity/v3/projects/${p}/users/${u.id}/roles/${member.id}`;
      await api.http.put(path(p1.id)).set(auth()).expect(204);
      await api.http.put(path(p1.id)).set(auth()).expect(204);
      await api.http.put(path(p2.id)).set(auth()).expect(204);
      await api.http.head(path(p1.id)).set(auth()).expect(204);
      const list = await api.http
        .get(`/identity/v3/projects/${p1.id}/users/${u.id}/roles`)
        .set(auth())
        .expect(200);
      assert.deepEqual(
        list.body.roles.map((r: { name: string }) => r.name),
        ['member'],
      );
      const t1 = await api.tokenFor(u.id, 'pw', p1.id);
      const t2 = await api.tokenFor(u.id, 'pw', p2.id);
      const tok = (
        await api.http.get('/identity/v3/auth/tokens').set('X-Auth-Token', t1).set('X-Subject-Token', t1)
      ).body.token;
      assert.deepEqual(
        tok.roles.map((r: { name: string }) => r.name).sort(),
        ['member', 'reader'],
        'implied role added',
      );
      await api.http.delete(path(p1.id)).set(auth()).expect(204);
      await api.http.head(path(p1.id)).set(auth()).expect(404);
      await api.http.get(`/identity/v3/users/${u.id}`).set('X-Auth-Token', t1).expect(401);
      await api.http.get(`/identity/v3/users/${u.id}`).set('X-Auth-Token', t2).expect(200);
      await api.http
        .put(`/identity/v3/projects/${p1.id}/users/nobody/roles/${member.id}`)
        .set(auth())
        .expect(404);
      await api.http
        .put(`/identity/v3/projects/nowhere/users/${u.id}/roles/${member.id}`)
        .set(auth())
        .expect(404);
      await api.http.put(`/identity/v3/projects/${p1.id}/users/${u.id}/roles/norole`).set(auth()).expect(404);
    });

    it('role_assignments filters, include_names and effective group expansion', async () => {
      const p = await mk('projects', 'project', { name: 'ra' });
      const u = await mk('users', 'user', { name: 'hank', password: 'pw' });
      const g = await mk('groups', 'group', { name: 'ops' });
      const reader = (await api.http.get('/identity/v3/roles?name=reader').set(auth())).body.roles[0];
      await api.http.put(`/identity/v3/groups/${g.id}/users/${u.id}`).set(auth()).expect(204);
      await api.http.head(`/identity/v3/groups/${g.id}/users/${u.id}`).set(auth()).expect(204);
      await api.http
        .put(`/identity/v3/projects/${p.id}/groups/${g.id}/roles/${reader.id}`)
        .set(auth())
        .expect(204);
      const direct = await api.http
        .get(`/identity/v3/role_assignments?scope.project.id=${p.id}&include_names`)
        .set(auth());
      assert.equal(direct.body.role_assignments.length, 1);
      const a = direct.body.role_assignments[0];
      assert.deepEqual(a.group, { id: g.id, name: 'ops', domain: { id: 'default', name: 'Default' } });
      assert.deepEqual(a.scope.project, { id: p.id, name: 'ra', domain: { id: 'default', name: 'Default' } });
      assert.equal(
        a.links.assignment,
        `${api.url}/identity/v3/projects/${p.id}/groups/${g.id}/roles/${reader.id}`,
      );
      const eff = await api.http
        .get(`/identity/v3/role_assignments?scope.project.id=${p.id}&effective`)
        .set(auth());
      assert.deepEqual(
        eff.body.role_assignments.map((x: { user: { id: string } }) => x.user.id),
        [u.id],
      );
      assert.ok(eff.body.role_assignments[0].links.membership);
      // the group grant lets the user scope to the project
      const t = await api.tokenFor(u.id, 'pw', p.id);
      const projects = await api.http.get('/identity/v3/auth/projects').set('X-Auth-Token', t);
      assert.deepEqual(
        projects.body.projects.map((x: { id: string }) => x.id),
        [p.id],
      );
      // leaving the group revokes the token
      await api.http.delete(`/identity/v3/groups/${g.id}/users/${u.id}`).set(auth()).expect(204);
      await api.http.get('/identity/v3/auth/projects').set('X-Auth-Token', t).expect(401);
      await assert.rejects(api.tokenFor(u.id, 'pw', p.id));
    });

    it('domain grants give domain-scoped tokens; /v3/auth/domains lists them', async () => {
      const d = await mk('domains', 'domain', { name: 'dgrants' });
      const u = await mk('users', 'user', { name: 'ivy', password: 'pw' });
      const member = (await api.http.get('/identity/v3/roles?name=member').set(auth())).body.roles[0];
      await api.http
        .put(`/identity/v3/domains/${d.id}/users/${u.id}/roles/${member.id}`)
        .set(auth())
        .expect(204);
      const res = await api.http.post('/identity/v3/auth/tokens').send({
        auth: {
          identity: { methods: ['password'], password: { user: { id: u.id, password: 'pw' } } },
          scope: { domain: { id: d.id } },
        },
      });
      assert.equal(res.status, 201);
      assert.deepEqual(res.body.token.domain, { id: d.id, name: 'dgrants' });
      assert.equal(res.body.token.project, undefined);
      const doms = await api.http
        .get('/identity/v3/auth/domains')
        .set('X-Auth-Token', res.headers['x-subject-token']);
      assert.deepEqual(
        doms.body.domains.map((x: { id: string }) => x.id),
        [d.id],
      );
    });
  });
}
