import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';

for (const backend of testBackends()) {
  describe(`projects, users, domains [${backend}]`, () => {
    let api: TestApi;
    let admin: string;
    const auth = () => ({ 'X-Auth-Token': admin });
    before(async () => {
      api = await startTestApi(backend);
      admin = await api.adminToken();
    });
    after(() => api.close());

    it('project CRUD with Keystone bodies; extra attributes are kept', async () => {
      const created = await api.http
        .post('/identity/v3/projects')
        .set(auth())
        .send({ project: { name: 'p1', description: 'one', tags: ['a'], color: 'blue' } });
      assert.equal(created.status, 201);
      const p = created.body.project;
      assert.match(p.id, /^[0-9a-f]{32}$/);
      assert.deepEqual(
        {
          name: p.name,
          domain_id: p.domain_id,
          parent_id: p.parent_id,
          enabled: p.enabled,
          is_domain: p.is_domain,
          tags: p.tags,
          color: p.color,
        },
        {
          name: 'p1',
          domain_id: 'default',
          parent_id: 'default',
          enabled: true,
          is_domain: false,
          tags: ['a'],
          color: 'blue',
        },
      );
      assert.equal(p.links.self, `${api.url}/identity/v3/projects/${p.id}`);
      const got = await api.http.get(`/identity/v3/projects/${p.id}`).set(auth());
      assert.deepEqual(got.body.project, p);
      const patched = await api.http
        .patch(`/identity/v3/projects/${p.id}`)
        .set(auth())
        .send({ project: { description: 'uno', enabled: false } });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.project.description, 'uno');
      assert.equal(patched.body.project.enabled, false);
      const list = await api.http.get('/identity/v3/projects?name=p1').set(auth());
      assert.deepEqual(
        list.body.projects.map((x: { id: string }) => x.id),
        [p.id],
      );
      assert.equal(list.body.links.next, null);
      const disabled = await api.http.get('/identity/v3/projects?enabled=false').set(auth());
      assert.deepEqual(
        disabled.body.projects.map((x: { id: string }) => x.id),
        [p.id],
      );
      assert.equal((await api.http.delete(`/identity/v3/projects/${p.id}`).set(auth())).status, 204);
      const gone = await api.http.get(`/identity/v3/projects/${p.id}`).set(auth());
      assert.equal(gone.status, 404);
      assert.equal(gone.body.error.message, `Could not find project: ${p.id}.`);
    });

    it('project bad input: 400/404/409, never 500, nothing half-made', async () => {
      const bad = [
        { project: {} },
        { project: { name: '' } },
        { project: { name: 'x'.repeat(65) } },
        { project: { name: 7 } },
        { project: { name: 'ok', enabled: 'yes' } },
        { project: { name: 'ok', tags: 'a' } },
        { projects: { name: 'ok' } },
        { project: { name: 'ok', domain_id: 'no-such-domain' } },
      ];
      for (const body of bad) {
        const res = await api.http.post('/identity/v3/projects').set(auth()).send(body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error.code, 400);
      }
      const list = await api.http.get('/identity/v3/projects?name=ok').set(auth());
      assert.equal(list.body.projects.length, 0, 'no half-made project');
      await api.http
        .post('/identity/v3/projects')
        .set(auth())
        .send({ project: { name: 'dup' } })
        .expect(201);
      const dup = await api.http
        .post('/identity/v3/projects')
        .set(auth())
        .send({ project: { name: 'dup' } });
      assert.equal(dup.status, 409);
      assert.equal(dup.body.error.title, 'Conflict');
      const missingParent = await api.http
        .post('/identity/v3/projects')
        .set(auth())
        .send({ project: { name: 'child', parent_id: 'nope' } });
      assert.equal(missingParent.status, 404);
      const empty = await api.http
        .patch('/identity/v3/projects/nope')
        .set(auth())
        .send({ project: { name: 'x' } });
      assert.equal(empty.status, 404);
    });

    it('concurrent creates of one name: exactly one 201, the rest 409', async () => {
      const results = await Promise.all(
        Array.from({ length: 6 }, () =>
          api.http
            .post('/identity/v3/projects')
            .set(auth())
            .send({ project: { name: 'race' } }),
        ),
      );
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [201, 409, 409, 409, 409, 409]);
    });

    it('user CRUD, password change revokes old tokens, disabled users cannot log in', async () => {
      const project = await api.createProject('up');
      const created = await api.http
        .post('/identity/v3/users')
        .set(auth())
        .send({
          user: { name: 'bob', password: 'pw-1', email: 'bob@example.com', default_project_id: project.id },
        });
      assert.equal(created.status, 201);
      const u = created.body.user;
      assert.equal(u.email, 'bob@example.com');
      assert.equal(u.default_project_id, project.id);
      assert.equal(u.password, undefined, 'never echo the password');
      assert.equal(u.password_expires_at, null);
      await api.grant(project.id, u.id, 'member');
      const t1 = await api.tokenFor(u.id, 'pw-1', project.id);
      await api.http.get(`/identity/v3/users/${u.id}`).set('X-Auth-Token', t1).expect(200);

      await api.http
        .patch(`/identity/v3/users/${u.id}`)
        .set(auth())
        .send({ user: { password: 'pw-2' } })
        .expect(200);
      await api.http.get(`/identity/v3/users/${u.id}`).set('X-Auth-Token', t1).expect(401);
      await assert.rejects(api.tokenFor(u.id, 'pw-1', project.id));
      const t2 = await api.tokenFor(u.id, 'pw-2', project.id);

      // self-service password change needs the original password
      const wrong = await api.http
        .post(`/identity/v3/users/${u.id}/password`)
        .set('X-Auth-Token', t2)
        .send({ user: { original_password: 'nope', password: 'pw-3' } });
      assert.equal(wrong.status, 401);
      await api.http
        .post(`/identity/v3/users/${u.id}/password`)
        .set('X-Auth-Token', t2)
        .send({ user: { original_password: 'pw-2', password: 'pw-3' } })
        .expect(204);
      const t3 = await api.tokenFor(u.id, 'pw-3', project.id);

      await api.http
        .patch(`/identity/v3/users/${u.id}`)
        .set(auth())
        .send({ user: { enabled: false } })
        .expect(200);
      await api.http.get(`/identity/v3/users/${u.id}`).set('X-Auth-Token', t3).expect(401);
      await assert.rejects(api.tokenFor(u.id, 'pw-3', project.id));

      await api.http.delete(`/identity/v3/users/${u.id}`).set(auth()).expect(204);
      await api.http.get(`/identity/v3/users/${u.id}`).set(auth()).expect(404);
      const dup1 = await api.http
        .post('/identity/v3/users')
        .set(auth())
        .send({ user: { name: 'carol' } });
      assert.equal(dup1.status, 201);
      const dup2 = await api.http
        .post('/identity/v3/users')
        .set(auth())
        .send({ user: { name: 'carol' } });
      assert.equal(dup2.status, 409);
      const noDomain = await api.http
        .post('/identity/v3/users')
        .set(auth())
        .send({ user: { name: 'dan', domain_id: 'nowhere' } });
      assert.equal(
        noDomain.status,
        404,
        'Keystone answers 404 for an unknown domain (Tempest test_users_negative)',
      );
    });

    it("a member is refused admin routes (403) and another project's data (403), but may read itself", async () => {
      const p1 = await api.createProject('m1');
      const p2 = await api.createProject('m2');
      const u = await api.createUser('eve', 'pw');
      await api.grant(p1.id, u.id, 'member');
      const member = (await api.http.get('/identity/v3/roles?name=member').set(auth())).body.roles[0];
      const t = await api.tokenFor(u.id, 'pw', p1.id);
      const h = { 'X-Auth-Token': t };
      for (const [method, path] of [
        ['get', '/identity/v3/users'],
        ['get', '/identity/v3/projects'],
        ['post', '/identity/v3/projects'],
        ['delete', `/identity/v3/projects/${p1.id}`],
        ['get', `/identity/v3/projects/${p2.id}`],
        ['get', `/identity/v3/users/${api.adminUserId}`],
        ['put', `/identity/v3/projects/${p1.id}/users/${u.id}/roles/${member.id}`],
        ['get', '/identity/v3/role_assignments'],
        ['post', '/identity/v3/domains'],
        ['post', '/identity/v3/endpoints'],
      ] as const) {
        const res = await (api.http[method](path) as ReturnType<typeof api.http.get>)
          .set(h)
          .send(method === 'post' ? { project: { name: 'x' } } : undefined);
        assert.equal(res.status, 403, `${method} ${path}`);
        assert.match(
          res.body.error.message,
          /^You are not authorized to perform the requested action: identity:/,
        );
      }
      await api.http.get(`/identity/v3/projects/${p1.id}`).set(h).expect(200);
      await api.http.get(`/identity/v3/users/${u.id}`).set(h).expect(200);
      const mine = await api.http.get(`/identity/v3/users/${u.id}/projects`).set(h).expect(200);
      assert.deepEqual(
        mine.body.projects.map((p: { id: string }) => p.id),
        [p1.id],
      );
      const own = await api.http.get(`/identity/v3/role_assignments?user.id=${u.id}`).set(h).expect(200);
      assert.equal(own.body.role_assignments.length, 1);
      // scoping to a project without a role is refused
      await assert.rejects(api.tokenFor(u.id, 'pw', p2.id));
    });

    it('deleting a project revokes its tokens and its grants', async () => {
      const p = await api.createProject('doomed');
      const u = await api.createUser('frank', 'pw');
      await api.grant(p.id, u.id, 'member');
      const t = await api.tokenFor(u.id, 'pw', p.id);
      await api.http.delete(`/identity/v3/projects/${p.id}`).set(auth()).expect(204);
      await api.http.get(`/identity/v3/users/${u.id}`).set('X-Auth-Token', t).expect(401);
      const left = await api.http.get(`/identity/v3/role_assignments?scope.project.id=${p.id}`).set(auth());
      assert.equal(left.body.role_assignments.length, 0);
    });

    it('domains: create, get by name, delete only when disabled and empty', async () => {
      const d = (
        await api.http
          .post('/identity/v3/domains')
          .set(auth())
          .send({ domain: { name: 'acme' } })
      ).body.domain;
      assert.equal(d.enabled, true);
      const byName = await api.http.get('/identity/v3/domains?name=acme').set(auth());
      assert.deepEqual(
        byName.body.domains.map((x: { id: string }) => x.id),
        [d.id],
      );
      const dflt = await api.http.get('/identity/v3/domains?name=Default').set(auth());
      assert.equal(dflt.body.domains[0].id, 'default');
      const enabled = await api.http.delete(`/identity/v3/domains/${d.id}`).set(auth());
      assert.equal(enabled.status, 403);
      const p = (
        await api.http
          .post('/identity/v3/projects')
          .set(auth())
          .send({ project: { name: 'inacme', domain_id: d.id } })
      ).body.project;
      const u = (
        await api.http
          .post('/identity/v3/users')
          .set(auth())
          .send({ user: { name: 'wile', domain_id: d.id, password: 'pw' } })
      ).body.user;
      await api.grant(p.id, u.id, 'member');
      const t = await api.tokenFor(u.id, 'pw', p.id);
      await api.http
        .patch(`/identity/v3/domains/${d.id}`)
        .set(auth())
        .send({ domain: { enabled: false } })
        .expect(200);
      await api.http.get(`/identity/v3/users/${u.id}`).set('X-Auth-Token', t).expect(401); // disabling revokes its tokens
      // As Keystone (and Tempest's test_domain_delete_cascades_content): deleting a disabled domain deletes its content.
      await api.http.delete(`/identity/v3/domains/${d.id}`).set(auth()).expect(204);
      await api.http.get(`/identity/v3/projects/${p.id}`).set(auth()).expect(404);
      await api.http.get(`/identity/v3/users/${u.id}`).set(auth()).expect(404);
      const left = await api.http.get(`/identity/v3/role_assignments?scope.project.id=${p.id}`).set(auth());
      assert.equal(left.body.role_assignments.length, 0);
      await api.http
        .patch(`/identity/v3/domains/${d.id}`)
        .set(auth())
        .send({ domain: { enabled: false } })
        .expect(404);
      const longName = await api.http
        .post('/identity/v3/domains')
        .set(auth())
        .send({ domain: { name: 'x'.repeat(65) } });
      assert.equal(longName.status, 400);
    });
  });
}
