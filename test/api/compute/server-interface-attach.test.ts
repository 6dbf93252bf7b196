/**
 * Interface attach and detach through the whole path (fake-driver hosts, both engines): a new port on a
 * network (with a fixed IP, a 2.49 tag) or a given port is bound to the server's host and plugged into its
 * domain; detach unplugs it and deletes a port kvmstack made but only unbinds one the user gave; bad input
 * and wrong states are Nova's 400/404/409 with nothing left behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertFault,
  bootServer,
  until,
  startComputeCloud,
  waitForStatus,
  type ComputeCloud,
} from '../../support/compute.js';
import { testBackends } from '../../support/databases.js';
import { tenant, type Tenant } from '../image/support.js';
import { FakeDriver } from '../../../host-agent/driver/fake.js';
import type { NicSpec } from '../../../host-agent/driver/types.js';
import { TaskRunner } from '../../../src/compute/tasks/runner.js';
import { recordAction } from '../../../src/compute/servers/instance-actions/record.js';

/** A fake host whose NIC hot-plug fails while `failing` is set (a host that cannot plug the device). */
class FlakyPlugDriver extends FakeDriver {
  static failing = false;
  override async plugNic(uuid: string, nic: NicSpec): Promise<void> {
    if (FlakyPlugDriver.failing) throw new Error('internal error: unable to execute QEMU command netdev_add');
    return super.plugNic(uuid, nic);
  }
}

const MV = 'X-OpenStack-Nova-API-Version';

for (const backend of testBackends()) {
  describe(`server interface attach/detach [${backend}]`, () => {
    let cloud: ComputeCloud;
    let a: Tenant;
    let id: string;
    let net2: string;

    const http = () => cloud.api.http;
    const attach = (body: Record<string, unknown>, mv = '2.1', token = a.member) =>
      http()
        .post(`/compute/v2.1/servers/${id}/os-interface`)
        .set('X-Auth-Token', token)
        .set(MV, mv)
        .send(body);
    const detach = (port: string, token = a.member) =>
      http().delete(`/compute/v2.1/servers/${id}/os-interface/${port}`).set('X-Auth-Token', token);
    const list = async () =>
      (
        await http()
          .get(`/compute/v2.1/servers/${id}/os-interface`)
          .set('X-Auth-Token', a.member)
          .set(MV, '2.70')
      ).body.interfaceAttachments as { port_id: string; net_id: string; tag: string | null }[];
    const domainMacs = () => {
      for (const d of cloud.drivers) {
        const spec = (
          d as unknown as { domains: Map<string, { spec: { nics: { mac: string }[] } }> }
        ).domains.get(id);
        if (spec) return spec.spec.nics.map((n) => n.mac).sort();
      }
      return [];
    };
    const portsOf = async () =>
      (await http().get(`/networking/v2.0/ports?device_id=${id}`).set('X-Auth-Token', a.member)).body
        .ports as {
        id: string;
        mac_address: string;
      }[];

    before(async () => {
      cloud = await startComputeCloud(backend, {
        overrides: { 'compute.task_takeover_after': 1 },
        driver: (name, cluster) => new FlakyPlugDriver(name, cluster),
      });
      a = await tenant(cloud.api, 'att-a');
      const net = await http()
        .post('/networking/v2.0/networks')
        .set('X-Auth-Token', a.member)
        .send({ network: { name: 'second' } });
      net2 = net.body.network.id;
      await http()
        .post('/networking/v2.0/subnets')
        .set('X-Auth-Token', a.member)
        .send({ subnet: { network_id: net2, cidr: '10.61.0.0/24', ip_version: 4 } })
        .expect(201);
      id = await bootServer(cloud, a.member);
    });
    after(async () => {
      await cloud?.close();
    });

    it('attaches a new port on a network (fixed IP, 2.49 tag): bound, plugged, listed; detach deletes it', async () => {
      const res = await attach(
        { interfaceAttachment: { net_id: net2, fixed_ips: [{ ip_address: '10.61.0.50' }], tag: 'db' } },
        '2.70',
      );
      assert.equal(res.status, 200, res.text);
      const att = res.body.interfaceAttachment;
      assert.equal(att.net_id, net2);
      assert.deepEqual(
        att.fixed_ips.map((f: { ip_address: string }) => f.ip_address),
        ['10.61.0.50'],
      );
      assert.equal(att.tag, 'db');
      assert.match(att.mac_addr, /^fa:16:3e:/);
      const ports = await portsOf();
      assert.equal(ports.length, 2);
      assert.deepEqual(domainMacs(), ports.map((p) => p.mac_address).sort(), 'the domain has both NICs');
      assert.deepEqual((await list()).find((x) => x.port_id === att.port_id)?.tag, 'db');
      const spec = JSON.parse(
        (await cloud.api.service.deps.db('instances').where({ uuid: id }).first()).spec,
      );
      assert.equal(spec.nics.length, 2, 'the stored spec follows');
      const gone = await detach(att.port_id);
      assert.equal(gone.status, 202, gone.text);
      assert.equal(gone.text, '');
      assert.equal((await portsOf()).length, 1);
      const port = await http().get(`/networking/v2.0/ports/${att.port_id}`).set('X-Auth-Token', a.member);
      assert.equal(port.status, 404, 'a port kvmstack made is deleted');
      assert.equal(domainMacs().length, 1);
      assert.equal((await list()).length, 1);
    });

    it('attaches a given port; detach only unbinds it; the server delete keeps it too', async () => {
      const p = await http()
        .post('/networking/v2.0/ports')
        .set('X-Auth-Token', a.member)
        .send({ port: { network_id: net2 } });
      const portId = p.body.port.id as string;
      assert.equal((await attach({ interfaceAttachment: { port_id: portId } })).status, 200);
      assertFault(
        await attach({ interfaceAttachment: { port_id: portId } }),
        409,
        'conflictingRequest',
        /still in use/,
      );
      assert.equal((await detach(portId)).status, 202);
      const kept = await http().get(`/networking/v2.0/ports/${portId}`).set('X-Auth-Token', cloud.admin);
      assert.equal(kept.status, 200);
      assert.equal(kept.body.port.device_id, '');
      assert.equal(kept.body.port['binding:host_id'], '');
      // attached again, then a second server with it deleted: a given port survives the delete, unbound
      const vm2 = await bootServer(cloud, a.member, 'vm2');
      const att = await http()
        .post(`/compute/v2.1/servers/${vm2}/os-interface`)
        .set('X-Auth-Token', a.member)
        .send({ interfaceAttachment: { port_id: portId } });
      assert.equal(att.status, 200, att.text);
      await http().delete(`/compute/v2.1/servers/${vm2}`).set('X-Auth-Token', a.member).expect(204);
      await waitForStatus(cloud, a.member, vm2, 'DELETED');
      const after = await http().get(`/networking/v2.0/ports/${portId}`).set('X-Auth-Token', cloud.admin);
      assert.equal(after.status, 200, 'the given port outlives the server');
      assert.equal(after.body.port.device_id, '');
    });

    it('a host that cannot plug: 500, the port made for it deleted, the server idle and as it was', async () => {
      const before = (await portsOf()).map((p) => p.id);
      FlakyPlugDriver.failing = true;
      try {
        assertFault(
          await attach({ interfaceAttachment: { net_id: net2 } }),
          500,
          'computeFault',
          /Failed to attach network adapter device/,
        );
      } finally {
        FlakyPlugDriver.failing = false;
      }
      assert.deepEqual(
        (await portsOf()).map((p) => p.id),
        before,
      );
      const s = (await http().get(`/compute/v2.1/servers/${id}`).set('X-Auth-Token', a.member)).body.server;
      assert.equal(s['OS-EXT-STS:task_state'], null);
      const db = cloud.api.service.deps.db;
      const row = await db('servers').where({ uuid: id }).first('request');
      assert.equal(JSON.parse(row.request).networks.length, before.length, 'the stored requests as before');
    });

    it('an attach whose API process died after making the port is resumed by another: one port, plugged', async () => {
      const db = cloud.api.service.deps.db;
      const before = (await portsOf()).length;
      // what the dead process left: the entry and the state change (beginAction), the port (its bind step),
      // and its task row, silent for longer than task_takeover_after
      const row = await db('servers').where({ uuid: id }).first('request');
      const request = JSON.parse(row.request);
      request.networks.push({ uuid: net2 });
      await db('servers')
        .where({ uuid: id })
        .update({ request: JSON.stringify(request), task_state: 'interface_attaching' });
      const made = await http()
        .post('/networking/v2.0/ports')
        .set('X-Auth-Token', cloud.admin)
        .send({
          port: { network_id: net2, tenant_id: a.projectId, device_id: id, device_owner: 'compute:nova' },
        });
      assert.equal(made.status, 201, made.text);
      const taskId = await TaskRunner.create(db, {
        kind: 'interface',
        serverUuid: id,
        step: 'run',
        payload: {
          actionId: await recordAction(db, {
            serverUuid: id,
            requestId: 'req-dead-attach',
            action: 'attach_interface',
            projectId: a.projectId,
            userId: 'u',
            now: Date.now(),
          }),
          op: 'attach',
          request: { uuid: net2 },
        },
        now: Date.now(),
      });
      await db('tasks')
        .where({ id: taskId })
        .update({ state: 'running', owner: 'dead-process', heartbeat_at: Date.now() - 60_000, attempts: 1 });
      await until('the task taken over and done', async () => {
        const t = await db('tasks').where({ id: taskId }).first('state', 'error');
        assert.notEqual(t.state, 'failed', t.error);
        return t.state === 'done';
      });
      const ports = await portsOf();
      assert.equal(ports.length, before + 1, 'the port the dead process made is used, not a second one');
      assert.ok(ports.some((p) => p.id === made.body.port.id));
      assert.ok(domainMacs().includes(made.body.port.mac_address), 'and plugged');
      const s = (await http().get(`/compute/v2.1/servers/${id}`).set('X-Auth-Token', a.member)).body.server;
      assert.equal(s['OS-EXT-STS:task_state'], null);
      assert.equal((await detach(made.body.port.id)).status, 202);
      assert.equal((await portsOf()).length, before);
    });

    it('bad input and wrong states: Nova’s 400/404/409, nothing left behind', async () => {
      const before = (await portsOf()).length;
      const cases: [Record<string, unknown>, number, string, RegExp?][] = [
        [{ interfaceAttachment: { net_id: net2, port_id: net2 } }, 400, 'badRequest', /Must not input both/],
        [
          { interfaceAttachment: { fixed_ips: [{ ip_address: '10.61.0.9' }] } },
          400,
          'badRequest',
          /network_id/,
        ],
        [{ interfaceAttachment: { net_id: 'nope' } }, 400, 'badRequest'],
        [{ interfaceAttachment: { net_id: net2, tag: 'x' } }, 400, 'badRequest'], // tag only from 2.49
        [{ interfaceAttachment: { extra: 1 } }, 400, 'badRequest'],
        [{ interfaceAttachment: { net_id: '00000000-0000-4000-8000-000000000000' } }, 404, 'itemNotFound'],
        [{ interfaceAttachment: { port_id: '00000000-0000-4000-8000-000000000000' } }, 404, 'itemNotFound'],
        [
          { interfaceAttachment: { net_id: net2, fixed_ips: [{ ip_address: '10.99.0.1' }] } },
          400,
          'badRequest',
        ],
      ];
      for (const [body, status, fault, msg] of cases) assertFault(await attach(body), status, fault, msg);
      assertFault(await detach('00000000-0000-4000-8000-000000000000'), 404, 'itemNotFound');
      const other = await tenant(cloud.api, 'att-b');
      assertFault(
        await attach({ interfaceAttachment: { net_id: net2 } }, '2.1', other.member),
        404,
        'itemNotFound',
      );
      // a paused server may take a NIC; a suspended one may not (Nova's states)
      await http()
        .post(`/compute/v2.1/servers/${id}/action`)
        .set('X-Auth-Token', a.member)
        .send({ suspend: null })
        .expect(202);
      await waitForStatus(cloud, a.member, id, 'SUSPENDED');
      assertFault(
        await attach({ interfaceAttachment: { net_id: net2 } }),
        409,
        'conflictingRequest',
        /Cannot 'attach_interface' instance .* while it is in vm_state suspended/,
      );
      assert.equal((await portsOf()).length, before, 'nothing made');
    });
  });
}
