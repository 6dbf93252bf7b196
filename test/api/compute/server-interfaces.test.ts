/**
 * Nova interface attachments (os-interface): list and show from the server's ports, device tags from the
 * create request (2.70), Nova's 404 messages. Attach and detach: server-interface-attach.test.ts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { assertFault, golden } from '../../support/compute.js';
import { testBackends } from '../../support/databases.js';
import {
  insertNetwork,
  insertPort,
  insertServer,
  startSubresourceCloud,
  type SubresourceCloud,
} from '../../support/server-fixtures.js';

for (const backend of testBackends()) {
  describe(`compute server interfaces [${backend}]`, () => {
    let c: SubresourceCloud;
    let vm: string;
    let made: string;
    let given: string;
    let loose: string;
    let theirs: string;
    let subnet1: string;

    before(async () => {
      c = await startSubresourceCloud(backend);
      const net1 = await insertNetwork(c.db, c.projectA, 'private', '10.0.0.0/24');
      const net2 = await insertNetwork(c.db, c.projectA, 'backend', '10.1.0.0/24');
      const netB = await insertNetwork(c.db, c.projectB, 'theirs', '10.2.0.0/24');
      subnet1 = net1.subnetId;
      const t = Date.now();
      given = randomUUID();
      vm = await insertServer(c.db, {
        projectId: c.projectA,
        networks: [
          { uuid: net1.networkId, tag: 'nic-a' },
          { port: 'placeholder', tag: 'nic-b' },
        ],
      });
      // the given port is older than the server; the boot task made the other one
      given = await insertPort(c.db, {
        projectId: c.projectA,
        ...net2,
        deviceId: vm,
        ips: ['10.1.0.4'],
        mac: 'fa:16:3e:00:00:0b',
        createdAt: t - 1000,
        status: 'DOWN',
      });
      await c
        .db('servers')
        .where({ uuid: vm })
        .update({
          request: JSON.stringify({
            networks: [
              { uuid: net1.networkId, tag: 'nic-a' },
              { port: given, tag: 'nic-b' },
            ],
            securityGroups: [],
            schedulerHints: {},
            forcedHost: null,
            adminPass: null,
          }),
        });
      made = await insertPort(c.db, {
        projectId: c.projectA,
        ...net1,
        deviceId: vm,
        ips: ['10.0.0.12', '10.0.0.3'],
        mac: 'fa:16:3e:00:00:0a',
        createdAt: t,
      });
      loose = await insertPort(c.db, {
        projectId: c.projectA,
        ...net1,
        deviceId: '',
        ips: [],
        mac: 'fa:16:3e:00:00:0c',
        createdAt: t,
      });
      theirs = await insertPort(c.db, {
        projectId: c.projectB,
        ...netB,
        deviceId: randomUUID(),
        ips: [],
        mac: 'fa:16:3e:00:00:0d',
        createdAt: t,
      });
    });
    after(() => c.api.close());

    it('lists the server’s ports; tags from 2.70', async () => {
      let res = await c.nova('get', `/servers/${vm}/os-interface`);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, {
        interfaceAttachments: [
          {
            net_id: (await c.db('ports').where({ id: given }).first()).network_id,
            port_id: given,
            mac_addr: 'fa:16:3e:00:00:0b',
            port_state: 'DOWN',
            fixed_ips: [
              { subnet_id: res.body.interfaceAttachments[0].fixed_ips[0].subnet_id, ip_address: '10.1.0.4' },
            ],
          },
          {
            net_id: (await c.db('ports').where({ id: made }).first()).network_id,
            port_id: made,
            mac_addr: 'fa:16:3e:00:00:0a',
            port_state: 'ACTIVE',
            fixed_ips: [
              { subnet_id: subnet1, ip_address: '10.0.0.3' },
              { subnet_id: subnet1, ip_address: '10.0.0.12' },
            ],
          },
        ],
      });
      golden('server-interfaces-list@2.1', res.body);
      res = await c.nova('get', `/servers/${vm}/os-interface`, '2.70');
      assert.deepEqual(
        res.body.interfaceAttachments.map((a: { port_id: string; tag: string }) => [a.port_id, a.tag]),
        [
          [given, 'nic-b'],
          [made, 'nic-a'],
        ],
      );
      golden('server-interfaces-list@2.70', res.body);
      const bare = await insertServer(c.db, { projectId: c.projectA });
      await c.nova('get', `/servers/${bare}/os-interface`, '2.79').expect(200, { interfaceAttachments: [] });
    });

    it('shows one port of the server; Nova’s 404s for others', async () => {
      let res = await c.nova('get', `/servers/${vm}/os-interface/${made}`, '2.70');
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.interfaceAttachment.port_id, made);
      assert.equal(res.body.interfaceAttachment.tag, 'nic-a');
      golden('server-interfaces-show@2.70', res.body);
      res = await c.nova('get', `/servers/${vm}/os-interface/${made}`, '2.69');
      assert.equal('tag' in res.body.interfaceAttachment, false);
      assertFault(
        await c.nova('get', `/servers/${vm}/os-interface/${loose}`),
        404,
        'itemNotFound',
        new RegExp(`^Instance ${vm} does not have a port with id ${loose}$`),
      );
      const missing = randomUUID();
      assertFault(
        await c.nova('get', `/servers/${vm}/os-interface/${missing}`),
        404,
        'itemNotFound',
        new RegExp(`^Port id ${missing} could not be found\\.$`),
      );
      assertFault(
        await c.nova('get', `/servers/${vm}/os-interface/${theirs}`),
        404,
        'itemNotFound',
        new RegExp(`^Port id ${theirs} could not be found\\.$`),
      );
      assertFault(
        await c.nova('get', `/servers/${vm}/os-interface/${theirs}`, '2.1', c.admin),
        404,
        'itemNotFound',
        /does not have a port/,
      );
    });

    it('hides other projects’ servers; readers read', async () => {
      assertFault(await c.nova('get', `/servers/${vm}/os-interface`, '2.1', c.other), 404, 'itemNotFound');
      assertFault(
        await c.nova('get', `/servers/${vm}/os-interface/${made}`, '2.1', c.other),
        404,
        'itemNotFound',
      );
      await c.nova('get', `/servers/${vm}/os-interface`, '2.1', c.reader).expect(200);
      await c.nova('get', `/servers/${vm}/os-interface`, '2.1', c.admin).expect(200);
    });
  });
}
