/**
 * The server actions around the main ones, on both engines with fake-driver hosts: os-resetState (admin
 * only), restore (kvmstack never soft-deletes: always Nova's 409), add/removeSecurityGroup on the server's
 * ports, and createBackup with its rotation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertFault,
  bootServer,
  startComputeCloud,
  until,
  type ComputeCloud,
} from '../../support/compute.js';
import { testBackends } from '../../support/databases.js';
import { tenant, type Tenant } from '../image/support.js';

const MV = 'X-OpenStack-Nova-API-Version';

for (const backend of testBackends()) {
  describe(`server admin, security group and backup actions [${backend}]`, () => {
    let cloud: ComputeCloud;
    let a: Tenant;
    let id: string;

    const http = () => cloud.api.http;
    const action = (token: string, body: Record<string, unknown>, mv = '2.1') =>
      http().post(`/compute/v2.1/servers/${id}/action`).set('X-Auth-Token', token).set(MV, mv).send(body);
    const show = async (token = a.member) =>
      (await http().get(`/compute/v2.1/servers/${id}`).set('X-Auth-Token', token).set(MV, '2.1')).body
        .server as Record<string, unknown>;
    const idle = () =>
      until('the server idle', async () => (await show())['OS-EXT-STS:task_state'] === null, 30_000);

    before(async () => {
      cloud = await startComputeCloud(backend);
      a = await tenant(cloud.api, 'adm-a');
      id = await bootServer(cloud, a.member);
    });
    after(async () => {
      await cloud?.close();
    });

    it('os-resetState: admin only, active or error, clears the task state, recorded as resetState', async () => {
      assertFault(await action(a.member, { 'os-resetState': { state: 'error' } }), 403, 'forbidden');
      assertFault(await action(cloud.admin, { 'os-resetState': { state: 'stopped' } }), 400, 'badRequest');
      assertFault(await action(cloud.admin, { 'os-resetState': {} }), 400, 'badRequest');
      const res = await action(cloud.admin, { 'os-resetState': { state: 'error' } });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.text, '');
      assert.equal((await show()).status, 'ERROR');
      assert.equal((await action(cloud.admin, { 'os-resetState': { state: 'active' } })).status, 202);
      const s = await show();
      assert.equal(s.status, 'ACTIVE');
      assert.equal(s['OS-EXT-STS:task_state'], null);
      const actions = await http()
        .get(`/compute/v2.1/servers/${id}/os-instance-actions`)
        .set('X-Auth-Token', cloud.admin);
      assert.deepEqual(actions.body.instanceActions.map((x: { action: string }) => x.action).slice(0, 2), [
        'resetState',
        'resetState',
      ]);
    });

    it('restore: never soft-deleted here, so Nova’s 409 for the state the server is in', async () => {
      assertFault(
        await action(a.member, { restore: null }),
        409,
        'conflictingRequest',
        new RegExp(`Cannot 'restore' instance ${id} while it is in vm_state active`),
      );
    });

    it('removeSecurityGroup / addSecurityGroup change every port of the server', async () => {
      const portGroups = async () => {
        const ports = await http()
          .get(`/networking/v2.0/ports?device_id=${id}`)
          .set('X-Auth-Token', a.member);
        return ports.body.ports.map((p: { security_groups: string[] }) => p.security_groups.length);
      };
      assert.deepEqual(await portGroups(), [1]);
      const removed = await action(a.member, { removeSecurityGroup: { name: 'default' } });
      assert.equal(removed.status, 202, removed.text);
      assert.ok(!('security_groups' in (await show())), 'no groups: the key is absent, as Nova');
      assert.deepEqual(await portGroups(), [0]);
      assertFault(
        await action(a.member, { removeSecurityGroup: { name: 'default' } }),
        404,
        'itemNotFound',
        /not associated with the instance/,
      );
      assertFault(
        await action(a.member, { addSecurityGroup: { name: 'no-such-group' } }),
        404,
        'itemNotFound',
        /Security group no-such-group is not found for project/,
      );
      assertFault(await action(a.member, { addSecurityGroup: {} }), 400, 'badRequest');
      assertFault(await action(a.member, { addSecurityGroup: { name: ' ' } }), 400, 'badRequest');
      const sg = await http()
        .post('/networking/v2.0/security-groups')
        .set('X-Auth-Token', a.member)
        .send({ security_group: { name: 'web' } });
      assert.equal(sg.status, 201, sg.text);
      assert.equal((await action(a.member, { addSecurityGroup: { name: 'web' } })).status, 202);
      assert.equal(
        (await action(a.member, { addSecurityGroup: { name: sg.body.security_group.id } })).status,
        202,
      );
      assert.deepEqual((await show()).security_groups, [{ name: 'web' }]);
      assert.deepEqual(await portGroups(), [1]);
    });

    it('createBackup: a backup image per call; rotation keeps the newest N of the type', async () => {
      const backupsOfType = async (type: string) => {
        const res = await http()
          .get(
            `/image/v2/images?instance_uuid=${id}&image_type=backup&backup_type=${type}&sort_key=created_at&sort_dir=asc`,
          )
          .set('X-Auth-Token', a.member);
        return res.body.images.map((i: { name: string }) => i.name);
      };
      assertFault(
        await action(a.member, { createBackup: { name: 'b', backup_type: 'daily' } }),
        400,
        'badRequest',
      );
      assertFault(
        await action(a.member, { createBackup: { name: 'b', backup_type: 'daily', rotation: -1 } }),
        400,
        'badRequest',
      );
      for (const [i, mv] of [
        [1, '2.45'],
        [2, '2.1'],
        [3, '2.45'],
      ] as const) {
        const res = await action(
          a.member,
          { createBackup: { name: `daily-${i}`, backup_type: 'daily', rotation: i === 2 ? '2' : 2 } },
          mv,
        );
        assert.equal(res.status, 202, res.text);
        if (mv === '2.45') assert.match(res.body.image_id, /^[0-9a-f-]{36}$/);
        else assert.match(res.headers.location, /\/v2\/images\/[0-9a-f-]{36}$/);
        await idle();
      }
      await until('rotation to 2', async () => (await backupsOfType('daily')).length === 2);
      assert.deepEqual(await backupsOfType('daily'), ['daily-2', 'daily-3']);
      // another type is its own rotation; rotation 0 keeps none (the new one neither), and no Location < 2.45
      const weekly = await action(a.member, {
        createBackup: { name: 'w', backup_type: 'weekly', rotation: 0 },
      });
      assert.equal(weekly.status, 202, weekly.text);
      assert.equal(weekly.headers.location, undefined);
      await idle();
      await until('weekly rotated away', async () => (await backupsOfType('weekly')).length === 0);
      assert.deepEqual(await backupsOfType('daily'), ['daily-2', 'daily-3']);
    });
  });
}
