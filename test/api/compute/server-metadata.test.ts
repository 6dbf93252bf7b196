/**
 * Nova server metadata: merge (POST), replace (PUT), one item (GET/PUT/DELETE), Nova's schema, the item
 * quota, lock and state refusals, visibility across projects and roles, and concurrent merges losing nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertFault, golden } from '../../support/compute.js';
import { testBackends } from '../../support/databases.js';
import { insertServer, startSubresourceCloud, type SubresourceCloud } from '../../support/server-fixtures.js';

for (const backend of testBackends()) {
  describe(`compute server metadata [${backend}]`, () => {
    let c: SubresourceCloud;
    let vm: string;

    before(async () => {
      c = await startSubresourceCloud(backend);
      vm = await insertServer(c.db, { projectId: c.projectA });
    });
    after(() => c.api.close());

    it('merges, replaces, shows, updates and deletes items', async () => {
      let res = await c.nova('get', `/servers/${vm}/metadata`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { metadata: {} });

      res = await c.nova('post', `/servers/${vm}/metadata`).send({ metadata: { b: '2', a: '1' } });
      assert.equal(res.status, 200, res.text);
      res = await c.nova('post', `/servers/${vm}/metadata`).send({ metadata: { c: '3', a: 'one' } });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { metadata: { a: 'one', b: '2', c: '3' } });
      golden('server-metadata-create@2.1', res.body);

      res = await c.nova('get', `/servers/${vm}/metadata/b`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { meta: { b: '2' } });
      golden('server-metadata-show@2.1', res.body);
      assertFault(
        await c.nova('get', `/servers/${vm}/metadata/zz`),
        404,
        'itemNotFound',
        /^Metadata item was not found$/,
      );

      res = await c.nova('put', `/servers/${vm}/metadata/b`).send({ meta: { b: 'two' } });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { meta: { b: 'two' } });
      res = await c.nova('put', `/servers/${vm}/metadata/new key`).send({ meta: { 'new key': 'v' } });
      assert.equal(res.status, 200, res.text);

      res = await c.nova('put', `/servers/${vm}/metadata`).send({ metadata: { only: 'this', 'x:y.z': '' } });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { metadata: { only: 'this', 'x:y.z': '' } });
      golden('server-metadata-update-all@2.1', res.body);
      res = await c.nova('get', `/servers/${vm}/metadata`);
      assert.deepEqual(res.body, { metadata: { only: 'this', 'x:y.z': '' } });

      res = await c.nova('delete', `/servers/${vm}/metadata/only`);
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      assertFault(await c.nova('delete', `/servers/${vm}/metadata/only`), 404, 'itemNotFound', /not found/);
      res = await c.nova('get', `/servers/${vm}/metadata`, '2.79');
      assert.deepEqual(res.body, { metadata: { 'x:y.z': '' } });
      await c.nova('put', `/servers/${vm}/metadata`).send({ metadata: {} }).expect(200, { metadata: {} });
    });

    it('refuses what Nova’s schema refuses, and a key that is not the URL’s', async () => {
      const bad: unknown[] = [
        {},
        { metadata: [] },
        { metadata: { k: 1 } },
        { metadata: { k: null } },
        { metadata: { 'bad!key': 'v' } },
        { metadata: { ['k'.repeat(256)]: 'v' } },
        { metadata: { k: 'v'.repeat(256) } },
        { metadata: { '': 'v' } },
        { metadata: {}, extra: 1 },
      ];
      for (const body of bad) {
        for (const method of ['post', 'put'] as const)
          assertFault(
            await c.nova(method, `/servers/${vm}/metadata`).send(body as object),
            400,
            'badRequest',
          );
      }
      for (const body of [{ meta: {} }, { meta: { k: 'v', l: 'w' } }, { metadata: { k: 'v' } }])
        assertFault(await c.nova('put', `/servers/${vm}/metadata/k`).send(body), 400, 'badRequest');
      assertFault(
        await c.nova('put', `/servers/${vm}/metadata/k`).send({ meta: { other: 'v' } }),
        400,
        'badRequest',
        /^Request body and URI mismatch$/,
      );
      const long = await c
        .nova('post', `/servers/${vm}/metadata`)
        .send({ metadata: { ['k'.repeat(255)]: 'v'.repeat(255) } });
      assert.equal(long.status, 200, 'the limits themselves are allowed');
    });

    it('enforces quota_metadata_items (128) on the result, changing nothing when over', async () => {
      const s = await insertServer(c.db, { projectId: c.projectA });
      const many = (n: number, p: string) =>
        Object.fromEntries(Array.from({ length: n }, (_, i) => [`${p}${i}`, 'v']));
      assertFault(
        await c.nova('put', `/servers/${s}/metadata`).send({ metadata: many(129, 'k') }),
        403,
        'forbidden',
        /^Maximum number of metadata items exceeds 128$/,
      );
      await c
        .nova('put', `/servers/${s}/metadata`)
        .send({ metadata: many(100, 'k') })
        .expect(200);
      assertFault(
        await c.nova('post', `/servers/${s}/metadata`).send({ metadata: many(29, 'new') }),
        403,
        'forbidden',
      );
      // overwriting existing keys does not count twice
      await c
        .nova('post', `/servers/${s}/metadata`)
        .send({ metadata: many(100, 'k') })
        .expect(200);
      await c
        .nova('post', `/servers/${s}/metadata`)
        .send({ metadata: many(28, 'new') })
        .expect(200);
      assertFault(
        await c.nova('put', `/servers/${s}/metadata/one-more`).send({ meta: { 'one-more': 'v' } }),
        403,
        'forbidden',
      );
      const res = await c.nova('get', `/servers/${s}/metadata`);
      assert.equal(Object.keys(res.body.metadata).length, 128);
    });

    it('a locked server refuses non-admins (409); admins may', async () => {
      const s = await insertServer(c.db, { projectId: c.projectA, locked: true });
      await c.db('server_metadata').insert({ server_uuid: s, key: 'k', value: 'v' });
      const locked = new RegExp(`^Instance ${s} is locked$`);
      assertFault(
        await c.nova('post', `/servers/${s}/metadata`).send({ metadata: { a: 'b' } }),
        409,
        'conflictingRequest',
        locked,
      );
      assertFault(
        await c.nova('put', `/servers/${s}/metadata`).send({ metadata: {} }),
        409,
        'conflictingRequest',
        locked,
      );
      assertFault(
        await c.nova('put', `/servers/${s}/metadata/k`).send({ meta: { k: 'w' } }),
        409,
        'conflictingRequest',
        locked,
      );
      assertFault(await c.nova('delete', `/servers/${s}/metadata/k`), 409, 'conflictingRequest', locked);
      await c.nova('get', `/servers/${s}/metadata`).expect(200, { metadata: { k: 'v' } });
      await c
        .nova('post', `/servers/${s}/metadata`, '2.1', c.admin)
        .send({ metadata: { a: 'b' } })
        .expect(200);
      await c.nova('delete', `/servers/${s}/metadata/k`, '2.1', c.admin).expect(204);
    });

    it('refuses updates outside active/paused/suspended/stopped, during a task, and before launch', async () => {
      const cases: [Parameters<typeof insertServer>[1], string][] = [
        [{ projectId: c.projectA, vmState: 'building', launchedAt: null }, 'vm_state building'],
        [{ projectId: c.projectA, vmState: 'error' }, 'vm_state error'],
        [{ projectId: c.projectA, taskState: 'powering-off' }, 'task_state powering-off'],
        [{ projectId: c.projectA, vmState: 'stopped', launchedAt: null }, 'launched_at None'],
      ];
      for (const [f, state] of cases) {
        const s = await insertServer(c.db, f);
        await c.db('server_metadata').insert({ server_uuid: s, key: 'k', value: 'v' });
        assertFault(
          await c.nova('post', `/servers/${s}/metadata`).send({ metadata: { a: 'b' } }),
          409,
          'conflictingRequest',
          new RegExp(`^Cannot 'update metadata' instance ${s} while it is in ${state}$`),
        );
        assertFault(
          await c.nova('delete', `/servers/${s}/metadata/k`),
          409,
          'conflictingRequest',
          new RegExp(`^Cannot 'delete metadata' instance ${s} while it is in ${state}$`),
        );
        await c.nova('get', `/servers/${s}/metadata/k`).expect(200, { meta: { k: 'v' } });
      }
      for (const vmState of ['paused', 'suspended', 'stopped']) {
        const s = await insertServer(c.db, { projectId: c.projectA, vmState });
        await c
          .nova('post', `/servers/${s}/metadata`)
          .send({ metadata: { a: 'b' } })
          .expect(200);
      }
    });

    it('hides other projects’ and deleted servers (404); readers read but do not write (403)', async () => {
      const theirs = await insertServer(c.db, { projectId: c.projectB });
      const gone = await insertServer(c.db, { projectId: c.projectA, deletedAt: Date.now() });
      for (const s of [theirs, gone, '00000000-0000-0000-0000-000000000000']) {
        const nf = new RegExp(`^Instance ${s} could not be found\\.$`);
        assertFault(await c.nova('get', `/servers/${s}/metadata`), 404, 'itemNotFound', nf);
        assertFault(await c.nova('get', `/servers/${s}/metadata/k`), 404, 'itemNotFound', nf);
        assertFault(
          await c.nova('post', `/servers/${s}/metadata`).send({ metadata: {} }),
          404,
          'itemNotFound',
          nf,
        );
        assertFault(await c.nova('delete', `/servers/${s}/metadata/k`), 404, 'itemNotFound', nf);
      }
      await c.nova('get', `/servers/${theirs}/metadata`, '2.1', c.admin).expect(200);
      await c.nova('get', `/servers/${vm}/metadata`, '2.1', c.reader).expect(200);
      assertFault(
        await c.nova('post', `/servers/${vm}/metadata`, '2.1', c.reader).send({ metadata: { a: 'b' } }),
        403,
        'forbidden',
        /os_compute_api:server-metadata:create/,
      );
      assertFault(await c.nova('delete', `/servers/${vm}/metadata/a`, '2.1', c.reader), 403, 'forbidden');
    });

    it('concurrent merges lose no key', async () => {
      const s = await insertServer(c.db, { projectId: c.projectA });
      const results = await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          c.nova('post', `/servers/${s}/metadata`).send({ metadata: { [`k${i}`]: String(i) } }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.status),
        Array(16).fill(200),
      );
      const res = await c.nova('get', `/servers/${s}/metadata`);
      assert.equal(Object.keys(res.body.metadata).length, 16);
    });
  });
}
