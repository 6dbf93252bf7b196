import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';
import { createImage, JSON_PATCH, tenant, type Tenant } from './support.js';

for (const backend of testBackends()) {
  describe(`Glance visibility and image members [${backend}]`, () => {
    let api: TestApi;
    let admin: string;
    let a: Tenant;
    let b: Tenant;
    let c: Tenant;
    const list = async (token: string, q = '') =>
      (
        (await api.http.get(`/image/v2/images${q}`).set('X-Auth-Token', token)).body.images as {
          id: string;
        }[]
      ).map((i) => i.id);
    const status = async (token: string, id: string) =>
      (await api.http.get(`/image/v2/images/${id}`).set('X-Auth-Token', token)).status;
    const members = (id: string) => `/image/v2/images/${id}/members`;

    before(async () => {
      api = await startTestApi(backend);
      admin = await api.adminToken();
      a = await tenant(api, 'mem-a');
      b = await tenant(api, 'mem-b');
      c = await tenant(api, 'mem-c');
    });
    after(() => api.close());

    it('shares an image: pending, accepted, rejected, removed', async () => {
      const img = await createImage(api, a.member, { name: 'shared-one' });
      assert.equal(img.visibility, 'shared');
      assert.equal(await status(b.member, img.id), 404);

      const add = await api.http
        .post(members(img.id))
        .set('X-Auth-Token', a.member)
        .send({ member: b.projectId });
      assert.equal(add.status, 200, add.text);
      assert.deepEqual(
        { ...add.body, created_at: 'T', updated_at: 'T' },
        {
          member_id: b.projectId,
          image_id: img.id,
          status: 'pending',
          created_at: 'T',
          updated_at: 'T',
          schema: '/v2/schemas/member',
        },
      );
      const dup = await api.http
        .post(members(img.id))
        .set('X-Auth-Token', a.member)
        .send({ member: b.projectId });
      assert.equal(dup.status, 409);
      for (const body of [{}, { member: '' }, { member: 5 }]) {
        const res = await api.http.post(members(img.id)).set('X-Auth-Token', a.member).send(body);
        assert.equal(res.status, 400, JSON.stringify(body));
      }
      // the consumer sees it, but lists it only when asking for pending shared images
      assert.equal(await status(b.member, img.id), 200);
      assert.deepEqual(await list(b.member), []);
      assert.deepEqual(await list(b.member, '?member_status=pending&visibility=shared'), [img.id]);
      assert.deepEqual(await list(b.member, '?member_status=all'), [img.id]);
      assert.equal(await status(c.member, img.id), 404);

      // only the member decides its status; only the owner adds and removes
      const ownerSets = await api.http
        .put(`${members(img.id)}/${b.projectId}`)
        .set('X-Auth-Token', a.member)
        .send({ status: 'accepted' });
      assert.equal(ownerSets.status, 403);
      const badStatus = await api.http
        .put(`${members(img.id)}/${b.projectId}`)
        .set('X-Auth-Token', b.member)
        .send({ status: 'maybe' });
      assert.equal(badStatus.status, 400);
      const accept = await api.http
        .put(`${members(img.id)}/${b.projectId}`)
        .set('X-Auth-Token', b.member)
        .send({ status: 'accepted' });
      assert.equal(accept.status, 200);
      assert.equal(accept.body.status, 'accepted');
      assert.deepEqual(await list(b.member), [img.id]);
      assert.deepEqual(await list(b.member, '?visibility=shared'), [img.id]);
      const cannot = await api.http
        .post(members(img.id))
        .set('X-Auth-Token', b.member)
        .send({ member: c.projectId });
      assert.equal(cannot.status, 403);
      assert.equal(
        (await api.http.delete(`${members(img.id)}/${b.projectId}`).set('X-Auth-Token', b.member)).status,
        403,
      );

      // the owner lists every member, a member only itself
      await api.http
        .post(members(img.id))
        .set('X-Auth-Token', a.member)
        .send({ member: c.projectId })
        .expect(200);
      const all = await api.http.get(members(img.id)).set('X-Auth-Token', a.reader);
      assert.equal(all.body.schema, '/v2/schemas/members');
      assert.deepEqual(
        all.body.members.map((m: { member_id: string }) => m.member_id).sort(),
        [b.projectId, c.projectId].sort(),
      );
      const own = await api.http.get(members(img.id)).set('X-Auth-Token', b.member);
      assert.deepEqual(
        own.body.members.map((m: { member_id: string }) => m.member_id),
        [b.projectId],
      );
      assert.equal(
        (await api.http.get(`${members(img.id)}/${c.projectId}`).set('X-Auth-Token', b.member)).status,
        404,
      );
      assert.equal(
        (await api.http.get(`${members(img.id)}/${b.projectId}`).set('X-Auth-Token', b.member)).status,
        200,
      );

      // rejected: visible by id, not listed by default
      await api.http
        .put(`${members(img.id)}/${b.projectId}`)
        .set('X-Auth-Token', b.member)
        .send({ status: 'rejected' })
        .expect(200);
      assert.deepEqual(await list(b.member), []);
      assert.deepEqual(await list(b.member, '?member_status=rejected'), [img.id]);
      // a member may not change or delete the image
      const change = await api.http
        .patch(`/image/v2/images/${img.id}`)
        .set('X-Auth-Token', b.member)
        .set('Content-Type', JSON_PATCH)
        .send(JSON.stringify([{ op: 'replace', path: '/name', value: 'mine' }]));
      assert.equal(change.status, 403);
      assert.equal(
        (await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', b.member)).status,
        403,
      );

      assert.equal(
        (await api.http.delete(`${members(img.id)}/${b.projectId}`).set('X-Auth-Token', a.member)).status,
        204,
      );
      assert.equal(
        (await api.http.delete(`${members(img.id)}/${b.projectId}`).set('X-Auth-Token', a.member)).status,
        404,
      );
      assert.equal(await status(b.member, img.id), 404);
      await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member).expect(204);
    });

    it('private, community and public visibility; only shared images have members', async () => {
      const priv = await createImage(api, a.member, { visibility: 'private' });
      const comm = await createImage(api, a.member, { visibility: 'community' });
      const pub = await createImage(api, admin, { visibility: 'public' });
      const noMembers = await api.http
        .post(members(priv.id))
        .set('X-Auth-Token', a.member)
        .send({ member: b.projectId });
      assert.equal(noMembers.status, 403);
      assert.match(noMembers.text, /Only shared images have members/);
      assert.equal((await api.http.get(members(priv.id)).set('X-Auth-Token', a.member)).status, 403);

      assert.equal(await status(b.member, priv.id), 404);
      assert.equal(await status(b.member, comm.id), 200);
      assert.equal(await status(b.reader, pub.id), 200);
      // community images are listed to others only on request; the owner sees them by default
      assert.deepEqual(await list(b.member), [pub.id]);
      assert.deepEqual(await list(b.member, '?visibility=community'), [comm.id]);
      assert.deepEqual((await list(b.member, '?visibility=all')).sort(), [comm.id, pub.id].sort());
      assert.deepEqual((await list(a.member)).sort(), [comm.id, priv.id, pub.id].sort());
      // publicizing is admin-only, as Glance's default policy
      const publicize = (token: string) =>
        api.http
          .patch(`/image/v2/images/${priv.id}`)
          .set('X-Auth-Token', token)
          .set('Content-Type', JSON_PATCH)
          .send(JSON.stringify([{ op: 'replace', path: '/visibility', value: 'public' }]));
      assert.equal((await publicize(a.member)).status, 403);
      assert.equal((await publicize(admin)).status, 200);
      assert.equal(await status(b.member, priv.id), 200);
      // the admin sees everything, other projects' private images included
      const secret = await createImage(api, c.member, { visibility: 'private' });
      assert.ok((await list(admin)).includes(secret.id));
      assert.equal(await status(admin, secret.id), 200);
      for (const [t, id] of [
        [admin, priv.id],
        [a.member, comm.id],
        [admin, pub.id],
        [c.member, secret.id],
      ]) {
        await api.http.delete(`/image/v2/images/${id}`).set('X-Auth-Token', t).expect(204);
      }
    });
  });
}
