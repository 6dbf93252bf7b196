import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';
import { createImage, JSON_PATCH, JSON_PATCH_D4, tenant, upload, type Tenant } from './support.js';

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

for (const backend of testBackends()) {
  describe(`Glance images: CRUD, lists, patch, tags, schemas [${backend}]`, () => {
    let api: TestApi;
    let admin: string;
    let a: Tenant;
    let b: Tenant;
    const patch = (token: string, id: string, ops: unknown, type = JSON_PATCH) =>
      api.http
        .patch(`/image/v2/images/${id}`)
        .set('X-Auth-Token', token)
        .set('Content-Type', type)
        .send(JSON.stringify(ops));

    before(async () => {
      api = await startTestApi(backend);
      admin = await api.adminToken();
      a = await tenant(api, 'proj-a');
      b = await tenant(api, 'proj-b');
    });
    after(() => api.close());

    it('serves the version documents; strict paths; no import API', async () => {
      const root = await api.http.get('/image');
      assert.equal(root.status, 300);
      assert.equal(root.body.versions[0].id, 'v2.9');
      assert.equal((await api.http.get('/image/v2')).status, 200);
      assert.equal((await api.http.get('/image/v2/images/').set('X-Auth-Token', a.member)).status, 404);
      assert.equal((await api.http.delete('/image/v2/images/').set('X-Auth-Token', a.member)).status, 404);
      assert.equal((await api.http.get('/image/v2/info/import').set('X-Auth-Token', a.member)).status, 404);
      assert.equal((await api.http.get('/image/v2/images')).status, 401);
    });

    it('creates, shows, lists and deletes an image with Glance bodies', async () => {
      const res = await api.http
        .post('/image/v2/images')
        .set('X-Auth-Token', a.member)
        .send({
          name: 'cirros',
          disk_format: 'qcow2',
          container_format: 'bare',
          min_ram: 64,
          tags: ['x', 'x', 'y'],
          hw_disk_bus: 'virtio',
          'owner_specified.openstack.md5': '',
        });
      assert.equal(res.status, 201);
      const img = res.body;
      assert.match(img.id, /^[0-9a-f-]{36}$/);
      assert.deepEqual(
        { ...img, id: 'ID', created_at: 'T', updated_at: 'T' },
        {
          hw_disk_bus: 'virtio',
          'owner_specified.openstack.md5': '',
          name: 'cirros',
          disk_format: 'qcow2',
          container_format: 'bare',
          visibility: 'shared',
          size: null,
          virtual_size: null,
          status: 'queued',
          checksum: null,
          protected: false,
          min_ram: 64,
          min_disk: 0,
          owner: a.projectId,
          os_hidden: false,
          os_hash_algo: null,
          os_hash_value: null,
          id: 'ID',
          created_at: 'T',
          updated_at: 'T',
          tags: ['x', 'y'],
          self: `/v2/images/${img.id}`,
          file: `/v2/images/${img.id}/file`,
          schema: '/v2/schemas/image',
        },
      );
      assert.match(img.created_at, TIME);
      assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
      const shown = await api.http.get(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.reader);
      assert.equal(shown.status, 200);
      assert.deepEqual(shown.body, img);
      const list = await api.http.get('/image/v2/images').set('X-Auth-Token', a.member);
      assert.deepEqual(list.body.images, [img]);
      assert.equal(list.body.first, '/v2/images');
      assert.equal(list.body.schema, '/v2/schemas/images');
      assert.equal(list.body.next, undefined);

      assert.equal(
        (await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member)).status,
        204,
      );
      const gone = await api.http.get(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member);
      assert.equal(gone.status, 404);
      assert.equal(gone.headers['content-type'], 'text/plain; charset=UTF-8');
      assert.equal(gone.text, `404 Not Found\n\nNo image found with ID ${img.id}\n\n   `);
      assert.equal(
        (await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member)).status,
        404,
      );
    });

    it('refuses bad creates with Glance statuses and makes nothing', async () => {
      const cases: [Record<string, unknown>, number][] = [
        [{ disk_format: 'wrong', container_format: 'bare' }, 400],
        [{ disk_format: 'raw', container_format: 'wrong' }, 400],
        [{ name: 7 }, 400],
        [{ min_ram: '64' }, 400],
        [{ min_ram: -1 }, 400],
        [{ protected: 'yes' }, 400],
        [{ hw_qemu_guest_agent: true }, 400],
        [{ visibility: 'everyone' }, 400],
        [{ id: 'not-a-uuid' }, 400],
        [{ ['k'.repeat(256)]: 'v' }, 400],
        [{ status: 'active' }, 403],
        [{ checksum: 'x' }, 403],
        [{ self: '/x' }, 403],
        [{ os_glance_foo: 'bar' }, 403],
        [{ deleted: 'x' }, 403],
        [{ visibility: 'public' }, 403],
        [{ owner: b.projectId }, 403],
      ];
      for (const [body, status] of cases) {
        const res = await api.http.post('/image/v2/images').set('X-Auth-Token', a.member).send(body);
        assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 60)}: ${res.text}`);
      }
      const arr = await api.http.post('/image/v2/images').set('X-Auth-Token', a.member).send([1]);
      assert.equal(arr.status, 400);
      const asReader = await api.http.post('/image/v2/images').set('X-Auth-Token', a.reader).send({});
      assert.equal(asReader.status, 403);
      const list = await api.http.get('/image/v2/images').set('X-Auth-Token', a.member);
      assert.deepEqual(list.body.images, []);
      // a chosen id; its reuse is a conflict
      const id = '0b6b5bcd-9c1c-4cf2-a3b6-1b6a0d6f1c11';
      await createImage(api, a.member, { id });
      const dup = await api.http.post('/image/v2/images').set('X-Auth-Token', a.member).send({ id });
      assert.equal(dup.status, 409);
      // community is allowed to members, public only to admins
      const community = await createImage(api, a.member, { visibility: 'community' });
      const pub = await createImage(api, admin, { visibility: 'public' });
      for (const i of [id, community.id, pub.id]) {
        await api.http.delete(`/image/v2/images/${i}`).set('X-Auth-Token', admin).expect(204);
      }
    });

    it('lists with filters, sorting and paging through next links', async () => {
      const made: Record<string, unknown>[] = [];
      for (let i = 0; i < 5; i++) {
        made.push(
          await createImage(api, a.member, {
            name: `list-${i}`,
            disk_format: i % 2 ? 'qcow2' : 'raw',
            tags: i < 2 ? ['blue'] : ['red'],
            os_distro: i === 4 ? 'debian' : 'cirros',
            visibility: i === 3 ? 'private' : 'shared',
          }),
        );
        await new Promise((r) => setTimeout(r, 5));
      }
      await upload(api, a.member, made[0].id as string, Buffer.alloc(3000, 1)).expect(204);
      await upload(api, a.member, made[2].id as string, Buffer.alloc(1000, 1)).expect(204);
      const hidden = await createImage(api, a.member, { name: 'hidden', os_hidden: true });
      const ids = (res: { body: { images: { id: string }[] } }) => res.body.images.map((i) => i.id);
      const get = (q: string) => api.http.get(`/image/v2/images${q}`).set('X-Auth-Token', a.member);
      const byName = (...n: number[]) => n.map((i) => made[i].id);

      assert.deepEqual(ids(await get('')), byName(4, 3, 2, 1, 0)); // created_at desc
      assert.deepEqual(ids(await get('?name=list-1')), byName(1));
      assert.deepEqual(ids(await get('?name=in:list-1,list-3&sort_dir=asc')), byName(1, 3));
      assert.deepEqual(ids(await get('?disk_format=qcow2')), byName(3, 1));
      assert.deepEqual(ids(await get('?status=active')), byName(2, 0));
      assert.deepEqual(ids(await get('?visibility=private')), byName(3));
      assert.deepEqual(ids(await get(`?owner=${a.projectId}&tag=blue`)), byName(1, 0));
      assert.deepEqual(ids(await get('?tag=blue&tag=red')), []);
      assert.deepEqual(ids(await get('?os_distro=debian')), byName(4));
      assert.deepEqual(ids(await get('?size_min=2000')), byName(0));
      assert.deepEqual(ids(await get('?size=1000')), byName(2));
      assert.deepEqual(ids(await get('?os_hidden=true')), [hidden.id]);
      assert.deepEqual(ids(await get('?sort_key=name&sort_dir=asc')), byName(0, 1, 2, 3, 4));
      assert.deepEqual(ids(await get('?sort=size:desc,name:asc')), byName(0, 2, 1, 3, 4));
      assert.deepEqual(
        ids(await get('?sort_key=size&sort_dir=asc&name=in:list-0,list-1,list-2')),
        byName(1, 2, 0),
      );
      for (const bad of [
        '?sort_key=owner',
        '?sort_dir=up',
        '?sort=name:asc&sort_key=name',
        '?limit=x',
        '?limit=-1',
        '?visibility=everyone',
        '?member_status=maybe',
        '?os_hidden=maybe',
        '?marker=00000000-0000-0000-0000-000000000000',
        '?name=foo:bar',
        '?size_min=big',
        '?created_at=gt:yesterday',
        '?changes-since=2020-01-01T00:00:00Z',
      ]) {
        assert.equal((await get(bad)).status, 400, bad);
      }

      // paging: follow `next` as glanceclient does, with the other parameters kept
      const seen: string[] = [];
      let url: string | undefined = '/v2/images?limit=2&sort_key=name&sort_dir=asc';
      let pages = 0;
      while (url) {
        const res: { status: number; body: { first: string; next?: string; images: { id: string }[] } } =
          await api.http.get(`/image${url}`).set('X-Auth-Token', a.member);
        assert.equal(res.status, 200);
        assert.ok(res.body.first.startsWith('/v2/images?limit=2&sort_key=name'));
        seen.push(...ids(res));
        url = res.body.next;
        if (url) assert.match(url, /^\/v2\/images\?limit=2&sort_key=name&sort_dir=asc&marker=/);
        pages++;
      }
      assert.equal(pages, 3);
      assert.deepEqual(seen, byName(0, 1, 2, 3, 4));
      for (const i of [...made, hidden]) {
        await api.http
          .delete(`/image/v2/images/${i.id as string}`)
          .set('X-Auth-Token', a.member)
          .expect(204);
      }
    });

    it('PATCH: add/replace/remove of attributes and properties, both dialects, Glance errors', async () => {
      const img = await createImage(api, a.member, { name: 'p', os_distro: 'cirros' });
      const ok = await patch(a.member, img.id, [
        { op: 'replace', path: '/name', value: 'p2' },
        { op: 'add', path: '/hw_scsi_model', value: 'virtio-scsi' },
        { op: 'replace', path: '/os_distro', value: 'debian' },
        { op: 'add', path: '/min_disk', value: 2 },
        { op: 'replace', path: '/tags', value: ['t1', 't2'] },
        { op: 'add', path: '/a~1b', value: 'slash' },
      ]);
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.name, 'p2');
      assert.equal(ok.body.hw_scsi_model, 'virtio-scsi');
      assert.equal(ok.body.os_distro, 'debian');
      assert.equal(ok.body.min_disk, 2);
      assert.equal(ok.body['a/b'], 'slash');
      assert.deepEqual(ok.body.tags, ['t1', 't2']);
      const d4 = await patch(
        a.member,
        img.id,
        [{ remove: '/hw_scsi_model' }, { replace: '/name', value: 'p3' }],
        JSON_PATCH_D4,
      );
      assert.equal(d4.status, 200, d4.text);
      assert.equal(d4.body.hw_scsi_model, undefined);
      assert.equal(d4.body.name, 'p3');
      // draft 4 add of an existing property is a conflict, draft 10 add replaces
      assert.equal(
        (await patch(a.member, img.id, [{ add: '/os_distro', value: 'x' }], JSON_PATCH_D4)).status,
        409,
      );

      const errors: [unknown, number][] = [
        [{ op: 'replace', path: '/name' }, 400],
        [{ op: 'move', path: '/name', value: 'x' }, 400],
        [{ path: '/name', value: 'x' }, 400],
        [{ op: 'replace', path: 'name', value: 'x' }, 400],
        [{ op: 'replace', path: '/name/first', value: 'x' }, 400],
        [{ op: 'replace', path: '/min_ram', value: 'lots' }, 400],
        [{ op: 'replace', path: '/min_ram', value: -5 }, 400],
        [{ op: 'add', path: '/hw_x', value: 5 }, 400],
        [{ op: 'replace', path: '/visibility', value: 'everyone' }, 400],
        [{ op: 'replace', path: '/status', value: 'active' }, 403],
        [{ op: 'replace', path: '/checksum', value: 'x' }, 403],
        [{ op: 'remove', path: '/id' }, 403],
        [{ op: 'add', path: '/os_glance_x', value: 'y' }, 403],
        [{ op: 'remove', path: '/name' }, 403],
        [{ op: 'replace', path: '/owner', value: b.projectId }, 403],
        [{ op: 'replace', path: '/visibility', value: 'public' }, 403],
        [{ op: 'add', path: '/locations/-', value: { url: 'http://x', metadata: {} } }, 400],
        [{ op: 'replace', path: '/nope', value: 'x' }, 409],
        [{ op: 'remove', path: '/nope' }, 409],
      ];
      for (const [op, status] of errors) {
        const res = await patch(a.member, img.id, [op]);
        assert.equal(res.status, status, `${JSON.stringify(op)}: ${res.text}`);
      }
      assert.equal((await patch(a.member, img.id, { op: 'replace' })).status, 400);
      assert.equal((await patch(a.member, img.id, ['x'])).status, 400);
      // other media types are 415, as Glance
      for (const type of ['application/json', 'application/json-patch+json', 'text/plain']) {
        const res = await patch(a.member, img.id, [{ op: 'replace', path: '/name', value: 'z' }], type);
        assert.equal(res.status, 415, type);
      }
      // nothing of the failed patches stuck; a failing op in a batch undoes the whole batch
      const mixed = await patch(a.member, img.id, [
        { op: 'replace', path: '/name', value: 'half' },
        { op: 'remove', path: '/nope' },
      ]);
      assert.equal(mixed.status, 409);
      const now = await api.http.get(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member);
      assert.equal(now.body.name, 'p3');
      assert.equal(now.body.os_distro, 'debian');
      // the reader may look, not change; another project does not even see it
      assert.equal(
        (await patch(a.reader, img.id, [{ op: 'replace', path: '/name', value: 'r' }])).status,
        403,
      );
      assert.equal(
        (await patch(b.member, img.id, [{ op: 'replace', path: '/name', value: 'r' }])).status,
        404,
      );
      // disk_format is fixed once there is data
      await upload(api, a.member, img.id, Buffer.alloc(512)).expect(204);
      const fixed = await patch(a.member, img.id, [{ op: 'replace', path: '/disk_format', value: 'qcow2' }]);
      assert.equal(fixed.status, 403);
      assert.match(fixed.text, /Attribute disk_format can be only replaced for a queued image/);
      await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member).expect(204);
    });

    it("another project's private image is 404, protected images are 403 to delete", async () => {
      const img = await createImage(api, a.member, { visibility: 'private', protected: true });
      for (const req of [
        api.http.get(`/image/v2/images/${img.id}`),
        api.http.delete(`/image/v2/images/${img.id}`),
        api.http.get(`/image/v2/images/${img.id}/file`),
        api.http.put(`/image/v2/images/${img.id}/tags/t`),
      ]) {
        assert.equal((await req.set('X-Auth-Token', b.member)).status, 404);
      }
      // a reader of another project gets the same 404, not the 403 its role alone would earn
      assert.equal(
        (await patch(b.reader, img.id, [{ op: 'replace', path: '/name', value: 'x' }])).status,
        404,
      );
      assert.equal(
        (await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', b.reader)).status,
        404,
      );
      const del = await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member);
      assert.equal(del.status, 403);
      assert.match(del.text, new RegExp(`Image ${img.id} is protected and cannot be deleted.`));
      assert.equal(
        (await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', admin)).status,
        403,
      );
      assert.equal(
        (await patch(a.member, img.id, [{ op: 'replace', path: '/protected', value: false }])).status,
        200,
      );
      assert.equal(
        (await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.reader)).status,
        403,
      );
      assert.equal(
        (await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member)).status,
        204,
      );
    });

    it('tags: PUT adds (idempotent), DELETE removes, a missing tag is 404', async () => {
      const img = await createImage(api, a.member);
      const tag = (m: 'put' | 'delete', t: string, tok = a.member) =>
        api.http[m](`/image/v2/images/${img.id}/tags/${encodeURIComponent(t)}`).set('X-Auth-Token', tok);
      assert.equal((await tag('put', 'web server')).status, 204);
      assert.equal((await tag('put', 'web server')).status, 204);
      assert.equal((await tag('put', 'db')).status, 204);
      assert.equal((await tag('put', 'x'.repeat(256))).status, 400);
      assert.equal((await tag('put', 'ro', a.reader)).status, 403);
      let got = await api.http.get(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member);
      assert.deepEqual(got.body.tags, ['db', 'web server']);
      assert.equal((await tag('delete', 'db')).status, 204);
      assert.equal((await tag('delete', 'db')).status, 404);
      got = await api.http.get(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member);
      assert.deepEqual(got.body.tags, ['web server']);
      await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member).expect(204);
    });

    it('deactivate forbids downloads until reactivated', async () => {
      const img = await createImage(api, a.member);
      const act = (what: string, tok = a.member) =>
        api.http.post(`/image/v2/images/${img.id}/actions/${what}`).set('X-Auth-Token', tok);
      assert.equal((await act('deactivate')).status, 403); // queued: nothing to deactivate
      await upload(api, a.member, img.id, Buffer.from('data')).expect(204);
      assert.equal((await act('deactivate', a.reader)).status, 403);
      assert.equal((await act('deactivate')).status, 204);
      const shown = await api.http.get(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member);
      assert.equal(shown.body.status, 'deactivated');
      assert.equal(
        (await api.http.get(`/image/v2/images/${img.id}/file`).set('X-Auth-Token', a.member)).status,
        403,
      );
      assert.equal((await act('reactivate')).status, 204);
      const file = await api.http.get(`/image/v2/images/${img.id}/file`).set('X-Auth-Token', a.member);
      assert.equal(file.status, 200);
      await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member).expect(204);
    });

    it('serves the image, images, member and members schemas', async () => {
      const get = (n: string) => api.http.get(`/image/v2/schemas/${n}`).set('X-Auth-Token', a.reader);
      const image = (await get('image')).body;
      assert.equal(image.name, 'image');
      assert.deepEqual(image.additionalProperties, { type: 'string' });
      assert.deepEqual(image.properties.disk_format.enum, [
        null,
        'ami',
        'ari',
        'aki',
        'vhd',
        'vhdx',
        'vmdk',
        'raw',
        'qcow2',
        'vdi',
        'iso',
        'ploop',
      ]);
      assert.equal(image.properties.status.readOnly, true);
      assert.deepEqual(
        image.links.map((l: { rel: string }) => l.rel),
        ['self', 'enclosure', 'describedby'],
      );
      const images = (await get('images')).body;
      assert.equal(images.name, 'images');
      assert.deepEqual(images.properties.images.items, image);
      assert.equal((await get('member')).body.name, 'member');
      assert.deepEqual((await get('member')).body.properties.status.enum, [
        'pending',
        'accepted',
        'rejected',
      ]);
      assert.equal((await get('members')).body.name, 'members');
      assert.equal((await get('task')).status, 404);
    });
  });
}
