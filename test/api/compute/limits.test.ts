/**
 * Nova's GET /limits: the absolute limits per microversion (2.1, 2.36, 2.39, 2.57), the used figures counted
 * from servers not deleted and from server groups, per-project overrides, and `tenant_id` for admins only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertFault, golden } from '../../support/compute.js';
import { testBackends } from '../../support/databases.js';
import { insertServer, startSubresourceCloud, type SubresourceCloud } from '../../support/server-fixtures.js';

const V21 = {
  maxImageMeta: 128,
  maxPersonality: 5,
  maxPersonalitySize: 10240,
  maxSecurityGroupRules: -1,
  maxSecurityGroups: -1,
  maxServerGroupMembers: 10,
  maxServerGroups: 10,
  maxServerMeta: 128,
  maxTotalCores: 20,
  maxTotalFloatingIps: -1,
  maxTotalInstances: 10,
  maxTotalKeypairs: 100,
  maxTotalRAMSize: 51200,
  totalCoresUsed: 0,
  totalFloatingIpsUsed: 0,
  totalInstancesUsed: 0,
  totalRAMUsed: 0,
  totalSecurityGroupsUsed: 0,
  totalServerGroupsUsed: 0,
};
const drop = (o: Record<string, number>, keys: string[]) =>
  Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
const NETWORK = [
  'maxSecurityGroupRules',
  'maxSecurityGroups',
  'maxTotalFloatingIps',
  'totalFloatingIpsUsed',
  'totalSecurityGroupsUsed',
];

for (const backend of testBackends()) {
  describe(`compute limits [${backend}]`, () => {
    let c: SubresourceCloud;
    before(async () => {
      c = await startSubresourceCloud(backend);
    });
    after(async () => {
      await c.api.close();
    });

    it('shows Nova’s absolute limits per microversion', async () => {
      const r1 = await c.nova('get', '/limits').expect(200);
      assert.deepEqual(r1.body, { limits: { rate: [], absolute: V21 } });
      golden('limits-show@2.1', r1.body);
      const r36 = await c.nova('get', '/limits', '2.36').expect(200);
      assert.deepEqual(r36.body.limits.absolute, drop(V21, NETWORK));
      golden('limits-show@2.36', r36.body);
      const r39 = await c.nova('get', '/limits', '2.39').expect(200);
      assert.deepEqual(r39.body.limits.absolute, drop(V21, [...NETWORK, 'maxImageMeta']));
      const r57 = await c.nova('get', '/limits', '2.57').expect(200);
      assert.deepEqual(
        r57.body.limits.absolute,
        drop(V21, [...NETWORK, 'maxImageMeta', 'maxPersonality', 'maxPersonalitySize']),
      );
      golden('limits-show@2.57', r57.body);
    });

    it('counts servers not deleted and server groups; overrides show as the limits', async () => {
      for (const [vcpus, ram, deleted] of [
        [2, 1024, false],
        [4, 4096, false],
        [8, 8192, true],
      ] as const) {
        const uuid = await insertServer(c.db, {
          projectId: c.projectA,
          deletedAt: deleted ? Date.now() : null,
        });
        await c.db('servers').where({ uuid }).update({ vcpus, memory_mb: ram });
      }
      await insertServer(c.db, { projectId: c.projectB }); // another project's
      await c
        .nova('post', '/os-server-groups')
        .send({ server_group: { name: 'g', policies: ['affinity'] } })
        .expect(200);
      await c
        .nova('put', `/os-quota-sets/${c.projectA}`, '2.1', c.admin)
        .send({ quota_set: { cores: 12, server_groups: 3 } })
        .expect(200);
      const r = await c.nova('get', '/limits', '2.57', c.reader).expect(200);
      const a = r.body.limits.absolute;
      assert.deepEqual(
        [a.totalInstancesUsed, a.totalCoresUsed, a.totalRAMUsed, a.totalServerGroupsUsed],
        [2, 6, 5120, 1],
      );
      assert.equal(a.maxTotalCores, 12);
      assert.equal(a.maxServerGroups, 3);
      const b = (await c.nova('get', '/limits', '2.57', c.other).expect(200)).body.limits.absolute;
      assert.deepEqual([b.totalInstancesUsed, b.totalCoresUsed, b.maxTotalCores], [1, 1, 20]);
    });

    it('tenant_id is for admins only (os_compute_api:limits:other_project)', async () => {
      const r = await c.nova('get', `/limits?tenant_id=${c.projectA}`, '2.57', c.admin).expect(200);
      assert.equal(r.body.limits.absolute.totalInstancesUsed, 2);
      assert.equal(r.body.limits.absolute.maxTotalCores, 12);
      assertFault(
        await c.nova('get', `/limits?tenant_id=${c.projectB}`, '2.57', c.member),
        403,
        'forbidden',
        /os_compute_api:limits:other_project/,
      );
      // even naming one's own project needs the rule, as in Nova
      assertFault(await c.nova('get', `/limits?tenant_id=${c.projectA}`, '2.1', c.member), 403, 'forbidden');
      // unknown query parameters: ignored before 2.75, 400 from it
      await c.nova('get', '/limits?foo=1', '2.74').expect(200);
      assertFault(await c.nova('get', '/limits?foo=1', '2.75'), 400, 'badRequest', /'foo' was unexpected/);
    });
  });
}
