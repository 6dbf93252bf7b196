import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Knex } from 'knex';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';
import { assertNeutronError, client, count, neutronUsers, openDb, type NeutronUsers } from './helpers.js';

for (const backend of testBackends()) {
  describe(`Neutron networks [${backend}]`, () => {
    let api: TestApi;
    let u: NeutronUsers;
    let db: Knex;
    let call: ReturnType<typeof client>;
    before(async () => {
      api = await startTestApi(backend, {
        overrides: { 'network.network_vlan_ranges': 'physnet1:100:102,physnet2' },
      });
      u = await neutronUsers(api, 'net');
      db = openDb(api);
      call = client(api);
    });
    after(async () => {
      await db.destroy();
      await api.close();
    });

    it('version, resources and extensions documents', async () => {
      const root = await api.http.get('/networking/');
      assert.equal(root.status, 200);
      assert.equal(root.body.versions[0].id, 'v2.0');
      const res = await call(u.a, 'get', '');
      assert.equal(res.status, 200);
      assert.ok(res.body.resources.some((r: { collection: string }) => r.collection === 'networks'));
      const ext = await call(u.a, 'get', '/extensions');
      const aliases = ext.body.extensions.map((e: { alias: string }) => e.alias);
      for (const a of ['provider', 'external-net', 'binding', 'standard-attr-tag', 'quotas'])
        assert.ok(aliases.includes(a), a);
      assert.equal((await call(u.a, 'get', '/extensions/provider')).body.extension.name, 'Provider Network');
      assertNeutronError(await call(u.a, 'get', '/extensions/nope'), 404, 'HTTPNotFound');
    });

    it('a project network gets a VLAN from the tenant range; admins see the provider attributes', async () => {
      const res = await call(u.a, 'post', '/networks', { network: { name: 'n1', description: 'd' } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const n = res.body.network;
      assert.equal(n.project_id, u.projectA);
      assert.equal(n.tenant_id, u.projectA);
      assert.equal(n.status, 'ACTIVE');
      assert.equal(n.mtu, 1500);
      assert.equal(n.shared, false);
      assert.equal(n['router:external'], false);
      assert.deepEqual(n.subnets, []);
      assert.equal(n.revision_number, 0);
      assert.match(n.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(n.description, 'd');
      assert.ok(!('provider:network_type' in n), 'non-admins do not see provider attributes');
      const asAdmin = (await call(u.admin, 'get', `/networks/${n.id}`)).body.network;
      assert.equal(asAdmin['provider:network_type'], 'vlan');
      assert.equal(asAdmin['provider:physical_network'], 'physnet1');
      assert.equal(asAdmin['provider:segmentation_id'], 100);
      await call(u.a, 'delete', `/networks/${n.id}`).expect(204);
    });

    it('provider attributes: admin only, VLAN unique per physnet, one flat network per physnet', async () => {
      assertNeutronError(
        await call(u.a, 'post', '/networks', {
          network: { 'provider:network_type': 'flat', 'provider:physical_network': 'physnet1' },
        }),
        403,
        'PolicyNotAuthorized',
      );
      assertNeutronError(
        await call(u.a, 'post', '/networks', { network: { shared: true } }),
        403,
        'PolicyNotAuthorized',
      );
      assertNeutronError(
        await call(u.a, 'post', '/networks', { network: { 'router:external': true } }),
        403,
        'PolicyNotAuthorized',
      );
      const vlan = {
        'provider:network_type': 'vlan',
        'provider:physical_network': 'physnet2',
        'provider:segmentation_id': 42,
      };
      const v1 = await call(u.admin, 'post', '/networks', { network: { name: 'v42', ...vlan } });
      assert.equal(v1.status, 201, JSON.stringify(v1.body));
      assert.equal(v1.body.network['provider:segmentation_id'], 42);
      const before = await count(db, 'networks');
      assertNeutronError(
        await call(u.admin, 'post', '/networks', { network: vlan }),
        409,
        'VlanIdInUse',
        /VLAN 42 on physical network physnet2/,
      );
      const flat = { 'provider:network_type': 'flat', 'provider:physical_network': 'physnet3' };
      const f1 = await call(u.admin, 'post', '/networks', { network: flat });
      assert.equal(f1.status, 201);
      assertNeutronError(
        await call(u.admin, 'post', '/networks', { network: flat }),
        409,
        'FlatNetworkInUse',
      );
      assert.equal(await count(db, 'networks'), before + 1, 'refused creates leave no row');
      for (const bad of [
        { 'provider:network_type': 'gre' },
        {
          'provider:network_type': 'vlan',
          'provider:physical_network': 'nope',
          'provider:segmentation_id': 5,
        },
        {
          'provider:network_type': 'vlan',
          'provider:physical_network': 'physnet2',
          'provider:segmentation_id': 4095,
        },
        { 'provider:network_type': 'flat' },
        {
          'provider:network_type': 'flat',
          'provider:physical_network': 'physnet1',
          'provider:segmentation_id': 3,
        },
        { 'provider:segmentation_id': 3 },
      ])
        assertNeutronError(await call(u.admin, 'post', '/networks', { network: bad }), 400, 'InvalidInput');
      await call(u.admin, 'delete', `/networks/${v1.body.network.id}`).expect(204);
      await call(u.admin, 'delete', `/networks/${f1.body.network.id}`).expect(204);
    });

    it('vxlan provider networks: a VNI given or allocated, no physical network, MTU 50 below the default', async () => {
      assertNeutronError(
        await call(u.a, 'post', '/networks', { network: { 'provider:network_type': 'vxlan' } }),
        403,
        'PolicyNotAuthorized',
      );
      const before = await count(db, 'networks');
      const x = { 'provider:network_type': 'vxlan', 'provider:segmentation_id': 5000 };
      const v1 = await call(u.admin, 'post', '/networks', { network: { name: 'vx5000', ...x } });
      assert.equal(v1.status, 201, JSON.stringify(v1.body));
      assert.equal(v1.body.network['provider:network_type'], 'vxlan');
      assert.equal(v1.body.network['provider:physical_network'], null);
      assert.equal(v1.body.network['provider:segmentation_id'], 5000, 'admins may go outside vni_ranges');
      assert.equal(v1.body.network.mtu, 1450);
      assertNeutronError(
        await call(u.admin, 'post', '/networks', { network: x }),
        409,
        'TunnelIdInUse',
        /tunnel ID 5000 is in use/,
      );
      // the same number as a VLAN elsewhere is another segment
      const vlan42 = await call(u.admin, 'post', '/networks', {
        network: {
          'provider:network_type': 'vlan',
          'provider:physical_network': 'physnet2',
          'provider:segmentation_id': 42,
        },
      });
      assert.equal(vlan42.status, 201, JSON.stringify(vlan42.body));
      const vx42 = await call(u.admin, 'post', '/networks', {
        network: { 'provider:network_type': 'vxlan', 'provider:segmentation_id': 42, mtu: 1400 },
      });
      assert.equal(vx42.status, 201, JSON.stringify(vx42.body));
      assert.equal(vx42.body.network.mtu, 1400);
      // no VNI: the lowest free one of vni_ranges (default 1:1000)
      const auto = await call(u.admin, 'post', '/networks', {
        network: { 'provider:network_type': 'vxlan' },
      });
      assert.equal(auto.status, 201, JSON.stringify(auto.body));
      assert.equal(auto.body.network['provider:segmentation_id'], 1);
      const asA = await call(u.admin, 'get', `/networks/${auto.body.network.id}`);
      assert.equal(asA.body.network['provider:physical_network'], null);
      assert.equal(await count(db, 'networks'), before + 4);
      for (const [bad, msg] of [
        [
          { 'provider:physical_network': 'physnet1' },
          /provider:physical_network specified for vxlan network/,
        ],
        [{ 'provider:segmentation_id': 0 }, /out of range \(1 through 16777215\)/],
        [{ 'provider:segmentation_id': 16_777_216 }, /out of range/],
        [{ 'provider:segmentation_id': 77, mtu: 1451 }, /Requested MTU is too big, maximum is 1450/],
        [{ mtu: 1500 }, /maximum is 1450/],
      ] as [Record<string, unknown>, RegExp][])
        assertNeutronError(
          await call(u.admin, 'post', '/networks', { network: { 'provider:network_type': 'vxlan', ...bad } }),
          400,
          'InvalidInput',
          msg,
        );
      assertNeutronError(
        await call(u.admin, 'put', `/networks/${v1.body.network.id}`, { network: { mtu: 1451 } }),
        400,
        'InvalidInput',
        /maximum is 1450/,
      );
      const upd = await call(u.admin, 'put', `/networks/${v1.body.network.id}`, {
        network: { mtu: 1300, 'provider:physical_network': null, 'provider:segmentation_id': 5000 },
      });
      assert.equal(upd.status, 200, JSON.stringify(upd.body));
      assert.equal(upd.body.network.mtu, 1300);
      assert.equal(await count(db, 'networks'), before + 4, 'refused creates leave no row');
      for (const r of [v1, vlan42, vx42, auto])
        await call(u.admin, 'delete', `/networks/${r.body.network.id}`).expect(204);
    });

    it('tenant VLANs run out: 503 NoNetworkAvailable; concurrent creates never share a VLAN', async () => {
      const created = await Promise.all(
        [0, 1, 2, 3, 4].map(() => call(u.b, 'post', '/networks', { network: { name: 'race' } })),
      );
      const ok = created.filter((r) => r.status === 201);
      assert.equal(ok.length, 3, JSON.stringify(created.map((r) => [r.status, r.body])));
      for (const r of created.filter((x) => x.status !== 201))
        assertNeutronError(r, 503, 'NoNetworkAvailable');
      const vlans = (await db('networks').where({ project_id: u.projectB }).pluck('segmentation_id'))
        .map(Number)
        .sort();
      assert.deepEqual(vlans, [100, 101, 102]);
      for (const r of ok) await call(u.b, 'delete', `/networks/${r.body.network.id}`).expect(204);
    });

    it('visibility: another project gets 404, shared and external networks are visible, admin acts for another project', async () => {
      const own = (await call(u.a, 'post', '/networks', { network: { name: 'private-a' } })).body.network;
      assertNeutronError(await call(u.b, 'get', `/networks/${own.id}`), 404, 'NetworkNotFound');
      assertNeutronError(
        await call(u.b, 'put', `/networks/${own.id}`, { network: { name: 'x' } }),
        404,
        'NetworkNotFound',
      );
      assertNeutronError(await call(u.b, 'delete', `/networks/${own.id}`), 404, 'NetworkNotFound');
      const shared = (
        await call(u.admin, 'post', '/networks', {
          network: { name: 'shared', shared: true, project_id: u.projectA },
        })
      ).body.network;
      assert.equal(shared.project_id, u.projectA);
      const ext = (
        await call(u.admin, 'post', '/networks', { network: { name: 'public', 'router:external': true } })
      ).body.network;
      const listB = (await call(u.b, 'get', '/networks')).body.networks.map((n: { id: string }) => n.id);
      assert.ok(listB.includes(shared.id) && listB.includes(ext.id) && !listB.includes(own.id));
      // The subnets of a shared network are visible to others; those of an external, unshared one are not.
      const subnet = (net: string, cidr: string) =>
        call(u.admin, 'post', '/subnets', { subnet: { network_id: net, cidr, ip_version: 4 } });
      const sharedSub = (await subnet(shared.id, '10.61.0.0/24')).body.subnet;
      const extSub = (await subnet(ext.id, '10.62.0.0/24')).body.subnet;
      const subsB = (await call(u.b, 'get', '/subnets')).body.subnets.map((x: { id: string }) => x.id);
      assert.ok(subsB.includes(sharedSub.id), "a shared network's subnet is visible");
      assert.ok(!subsB.includes(extSub.id), "an external network's subnet is not visible");
      assertNeutronError(await call(u.b, 'get', `/subnets/${extSub.id}`), 404, 'SubnetNotFound');
      assert.deepEqual((await call(u.b, 'get', `/subnets?network_id=${ext.id}`)).body.subnets, []);
      assertNeutronError(
        await call(u.b, 'put', `/networks/${shared.id}`, { network: { name: 'mine' } }),
        403,
        'PolicyNotAuthorized',
      );
      assertNeutronError(
        await call(u.a, 'post', '/networks', { network: { project_id: u.projectB } }),
        403,
        'PolicyNotAuthorized',
      );
      assertNeutronError(
        await call(u.reader, 'post', '/networks', { network: { name: 'r' } }),
        403,
        'PolicyNotAuthorized',
      );
      assertNeutronError(
        await call(u.admin, 'post', '/networks', {
          network: { project_id: u.projectA, tenant_id: u.projectB },
        }),
        400,
        'HTTPBadRequest',
      );
      for (const id of [own.id, shared.id, ext.id])
        await call(u.admin, 'delete', `/networks/${id}`).expect(204);
    });

    it('update: revision bumps, If-Match, mtu limits, unknown attributes, provider attributes read-only', async () => {
      const n = (await call(u.a, 'post', '/networks', { network: { name: 'upd' } })).body.network;
      const r1 = await call(u.a, 'put', `/networks/${n.id}`, {
        network: { name: 'upd2', mtu: 1400, admin_state_up: false },
      });
      assert.equal(r1.status, 200, JSON.stringify(r1.body));
      assert.equal(r1.body.network.name, 'upd2');
      assert.equal(r1.body.network.mtu, 1400);
      assert.equal(r1.body.network.admin_state_up, false);
      assert.equal(r1.body.network.revision_number, 1);
      const stale = await api.http
        .put(`/networking/v2.0/networks/${n.id}`)
        .set('X-Auth-Token', u.a)
        .set('If-Match', 'revision_number=0')
        .send({ network: { name: 'x' } });
      assertNeutronError(stale, 412, 'RevisionNumberConstraintFailed');
      const fresh = await api.http
        .put(`/networking/v2.0/networks/${n.id}`)
        .set('X-Auth-Token', u.a)
        .set('If-Match', 'revision_number=1')
        .send({ network: { name: 'y' } });
      assert.equal(fresh.status, 200);
      assertNeutronError(
        await call(u.a, 'put', `/networks/${n.id}`, { network: { mtu: 9000 } }),
        400,
        'InvalidInput',
      );
      assertNeutronError(
        await call(u.a, 'put', `/networks/${n.id}`, { network: { mtu: 'big' } }),
        400,
        'HTTPBadRequest',
      );
      assertNeutronError(
        await call(u.a, 'put', `/networks/${n.id}`, { network: { color: 'red' } }),
        400,
        'HTTPBadRequest',
        /Unrecognized attribute/,
      );
      assertNeutronError(
        await call(u.a, 'put', `/networks/${n.id}`, { network: { shared: true } }),
        403,
        'PolicyNotAuthorized',
      );
      assertNeutronError(
        await call(u.admin, 'put', `/networks/${n.id}`, { network: { 'provider:segmentation_id': 7 } }),
        400,
        'InvalidInput',
      );
      const row = await db('networks').where({ id: n.id }).first();
      assert.equal(row.name, 'y');
      await call(u.a, 'delete', `/networks/${n.id}`).expect(204);
      assertNeutronError(await call(u.a, 'get', `/networks/${n.id}`), 404, 'NetworkNotFound');
    });

    it('delete refuses a network with ports (409 NetworkInUse) but takes its DHCP ports and subnets along', async () => {
      const n = (await call(u.a, 'post', '/networks', { network: { name: 'inuse' } })).body.network;
      const s = (
        await call(u.a, 'post', '/subnets', {
          subnet: { network_id: n.id, ip_version: 4, cidr: '10.9.0.0/24' },
        })
      ).body.subnet;
      const p = await call(u.a, 'post', '/ports', {
        port: { network_id: n.id, port_security_enabled: false },
      });
      assert.equal(p.status, 201, JSON.stringify(p.body));
      assertNeutronError(await call(u.a, 'delete', `/networks/${n.id}`), 409, 'NetworkInUse');
      assert.equal(await count(db, 'subnets', { id: s.id }), 1);
      await call(u.a, 'delete', `/ports/${p.body.port.id}`).expect(204);
      const dhcp = await call(u.admin, 'post', '/ports', {
        port: { network_id: n.id, device_owner: 'network:dhcp', device_id: 'dhcp-x', project_id: u.projectA },
      });
      assert.equal(dhcp.status, 201, JSON.stringify(dhcp.body));
      assert.deepEqual(dhcp.body.port.security_groups, []);
      await call(u.a, 'delete', `/networks/${n.id}`).expect(204);
      assert.equal(await count(db, 'ports', { network_id: n.id }), 0);
      assert.equal(await count(db, 'subnets', { network_id: n.id }), 0);
      assert.equal(await count(db, 'ip_allocations', { network_id: n.id }), 0);
    });

    it('bulk create is all or nothing', async () => {
      const before = await count(db, 'networks');
      const bad = await call(u.admin, 'post', '/networks', {
        networks: [
          { name: 'b1', 'provider:network_type': 'flat', 'provider:physical_network': 'physnet9' },
          { name: 'b2', 'provider:network_type': 'flat', 'provider:physical_network': 'physnet9' },
        ],
      });
      assertNeutronError(bad, 409, 'FlatNetworkInUse');
      assert.equal(await count(db, 'networks'), before);
      const good = await call(u.a, 'post', '/networks', { networks: [{ name: 'b1' }, { name: 'b2' }] });
      assert.equal(good.status, 201);
      assert.deepEqual(
        good.body.networks.map((n: { name: string }) => n.name),
        ['b1', 'b2'],
      );
      for (const n of good.body.networks) await call(u.a, 'delete', `/networks/${n.id}`).expect(204);
    });
  });

  describe(`Neutron project networks on VXLAN [${backend}]`, () => {
    let api: TestApi;
    let u: NeutronUsers;
    let db: Knex;
    let call: ReturnType<typeof client>;
    before(async () => {
      api = await startTestApi(backend, {
        overrides: { 'network.tenant_network_type': 'vxlan', 'network.vni_ranges': '7:8, 20:20' },
      });
      u = await neutronUsers(api, 'vxl');
      db = openDb(api);
      call = client(api);
    });
    after(async () => {
      await db.destroy();
      await api.close();
    });

    it('a project network gets a VNI, MTU 1450; concurrent creates never share one and run out with 503', async () => {
      const created = await Promise.all(
        [0, 1, 2, 3, 4].map((i) =>
          call(i % 2 ? u.a : u.b, 'post', '/networks', { network: { name: `vx${i}` } }),
        ),
      );
      const ok = created.filter((r) => r.status === 201);
      assert.equal(ok.length, 3, JSON.stringify(created.map((r) => [r.status, r.body])));
      for (const r of created.filter((x) => x.status !== 201))
        assertNeutronError(r, 503, 'NoNetworkAvailable', /No tenant network is available/);
      for (const r of ok) {
        assert.equal(r.body.network.mtu, 1450);
        assert.ok(!('provider:network_type' in r.body.network));
      }
      const rows = await db('networks').whereIn(
        'id',
        ok.map((r) => r.body.network.id),
      );
      assert.deepEqual(
        rows.map((r) => Number(r.segmentation_id)).sort((a, b) => a - b),
        [7, 8, 20],
      );
      assert.ok(rows.every((r) => r.network_type === 'vxlan' && r.physical_network === ''));
      const shown = (await call(u.admin, 'get', `/networks/${ok[0]!.body.network.id}`)).body.network;
      assert.equal(shown['provider:network_type'], 'vxlan');
      assert.equal(shown['provider:physical_network'], null);
      // an admin asking for a taken VNI is refused; a freed one is handed out again
      assertNeutronError(
        await call(u.admin, 'post', '/networks', {
          network: { 'provider:network_type': 'vxlan', 'provider:segmentation_id': 8 },
        }),
        409,
        'TunnelIdInUse',
      );
      const eight = ok.find((r) => rows.find((x) => x.id === r.body.network.id)!.segmentation_id == 8)!;
      const token = eight.body.network.project_id === u.projectA ? u.a : u.b;
      await call(token, 'delete', `/networks/${eight.body.network.id}`).expect(204);
      const again = await call(u.a, 'post', '/networks', { network: { name: 'again' } });
      assert.equal(again.status, 201, JSON.stringify(again.body));
      const vni = (await db('networks').where({ id: again.body.network.id }).first()).segmentation_id;
      assert.equal(Number(vni), 8);
      // VLANs stay available to admins on their physical networks
      const vlan = await call(u.admin, 'post', '/networks', {
        network: { 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1' },
      });
      assert.equal(vlan.status, 201, JSON.stringify(vlan.body));
      assert.equal(vlan.body.network['provider:network_type'], 'vlan');
      assert.equal(vlan.body.network.mtu, 1500);
    });
  });
}
