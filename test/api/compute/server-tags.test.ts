/**
 * Nova server tags (2.26): the set (GET/PUT/DELETE) and one tag (GET/PUT/DELETE), Nova's schema and its
 * messages, the 50-tag limit (also under concurrent adds), state refusals, visibility, and 404 below 2.26.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertFault, golden } from '../../support/compute.js';
import { testBackends } from '../../support/databases.js';
import { insertServer, startSubresourceCloud, type SubresourceCloud } from '../../support/server-fixtures.js';

const MV = '2.26';

for (const backend of testBackends()) {
  describe(`compute server tags [${backend}]`, () => {
    let c: SubresourceCloud;
    let vm: string;

    before(async () => {
      c = await startSubresourceCloud(backend);
      vm = await insertServer(c.db, { projectId: c.projectA });
    });
    after(() => c.api.close());

    it('does not exist below 2.26', async () => {
      const nf = /^The resource could not be found\.$/;
      assertFault(await c.nova('get', `/servers/${vm}/tags`, '2.25'), 404, 'itemNotFound', nf);
      assertFault(
        await c.nova('put', `/servers/${vm}/tags`, '2.25').send({ bad: 1 }),
        404,
        'itemNotFound',
        nf,
      );
      assertFault(await c.nova('put', `/servers/${vm}/tags/x`, '2.1'), 404, 'itemNotFound', nf);
      assertFault(await c.nova('get', `/servers/${vm}/tags/x`, '2.1'), 404, 'itemNotFound', nf);
      assertFault(await c.nova('delete', `/servers/${vm}/tags`, '2.1'), 404, 'itemNotFound', nf);
      assertFault(await c.nova('delete', `/servers/${vm}/tags/x`, '2.1'), 404, 'itemNotFound', nf);
      assert.deepEqual(await c.db('server_tags').where({ server_uuid: vm }), []);
    });

    it('replaces, lists, checks, adds and removes tags', async () => {
      await c.nova('get', `/servers/${vm}/tags`, MV).expect(200, { tags: [] });
      let res = await c.nova('put', `/servers/${vm}/tags`, MV).send({ tags: ['web', 'db', 'web', 'a b'] });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { tags: ['a b', 'db', 'web'] });
      golden('server-tags-update-all@2.26', res.body);
      res = await c.nova('get', `/servers/${vm}/tags`, MV);
      assert.deepEqual(res.body, { tags: ['a b', 'db', 'web'] });
      golden('server-tags-list@2.26', res.body);

      res = await c.nova('get', `/servers/${vm}/tags/db`, MV);
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      await c.nova('get', `/servers/${vm}/tags/a%20b`, MV).expect(204);
      assertFault(
        await c.nova('get', `/servers/${vm}/tags/nope`, MV),
        404,
        'itemNotFound',
        new RegExp(`^Server ${vm} has no tag 'nope'$`),
      );

      res = await c.nova('put', `/servers/${vm}/tags/new`, MV);
      assert.equal(res.status, 201, res.text);
      assert.equal(res.text, '');
      assert.match(res.headers.location, new RegExp(`/compute/v2\\.1/servers/${vm}/tags/new$`));
      res = await c
        .nova('put', `/servers/${vm}/tags/new`, MV)
        .send('null')
        .set('Content-Type', 'application/json');
      assert.equal(res.status, 204, 'already there');
      assert.equal(res.headers.location, undefined);

      await c.nova('delete', `/servers/${vm}/tags/new`, MV).expect(204);
      assertFault(
        await c.nova('delete', `/servers/${vm}/tags/new`, MV),
        404,
        'itemNotFound',
        new RegExp(`^Instance ${vm} has no tag 'new'$`),
      );
      await c.nova('delete', `/servers/${vm}/tags`, MV).expect(204);
      await c.nova('get', `/servers/${vm}/tags`, '2.79').expect(200, { tags: [] });
    });

    it('refuses bad tags with Nova’s messages', async () => {
      const bad: unknown[] = [
        {},
        { tags: 'a' },
        { tags: [''] },
        { tags: ['a,b'] },
        { tags: ['a/b'] },
        { tags: ['x'.repeat(61)] },
        { tags: [1] },
        { tags: Array.from({ length: 51 }, (_, i) => `t${i}`) },
        { tags: [], other: 1 },
      ];
      for (const body of bad)
        assertFault(await c.nova('put', `/servers/${vm}/tags`, MV).send(body as object), 400, 'badRequest');
      await c
        .nova('put', `/servers/${vm}/tags`, MV)
        .send({ tags: ['x'.repeat(60)] })
        .expect(200);
      assertFault(
        await c.nova('put', `/servers/${vm}/tags/a%2Cb`, MV),
        400,
        'badRequest',
        /^Tag 'a,b' is invalid\. It must be a non empty string without characters '\/' and ','\. Validation error message: /,
      );
      assertFault(
        await c.nova('put', `/servers/${vm}/tags/${'y'.repeat(61)}`, MV),
        400,
        'badRequest',
        /is too long/,
      );
      assertFault(await c.nova('put', `/servers/${vm}/tags/ok`, MV).send({}), 400, 'badRequest');
      assert.deepEqual((await c.nova('get', `/servers/${vm}/tags`, MV)).body, { tags: ['x'.repeat(60)] });
    });

    it('holds at most 50 tags, also against concurrent adds', async () => {
      const s = await insertServer(c.db, { projectId: c.projectA });
      const results = await Promise.all(
        Array.from({ length: 56 }, (_, i) => c.nova('put', `/servers/${s}/tags/t${i}`, MV)),
      );
      const statuses = results.map((r) => r.status);
      assert.equal(statuses.filter((x) => x === 201).length, 50, JSON.stringify(statuses));
      assert.equal(statuses.filter((x) => x === 400).length, 6, JSON.stringify(statuses));
      for (const r of results.filter((x) => x.status === 400))
        assert.match(r.body.badRequest.message, /^The number of tags exceeded the per-server limit 50$/);
      const res = await c.nova('get', `/servers/${s}/tags`, MV);
      assert.equal(res.body.tags.length, 50);
      // at the limit even a tag the server has is refused, as Nova's
      assertFault(await c.nova('put', `/servers/${s}/tags/${res.body.tags[0]}`, MV), 400, 'badRequest');
    });

    it('changes tags only in active/paused/suspended/stopped (locks do not matter)', async () => {
      for (const [vmState, action, req] of [
        [
          'building',
          'update tags',
          (s: string) => c.nova('put', `/servers/${s}/tags`, MV).send({ tags: ['a'] }),
        ],
        ['error', 'update tag', (s: string) => c.nova('put', `/servers/${s}/tags/a`, MV)],
        ['rescued', 'delete tag', (s: string) => c.nova('delete', `/servers/${s}/tags/a`, MV)],
        ['building', 'delete tags', (s: string) => c.nova('delete', `/servers/${s}/tags`, MV)],
      ] as const) {
        const s = await insertServer(c.db, { projectId: c.projectA, vmState });
        assertFault(
          await req(s),
          409,
          'conflictingRequest',
          new RegExp(`^Cannot '${action}' instance ${s} while it is in vm_state ${vmState}$`),
        );
        await c.nova('get', `/servers/${s}/tags`, MV).expect(200, { tags: [] });
      }
      const busy = await insertServer(c.db, {
        projectId: c.projectA,
        taskState: 'powering-off',
        locked: true,
      });
      await c.nova('put', `/servers/${busy}/tags/a`, MV).expect(201);
    });

    it('hides other projects’ and deleted servers (404); readers read but do not write (403)', async () => {
      const theirs = await insertServer(c.db, { projectId: c.projectB });
      const gone = await insertServer(c.db, { projectId: c.projectA, deletedAt: Date.now() });
      for (const s of [theirs, gone]) {
        const nf = new RegExp(`^Instance ${s} could not be found\\.$`);
        assertFault(await c.nova('get', `/servers/${s}/tags`, MV), 404, 'itemNotFound', nf);
        assertFault(await c.nova('put', `/servers/${s}/tags/a`, MV), 404, 'itemNotFound', nf);
        assertFault(
          await c.nova('put', `/servers/${s}/tags`, MV).send({ tags: [] }),
          404,
          'itemNotFound',
          nf,
        );
      }
      await c.nova('put', `/servers/${theirs}/tags/by-admin`, MV, c.admin).expect(201);
      await c.nova('get', `/servers/${vm}/tags`, MV, c.reader).expect(200);
      assertFault(
        await c.nova('put', `/servers/${vm}/tags/r`, MV, c.reader),
        403,
        'forbidden',
        /os_compute_api:os-server-tags:update/,
      );
      assertFault(await c.nova('delete', `/servers/${vm}/tags`, MV, c.reader), 403, 'forbidden');
    });
  });
}
