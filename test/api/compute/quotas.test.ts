/**
 * Nova quota sets and quota class sets: shapes per microversion (2.1, 2.36, 2.57), per-project and per-user
 * overrides, usage in the detail view, Nova's settable range (below usage: 400 unless force), who may read and
 * write, and the resolver the servers code uses (checkServerQuota, maxInstancesAllowed with Nova's messages).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertFault, golden } from '../../support/compute.js';
import { testBackends } from '../../support/databases.js';
import { insertServer, startSubresourceCloud, type SubresourceCloud } from '../../support/server-fixtures.js';
import { checkServerQuota, computeLimits, maxInstancesAllowed } from '../../../src/compute/quotas/service.js';
import { OverQuota } from '../../../src/common/errors.js';

const DEFAULTS = {
  cores: 20,
  fixed_ips: -1,
  floating_ips: -1,
  injected_file_content_bytes: 10240,
  injected_file_path_bytes: 255,
  injected_files: 5,
  instances: 10,
  key_pairs: 100,
  metadata_items: 128,
  ram: 51200,
  security_group_rules: -1,
  security_groups: -1,
  server_group_members: 10,
  server_groups: 10,
};
const NETWORK = ['fixed_ips', 'floating_ips', 'security_group_rules', 'security_groups'];
const INJECTED = ['injected_file_content_bytes', 'injected_file_path_bytes', 'injected_files'];
const without = (o: Record<string, number>, keys: string[]) =>
  Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

for (const backend of testBackends()) {
  describe(`compute quota sets [${backend}]`, () => {
    let c: SubresourceCloud;
    /** A server of project A with this size, as the servers code writes it. */
    const server = async (vcpus: number, ram: number, opts: { userId?: string; deleted?: boolean } = {}) => {
      const uuid = await insertServer(c.db, {
        projectId: c.projectA,
        userId: opts.userId ?? c.memberId,
        deletedAt: opts.deleted ? Date.now() : null,
      });
      await c.db('servers').where({ uuid }).update({ vcpus, memory_mb: ram });
      return uuid;
    };

    before(async () => {
      c = await startSubresourceCloud(backend);
    });
    after(async () => {
      await c.api.close();
    });

    it('shows the defaults with Nova’s fields per microversion (2.1, 2.36, 2.57)', async () => {
      const r1 = await c.nova('get', `/os-quota-sets/${c.projectA}`).expect(200);
      assert.deepEqual(r1.body, { quota_set: { id: c.projectA, ...DEFAULTS } });
      golden('quota-show@2.1', r1.body);
      const r36 = await c.nova('get', `/os-quota-sets/${c.projectA}`, '2.36').expect(200);
      assert.deepEqual(r36.body, { quota_set: { id: c.projectA, ...without(DEFAULTS, NETWORK) } });
      golden('quota-show@2.36', r36.body);
      const r57 = await c.nova('get', `/os-quota-sets/${c.projectA}`, '2.57').expect(200);
      assert.deepEqual(r57.body, {
        quota_set: { id: c.projectA, ...without(DEFAULTS, [...NETWORK, ...INJECTED]) },
      });
      golden('quota-show@2.57', r57.body);
      const d = await c.nova('get', `/os-quota-sets/${c.projectB}/defaults`, '2.57', c.member).expect(200);
      assert.deepEqual(d.body, { quota_set: { ...r57.body.quota_set, id: c.projectB } });
    });

    it('lets a project read only its own quotas; updates and deletes are admin-only', async () => {
      await c.nova('get', `/os-quota-sets/${c.projectA}`, '2.1', c.reader).expect(200);
      await c.nova('get', `/os-quota-sets/${c.projectA}/detail`, '2.1', c.reader).expect(200);
      assertFault(
        await c.nova('get', `/os-quota-sets/${c.projectA}`, '2.1', c.other),
        403,
        'forbidden',
        /os_compute_api:os-quota-sets:show/,
      );
      assertFault(
        await c.nova('get', `/os-quota-sets/${c.projectA}/detail`, '2.1', c.other),
        403,
        'forbidden',
        /os-quota-sets:detail/,
      );
      assertFault(
        await c.nova('put', `/os-quota-sets/${c.projectA}`).send({ quota_set: { instances: 50 } }),
        403,
        'forbidden',
        /os-quota-sets:update/,
      );
      assertFault(
        await c.nova('delete', `/os-quota-sets/${c.projectA}`),
        403,
        'forbidden',
        /os-quota-sets:delete/,
      );
      assertFault(
        await c.nova('get', '/os-quota-class-sets/default'),
        403,
        'forbidden',
        /os-quota-class-sets:show/,
      );
      // nothing changed
      const r = await c.nova('get', `/os-quota-sets/${c.projectA}`, '2.1', c.admin).expect(200);
      assert.equal(r.body.quota_set.instances, 10);
    });

    it('refuses bad input with 400 and an unknown project with Nova’s message', async () => {
      const put = (body: unknown, mv = '2.1', project = c.projectA) =>
        c.nova('put', `/os-quota-sets/${project}`, mv, c.admin).send(body as object);
      assertFault(await put({ quota_set: { instances: 'ten' } }), 400, 'badRequest', /quota_set\/instances/);
      assertFault(await put({ quota_set: { instances: -2 } }), 400, 'badRequest', /quota_set\/instances/);
      assertFault(await put({ quota_set: { instances: '-7' } }), 400, 'badRequest', /minimum of -1/);
      assertFault(await put({ quota_set: { instances: '99999999999' } }), 400, 'badRequest', /maximum/);
      assertFault(await put({ quota_set: { bogus: 1 } }), 400, 'badRequest', /'bogus' was unexpected/);
      assertFault(await put({ quota_set: { floating_ips: 1 } }, '2.36'), 400, 'badRequest', /'floating_ips'/);
      assertFault(
        await put({ quota_set: { injected_files: 1 } }, '2.57'),
        400,
        'badRequest',
        /'injected_files'/,
      );
      assertFault(await put({ quota_set: { force: 'maybe' } }), 400, 'badRequest', /force/);
      assertFault(await put({ instances: 1 }), 400, 'badRequest');
      assertFault(
        await put({ quota_set: { instances: 1 } }, '2.1', 'no-such-project'),
        400,
        'badRequest',
        /^Project ID no-such-project is not a valid project\.$/,
      );
      assertFault(
        await c.nova('get', '/os-quota-sets/no-such-project', '2.1', c.admin),
        400,
        'badRequest',
        /is not a valid project/,
      );
      // 2.75 refuses unknown query parameters; before, they are ignored
      await c.nova('get', `/os-quota-sets/${c.projectA}?foo=1`, '2.74').expect(200);
      assertFault(
        await c.nova('get', `/os-quota-sets/${c.projectA}?foo=1`, '2.75'),
        400,
        'badRequest',
        /'foo' was unexpected/,
      );
      const r = await c.nova('get', `/os-quota-sets/${c.projectA}`, '2.1', c.admin).expect(200);
      assert.equal(r.body.quota_set.instances, 10, 'a refused update changes nothing');
    });

    it('updates a project’s limits (strings too), checks them against usage, and deletes them', async () => {
      const vm1 = await server(4, 2048);
      await server(2, 1024);
      await server(8, 8192, { deleted: true }); // deleted servers do not count
      const detail = await c.nova('get', `/os-quota-sets/${c.projectA}/detail`, '2.57').expect(200);
      assert.deepEqual(detail.body.quota_set.instances, { limit: 10, in_use: 2, reserved: 0 });
      assert.deepEqual(detail.body.quota_set.cores, { limit: 20, in_use: 6, reserved: 0 });
      assert.deepEqual(detail.body.quota_set.ram, { limit: 51200, in_use: 3072, reserved: 0 });
      assert.deepEqual(detail.body.quota_set.key_pairs, { limit: 100, in_use: 0, reserved: 0 }); // as Nova: 0
      golden('quota-detail@2.57', detail.body);

      const put = (body: unknown, mv = '2.1') =>
        c.nova('put', `/os-quota-sets/${c.projectA}`, mv, c.admin).send(body as object);
      // Nova checks every value before writing any: instances would pass, cores does not
      assertFault(
        await put({ quota_set: { instances: 5, cores: 5 } }),
        400,
        'badRequest',
        /^Quota limit 5 for cores must be greater than or equal to already used and reserved 6\.$/,
      );
      let r = await c.nova('get', `/os-quota-sets/${c.projectA}`, '2.1', c.admin).expect(200);
      assert.equal(r.body.quota_set.instances, 10);
      // force writes it anyway
      r = await put({ quota_set: { instances: '5', cores: 5, force: 'True' } }, '2.57').expect(200);
      assert.deepEqual(r.body, {
        quota_set: { ...without(DEFAULTS, [...NETWORK, ...INJECTED]), instances: 5, cores: 5 },
      });
      golden('quota-update@2.57', r.body);
      r = await put({ quota_set: { ram: -1, floating_ips: 7 } }).expect(200);
      assert.equal(r.body.quota_set.ram, -1);
      assert.equal(r.body.quota_set.floating_ips, 7);
      assert.equal('id' in r.body.quota_set, false, 'the update answer has no id, as Nova');
      // the servers code reads the same limits
      const limits = await computeLimits(c.db, c.api.service.deps.config, c.projectA);
      assert.equal(limits.cores, 5);
      await assert.rejects(
        checkServerQuota(c.db, c.api.service.deps.config, c.projectA, null, {
          instances: 1,
          cores: 1,
          ram: 0,
        }),
        (err: unknown) =>
          err instanceof OverQuota &&
          err.message === 'Quota exceeded for cores: Requested 1, but already used 6 of 5 cores',
      );

      const del = await c.nova('delete', `/os-quota-sets/${c.projectA}`, '2.1', c.admin);
      assert.equal(del.status, 202);
      assert.equal(del.text, '');
      r = await c.nova('get', `/os-quota-sets/${c.projectA}`, '2.1', c.admin).expect(200);
      assert.deepEqual(r.body, { quota_set: { id: c.projectA, ...DEFAULTS } });
      await c.db('servers').where({ project_id: c.projectA }).delete();
      void vm1;
    });

    it('keeps per-user limits within what the project has left, and key pairs follow them', async () => {
      const userPath = `/os-quota-sets/${c.projectA}?user_id=${c.memberId}`;
      await c
        .nova('put', `/os-quota-sets/${c.projectA}`, '2.1', c.admin)
        .send({ quota_set: { key_pairs: 10 } })
        .expect(200);
      assertFault(
        await c.nova('put', userPath, '2.1', c.admin).send({ quota_set: { key_pairs: 11 } }),
        400,
        'badRequest',
        /^Quota limit 11 for key_pairs must be less than or equal to 10\.$/,
      );
      const r = await c
        .nova('put', userPath, '2.1', c.admin)
        .send({ quota_set: { key_pairs: 1 } })
        .expect(200);
      assert.equal(r.body.quota_set.key_pairs, 1);
      const shown = await c.nova('get', userPath, '2.1', c.member).expect(200);
      assert.equal(shown.body.quota_set.key_pairs, 1);
      const project = await c.nova('get', `/os-quota-sets/${c.projectA}`, '2.1', c.member).expect(200);
      assert.equal(project.body.quota_set.key_pairs, 10);
      // the project may not go below what its users were given
      assertFault(
        await c
          .nova('put', `/os-quota-sets/${c.projectA}`, '2.1', c.admin)
          .send({ quota_set: { key_pairs: 0 } }),
        400,
        'badRequest',
        /^Quota limit 0 for key_pairs must be greater than or equal to already used and reserved 1\.$/,
      );
      // the key pair API enforces the per-user limit from the same resolver
      await c
        .nova('post', '/os-keypairs', '2.2', c.member)
        .send({ keypair: { name: 'k1', public_key: PUB } })
        .expect(201);
      assertFault(
        await c
          .nova('post', '/os-keypairs', '2.2', c.member)
          .send({ keypair: { name: 'k2', public_key: PUB } }),
        403,
        'forbidden',
        /^Quota exceeded, too many key pairs\.$/,
      );
      // deleting the user's overrides restores the project's limit
      await c.nova('delete', userPath, '2.1', c.admin).expect(202);
      await c
        .nova('post', '/os-keypairs', '2.2', c.member)
        .send({ keypair: { name: 'k2', public_key: PUB } })
        .expect(201);
      await c.nova('delete', `/os-quota-sets/${c.projectA}`, '2.1', c.admin).expect(202);
    });

    it('quota classes: admins read and set the default class, which becomes every project’s default', async () => {
      const show = await c.nova('get', '/os-quota-class-sets/default', '2.1', c.admin).expect(200);
      assert.deepEqual(show.body, {
        quota_class_set: { id: 'default', ...without(DEFAULTS, ['server_groups', 'server_group_members']) },
      });
      const s50 = await c.nova('get', '/os-quota-class-sets/default', '2.50', c.admin).expect(200);
      assert.deepEqual(s50.body, { quota_class_set: { id: 'default', ...without(DEFAULTS, NETWORK) } });
      assertFault(
        await c
          .nova('put', '/os-quota-class-sets/default', '2.50', c.admin)
          .send({ quota_class_set: { fixed_ips: 1 } }),
        400,
        'badRequest',
        /'fixed_ips' was unexpected/,
      );
      const put = await c
        .nova('put', '/os-quota-class-sets/default', '2.57', c.admin)
        .send({ quota_class_set: { instances: 7 } })
        .expect(200);
      assert.deepEqual(put.body, {
        quota_class_set: { ...without(DEFAULTS, [...NETWORK, ...INJECTED]), instances: 7 },
      });
      const p = await c.nova('get', `/os-quota-sets/${c.projectB}`, '2.1', c.other).expect(200);
      assert.equal(p.body.quota_set.instances, 7);
      const d = await c.nova('get', `/os-quota-sets/${c.projectB}/defaults`, '2.1', c.other).expect(200);
      assert.equal(d.body.quota_set.instances, 7);
      // another class is stored but is nobody's default
      await c
        .nova('put', '/os-quota-class-sets/gold', '2.1', c.admin)
        .send({ quota_class_set: { cores: 99 } })
        .expect(200);
      const gold = await c.nova('get', '/os-quota-class-sets/gold', '2.1', c.admin).expect(200);
      assert.equal(gold.body.quota_class_set.cores, 99);
      assert.equal(gold.body.quota_class_set.instances, 10);
      assertFault(
        await c
          .nova('put', `/os-quota-class-sets/${'x'.repeat(256)}`, '2.1', c.admin)
          .send({ quota_class_set: { cores: 1 } }),
        400,
        'badRequest',
        /more than 255/,
      );
      await c
        .nova('put', '/os-quota-class-sets/default', '2.1', c.admin)
        .send({ quota_class_set: { instances: 10 } })
        .expect(200);
    });

    it('maxInstancesAllowed: max shrinks to what fits; min that does not fit is Nova’s TooManyInstances', async () => {
      const cfg = c.api.service.deps.config;
      await c
        .nova('put', `/os-quota-sets/${c.projectA}`, '2.1', c.admin)
        .send({ quota_set: { instances: 5, cores: 8, ram: 4096 } })
        .expect(200);
      await server(2, 1024);
      await server(2, 1024);
      // left: 3 instances, 4 cores, 2048 MiB → two 2-core 1024-MiB servers
      assert.equal(await maxInstancesAllowed(c.db, cfg, c.projectA, null, { cores: 2, ram: 1024 }, 1, 5), 2);
      assert.equal(await maxInstancesAllowed(c.db, cfg, c.projectA, null, { cores: 1, ram: 512 }, 1, 3), 3);
      await assert.rejects(
        maxInstancesAllowed(c.db, cfg, c.projectA, null, { cores: 2, ram: 1024 }, 3, 5),
        (err: unknown) =>
          err instanceof OverQuota &&
          err.status === 403 &&
          err.message ===
            'Quota exceeded for cores, instances, ram: Requested 10, 3-5, 5120, but already used 4, 2, 2048 ' +
              'of 8, 5, 4096 cores, instances, ram',
      );
      await assert.rejects(
        maxInstancesAllowed(c.db, cfg, c.projectA, null, { cores: 1, ram: 256 }, 4, 4),
        (err: unknown) =>
          err instanceof OverQuota &&
          err.message === 'Quota exceeded for instances: Requested 4, but already used 2 of 5 instances',
      );
      // unlimited resources never constrain
      await c
        .nova('put', `/os-quota-sets/${c.projectA}`, '2.1', c.admin)
        .send({ quota_set: { instances: -1, ram: -1 } })
        .expect(200);
      assert.equal(await maxInstancesAllowed(c.db, cfg, c.projectA, null, { cores: 1, ram: 99999 }, 1, 9), 4);
      // a user with limits of its own is bound by them as well (Nova's per-user quotas); others are not
      await c
        .nova('put', `/os-quota-sets/${c.projectA}?user_id=${c.memberId}`, '2.1', c.admin)
        .send({ quota_set: { instances: 3 } })
        .expect(200);
      assert.equal(
        await maxInstancesAllowed(c.db, cfg, c.projectA, c.memberId, { cores: 1, ram: 1 }, 1, 9),
        1,
      );
      assert.equal(
        await maxInstancesAllowed(c.db, cfg, c.projectA, 'another-user', { cores: 1, ram: 1 }, 1, 9),
        4,
      );
      await assert.rejects(
        maxInstancesAllowed(c.db, cfg, c.projectA, c.memberId, { cores: 1, ram: 1 }, 2, 2),
        (err: unknown) =>
          err instanceof OverQuota &&
          err.message === 'Quota exceeded for instances: Requested 2, but already used 2 of 3 instances',
      );
      await assert.rejects(
        checkServerQuota(c.db, cfg, c.projectA, c.memberId, { instances: 2, cores: 0, ram: 0 }),
        OverQuota,
      );
      await c
        .nova('delete', `/os-quota-sets/${c.projectA}?user_id=${c.memberId}`, '2.1', c.admin)
        .expect(202);
      await c.db('servers').where({ project_id: c.projectA }).delete();
      await c.nova('delete', `/os-quota-sets/${c.projectA}`, '2.1', c.admin).expect(202);
    });

    it('two racing updates leave one of the two values, never a mix of rows', async () => {
      const put = (n: number) =>
        c
          .nova('put', `/os-quota-sets/${c.projectB}`, '2.1', c.admin)
          .send({ quota_set: { instances: n, cores: n } });
      const res = await Promise.all([put(3), put(4), put(5)]);
      for (const r of res) assert.equal(r.status, 200, r.text);
      const r = await c.nova('get', `/os-quota-sets/${c.projectB}`, '2.1', c.admin).expect(200);
      assert.ok([3, 4, 5].includes(r.body.quota_set.instances));
      assert.equal(r.body.quota_set.cores, r.body.quota_set.instances);
      const rows = await c.db('compute_quotas').where({ project_id: c.projectB, user_id: '' });
      assert.equal(rows.length, 2);
    });
  });
}

const PUB = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP/i/vMRY6wjPyzY6LIe4CpntrZRhoB9J/yUUWYMibZu test@quota';
