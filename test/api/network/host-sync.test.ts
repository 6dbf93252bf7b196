/**
 * The agent side of networking as the API answers it: POST /kvmstack/v1/hosts/{id}/network gives a host its
 * networks, its bound ports with their rules, and a DHCP server (a `network:dhcp` port of that host) only
 * where it has ports; the ports the agent reports wired turn ACTIVE.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HostNetworkState } from '../../../src/network/realization.js';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';

const SECRET = 'network-sync-secret';

for (const backend of testBackends()) {
  describe(`host network sync [${backend}]`, () => {
    let api: TestApi;
    let admin: string;
    const hosts: Record<string, { id: string; credential: string }> = {};

    const neutron = async (method: 'post' | 'put' | 'delete', path: string, body?: unknown) => {
      const res = await api.http[method](`/networking/v2.0/${path}`)
        .set('X-Auth-Token', admin)
        .send(body as object);
      assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    };
    const sync = async (
      name: string,
      activePorts: string[] = [],
      unrealizable: { networkId: string; reason: string }[] = [],
    ): Promise<HostNetworkState> => {
      const h = hosts[name];
      const res = await api.http
        .post(`/kvmstack/v1/hosts/${h.id}/network`)
        .set('Authorization', `Bearer ${h.credential}`)
        .send({ appliedRevision: null, activePorts, unrealizable });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as HostNetworkState;
    };
    const portStatus = async (id: string) =>
      (await api.http.get(`/networking/v2.0/ports/${id}`).set('X-Auth-Token', admin)).body.port
        .status as string;

    before(async () => {
      api = await startTestApi(backend, { overrides: { 'cluster.enrollment_secret': SECRET } });
      admin = await api.adminToken();
      for (const [i, name] of ['h1', 'h2'].entries()) {
        const res = await api.http.post('/kvmstack/v1/hosts/enroll').send({
          enrollment_secret: SECRET,
          hostname: name,
          host_uuid: `00000000-0000-4000-8000-00000000000${i}`,
          host_ip: `10.0.0.${i + 1}`,
          rpc_url: `http://10.0.0.${i + 1}:5100`,
          inventory: {},
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        hosts[name] = { id: res.body.host.id, credential: res.body.credential };
      }
    });
    after(async () => api?.close());

    it('gives a host DHCP and leases only for its own ports, and shows wired ports ACTIVE', async () => {
      const net = (
        await neutron('post', 'networks', {
          network: {
            name: 'sync-net',
            'provider:network_type': 'flat',
            'provider:physical_network': 'provider',
          },
        })
      ).network;
      const subnet = (
        await neutron('post', 'subnets', {
          subnet: {
            network_id: net.id,
            cidr: '10.20.0.0/24',
            ip_version: 4,
            dns_nameservers: ['10.20.0.53'],
            host_routes: [{ destination: '10.30.0.0/16', nexthop: '10.20.0.254' }],
          },
        })
      ).subnet;

      // No ports yet: every host sees the network, nobody runs DHCP for it.
      let h1 = await sync('h1');
      const seen = h1.networks.find((n) => n.id === net.id);
      assert.ok(seen, 'the network is realized on every host');
      assert.equal(seen.networkType, 'flat');
      assert.equal(seen.physicalNetwork, 'provider');
      assert.equal(seen.dhcp, null);
      assert.deepEqual(seen.ports, []);

      const port = (
        await neutron('post', 'ports', {
          port: { network_id: net.id, name: 'vm-port', 'binding:host_id': 'h1' },
        })
      ).port;
      h1 = await sync('h1');
      const n1 = h1.networks.find((n) => n.id === net.id)!;
      assert.equal(n1.ports.length, 1);
      assert.equal(n1.ports[0].id, port.id);
      assert.equal(n1.ports[0].tap, `tap${port.id.slice(0, 11)}`);
      assert.equal(n1.ports[0].mac, port.mac_address);
      assert.deepEqual(
        n1.ports[0].fixedIps,
        port.fixed_ips.map((f: { subnet_id: string; ip_address: string }) => ({
          subnetId: f.subnet_id,
          ip: f.ip_address,
          prefixLen: 24,
        })),
      );
      assert.ok(n1.ports[0].rules.length > 0, 'the default group rules reach the host');
      assert.ok(n1.dhcp, 'h1 has a port there: it serves DHCP');
      assert.equal(n1.dhcp.port.fixedIps.length, 1);
      assert.notEqual(n1.dhcp.port.fixedIps[0].ip, port.fixed_ips[0].ip_address);
      assert.deepEqual(n1.dhcp.leases, [
        {
          mac: port.mac_address,
          ip: port.fixed_ips[0].ip_address,
          hostname: `host-${port.fixed_ips[0].ip_address.replaceAll('.', '-')}`,
          subnetId: subnet.id,
        },
      ]);
      assert.deepEqual(n1.dhcp.subnets[0].dnsNameservers, ['10.20.0.53']);
      assert.deepEqual(n1.dhcp.subnets[0].hostRoutes, [
        { destination: '10.30.0.0/16', nexthop: '10.20.0.254' },
      ]);
      assert.equal(n1.dhcp.subnets[0].gatewayIp, '10.20.0.1');

      // The DHCP port is a real Neutron port of that host, as Neutron's DHCP agent's.
      const dhcpPorts = (
        await api.http
          .get(`/networking/v2.0/ports?network_id=${net.id}&device_owner=network:dhcp`)
          .set('X-Auth-Token', admin)
      ).body.ports;
      assert.equal(dhcpPorts.length, 1);
      assert.equal(dhcpPorts[0]['binding:host_id'], 'h1');
      assert.equal(dhcpPorts[0].id, n1.dhcp.port.id);

      // A second sync changes nothing: same revision, no second DHCP port.
      assert.equal((await sync('h1')).revision, h1.revision);
      // The host's report after the DHCP port existed: it is ACTIVE, unless the host cannot realize the network.
      assert.equal(await portStatus(n1.dhcp.port.id), 'ACTIVE');
      await sync('h1', [], [{ networkId: net.id, reason: 'physical network provider is not mapped' }]);
      assert.equal(await portStatus(n1.dhcp.port.id), 'DOWN');
      await sync('h1');
      assert.equal(await portStatus(n1.dhcp.port.id), 'ACTIVE');

      // h2 has no port there: no DHCP, no ports.
      const n2 = (await sync('h2')).networks.find((n) => n.id === net.id)!;
      assert.equal(n2.dhcp, null);
      assert.deepEqual(n2.ports, []);

      assert.equal(await portStatus(port.id), 'DOWN');
      await sync('h1', [port.id]);
      assert.equal(await portStatus(port.id), 'ACTIVE');
      // Another host cannot make h1's port active.
      await sync('h2', [port.id]);
      assert.equal(await portStatus(port.id), 'ACTIVE');
      await sync('h1', []);
      assert.equal(await portStatus(port.id), 'DOWN');

      // The VM moves to h2 (as a migration rebinds its port): h1's DHCP port goes, h2 gets one.
      await neutron('put', `ports/${port.id}`, { port: { 'binding:host_id': 'h2' } });
      const after1 = (await sync('h1')).networks.find((n) => n.id === net.id)!;
      assert.equal(after1.dhcp, null);
      assert.deepEqual(after1.ports, []);
      const after2 = (await sync('h2')).networks.find((n) => n.id === net.id)!;
      assert.equal(after2.ports[0].id, port.id);
      assert.ok(after2.dhcp);
      const left = (
        await api.http
          .get(`/networking/v2.0/ports?network_id=${net.id}&device_owner=network:dhcp`)
          .set('X-Auth-Token', admin)
      ).body.ports;
      assert.deepEqual(
        left.map((p: { 'binding:host_id': string }) => p['binding:host_id']),
        ['h2'],
      );

      // Deleting the VM port and the network leaves nothing behind.
      await neutron('delete', `ports/${port.id}`);
      await sync('h2');
      await neutron('delete', `networks/${net.id}`);
      const gone = await sync('h2');
      assert.equal(
        gone.networks.find((n) => n.id === net.id),
        undefined,
      );
    });

    it('a VXLAN network reaches every host with its VNI and the other hosts as tunnel peers', async () => {
      const net = (
        await neutron('post', 'networks', {
          network: { name: 'vx-net', 'provider:network_type': 'vxlan', 'provider:segmentation_id': 4242 },
        })
      ).network;
      const h1 = await sync('h1');
      const seen = h1.networks.find((n) => n.id === net.id);
      assert.ok(seen, 'the network is realized on every host');
      assert.equal(seen.networkType, 'vxlan');
      assert.equal(seen.physicalNetwork, '');
      assert.equal(seen.segmentationId, 4242);
      assert.equal(seen.mtu, 1450);
      assert.equal(h1.tunnelLocalIp, '10.0.0.1');
      assert.deepEqual(h1.tunnelPeers, ['10.0.0.2']);
      const h2 = await sync('h2');
      assert.equal(h2.tunnelLocalIp, '10.0.0.2');
      assert.deepEqual(h2.tunnelPeers, ['10.0.0.1']);

      // a host joins: everyone floods to it too, and their revision says so; it leaves: it is dropped again
      const res = await api.http.post('/kvmstack/v1/hosts/enroll').send({
        enrollment_secret: SECRET,
        hostname: 'h3',
        host_uuid: '00000000-0000-4000-8000-000000000003',
        host_ip: '10.0.0.3',
        rpc_url: 'http://10.0.0.3:5100',
        inventory: {},
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const joined = await sync('h1');
      assert.deepEqual(joined.tunnelPeers, ['10.0.0.2', '10.0.0.3']);
      assert.notEqual(joined.revision, h1.revision, 'a new peer is a new revision');
      await api.http
        .post(`/kvmstack/v1/hosts/${res.body.host.id}/revoke`)
        .set('X-Auth-Token', admin)
        .expect(200);
      const left = await sync('h1');
      assert.deepEqual(left.tunnelPeers, ['10.0.0.2'], 'a revoked host is no peer');
      assert.equal(left.revision, h1.revision);
      await neutron('delete', `networks/${net.id}`);
    });

    it('refuses a sync without the host credential or for another host', async () => {
      const body = { appliedRevision: null, activePorts: [], unrealizable: [] };
      const anon = await api.http.post(`/kvmstack/v1/hosts/${hosts.h1.id}/network`).send(body);
      assert.equal(anon.status, 401);
      const other = await api.http
        .post(`/kvmstack/v1/hosts/${hosts.h1.id}/network`)
        .set('Authorization', `Bearer ${hosts.h2.credential}`)
        .send(body);
      assert.equal(other.status, 403);
      const bad = await api.http
        .post(`/kvmstack/v1/hosts/${hosts.h1.id}/network`)
        .set('Authorization', `Bearer ${hosts.h1.credential}`)
        .send({ activePorts: 'x' });
      assert.equal(bad.status, 400);
    });
  });
}
