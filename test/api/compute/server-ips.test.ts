/**
 * Nova server addresses: /ips and /ips/{network_label} built from the server's ports (grouped by network
 * name, port creation then address order), and serverAddresses, which the server views use.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { serverAddresses } from '../../../src/compute/servers/ips/service.js';
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
  describe(`compute server ips [${backend}]`, () => {
    let c: SubresourceCloud;
    let vm: string;
    let bare: string;

    before(async () => {
      c = await startSubresourceCloud(backend);
      vm = await insertServer(c.db, { projectId: c.projectA });
      bare = await insertServer(c.db, { projectId: c.projectA });
      const net1 = await insertNetwork(c.db, c.projectA, 'private', '10.0.0.0/24');
      const net2 = await insertNetwork(c.db, c.projectA, 'backend', '10.1.0.0/24');
      const t = Date.now();
      const port = (net: typeof net1, ips: string[], mac: string, at: number, device = vm) =>
        insertPort(c.db, { projectId: c.projectA, ...net, deviceId: device, ips, mac, createdAt: at });
      // created out of order: the second port of "private" is older than the first one inserted
      await port(net1, ['10.0.0.20', '10.0.0.5'], 'fa:16:3e:00:00:02', t + 2);
      await port(net2, ['10.1.0.7'], 'fa:16:3e:00:00:03', t + 1);
      await port(net1, ['10.0.0.9'], 'fa:16:3e:00:00:01', t);
      await port(net1, ['10.0.0.99'], 'fa:16:3e:00:00:09', t, ''); // not the server's
    });
    after(() => c.api.close());

    it('lists addresses by network, ports in creation order, addresses in order', async () => {
      const res = await c.nova('get', `/servers/${vm}/ips`);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, {
        addresses: {
          private: [
            { version: 4, addr: '10.0.0.9' },
            { version: 4, addr: '10.0.0.5' },
            { version: 4, addr: '10.0.0.20' },
          ],
          backend: [{ version: 4, addr: '10.1.0.7' }],
        },
      });
      assert.deepEqual(Object.keys(res.body.addresses), ['private', 'backend']);
      golden('server-ips-list@2.1', res.body);
      await c.nova('get', `/servers/${bare}/ips`, '2.79').expect(200, { addresses: {} });
    });

    it('shows one network, 404 for a network the server is not on', async () => {
      const res = await c.nova('get', `/servers/${vm}/ips/backend`);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { backend: [{ version: 4, addr: '10.1.0.7' }] });
      golden('server-ips-show@2.1', res.body);
      assertFault(
        await c.nova('get', `/servers/${vm}/ips/public`),
        404,
        'itemNotFound',
        /^Instance is not a member of specified network$/,
      );
      assertFault(await c.nova('get', `/servers/${bare}/ips/private`), 404, 'itemNotFound');
    });

    it('hides other projects’ and deleted servers; readers and admins read', async () => {
      const theirs = await insertServer(c.db, { projectId: c.projectB });
      const gone = await insertServer(c.db, { projectId: c.projectA, deletedAt: Date.now() });
      for (const s of [theirs, gone]) {
        const nf = new RegExp(`^Instance ${s} could not be found\\.$`);
        assertFault(await c.nova('get', `/servers/${s}/ips`), 404, 'itemNotFound', nf);
        assertFault(await c.nova('get', `/servers/${s}/ips/private`), 404, 'itemNotFound', nf);
      }
      assertFault(await c.nova('get', `/servers/${vm}/ips`, '2.1', c.other), 404, 'itemNotFound');
      await c.nova('get', `/servers/${vm}/ips`, '2.1', c.reader).expect(200);
      await c.nova('get', `/servers/${theirs}/ips`, '2.1', c.admin).expect(200, { addresses: {} });
    });

    it('serverAddresses gives the views the OS-EXT-IPS form for many servers at once', async () => {
      const map = await serverAddresses(c.db, [vm, bare]);
      assert.deepEqual(map.get(bare), {});
      assert.deepEqual(map.get(vm)?.backend, [
        {
          addr: '10.1.0.7',
          version: 4,
          'OS-EXT-IPS:type': 'fixed',
          'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:00:00:03',
        },
      ]);
      assert.deepEqual(
        map.get(vm)?.private.map((a) => [a.addr, a['OS-EXT-IPS-MAC:mac_addr']]),
        [
          ['10.0.0.9', 'fa:16:3e:00:00:01'],
          ['10.0.0.5', 'fa:16:3e:00:00:02'],
          ['10.0.0.20', 'fa:16:3e:00:00:02'],
        ],
      );
      assert.equal((await serverAddresses(c.db, [])).size, 0);
    });
  });
}
