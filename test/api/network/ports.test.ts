import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Knex } from 'knex';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';
import { assertNeutronError, client, count, neutronUsers, openDb, type NeutronUsers } from './helpers.js';

for (const backend of testBackends()) {
  describe(`Neutron ports and IPAM [${backend}]`, () => {
    let api: TestApi;
    let u: NeutronUsers;
    let db: Knex;
    let call: ReturnType<typeof client>;
    let net: { id: string };
    let subnet: { id: string };
    let subnet2: { id: string };
    const port = (extra: Record<string, unknown> = {}) => ({ port: { network_id: net.id, ...extra } });
    before(async () => {
      api = await startTestApi(backend);
      u = await neutronUsers(api, 'prt');
      db = openDb(api);
      call = client(api);
      net = (await call(u.a, 'post', '/networks', { network: { name: 'pn' } })).body.network;
      subnet = (
        await call(u.a, 'post', '/subnets', {
          subnet: {
            network_id: net.id,
            ip_version: 4,
            cidr: '10.40.0.0/24',
            allocation_pools: [{ start: '10.40.0.10', end: '10.40.0.200' }],
          },
        })
      ).body.subnet;
      subnet2 = (
        await call(u.a, 'post', '/subnets', {
          subnet: { network_id: net.id, ip_version: 4, cidr: '10.41.0.0/24' },
        })
      ).body.subnet;
    });
    after(async () => {
      await db.destroy();
      await api.close();
    });

    it('a port gets the first free address, a generated MAC, the default security group, status DOWN', async () => {
      const res = await call(u.a, 'post', '/ports', port({ name: 'p1' }));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const p = res.body.port;
      assert.deepEqual(p.fixed_ips, [{ subnet_id: subnet.id, ip_address: '10.40.0.10' }]);
      assert.match(p.mac_address, /^fa:16:3e(:[0-9a-f]{2}){3}$/);
      assert.equal(p.status, 'DOWN');
      assert.equal(p.port_security_enabled, true);
      assert.equal(p.security_groups.length, 1);
      assert.equal(p['binding:vnic_type'], 'normal');
      assert.ok(!('binding:host_id' in p), 'non-admins do not see binding:host_id');
      assert.deepEqual(p.allowed_address_pairs, []);
      assert.equal(p.device_owner, '');
      const sg = await call(u.a, 'get', `/security-groups/${p.security_groups[0]}`);
      assert.equal(sg.body.security_group.name, 'default');
      const asAdmin = (await call(u.admin, 'get', `/ports/${p.id}`)).body.port;
      assert.equal(asAdmin['binding:vif_type'], 'unbound');
      assert.equal(asAdmin['binding:host_id'], '');
      const second = (await call(u.a, 'post', '/ports', port())).body.port;
      assert.equal(second.fixed_ips[0].ip_address, '10.40.0.11');
      await call(u.a, 'delete', `/ports/${p.id}`).expect(204);
      const third = (await call(u.a, 'post', '/ports', port())).body.port;
      assert.equal(third.fixed_ips[0].ip_address, '10.40.0.10', 'a released address is reused first');
      for (const x of [second, third]) await call(u.a, 'delete', `/ports/${x.id}`).expect(204);
    });

    it('requested addresses, subnets and MACs; conflicts and bad input leave nothing behind', async () => {
      const p = await call(
        u.a,
        'post',
        '/ports',
        port({
          fixed_ips: [{ subnet_id: subnet2.id }, { ip_address: '10.40.0.5' }],
          mac_address: 'FA:16:3E:00:00:01',
        }),
      );
      assert.equal(p.status, 201, JSON.stringify(p.body));
      assert.deepEqual(p.body.port.fixed_ips.map((f: { ip_address: string }) => f.ip_address).sort(), [
        '10.40.0.5',
        '10.41.0.2',
      ]);
      assert.equal(p.body.port.mac_address, 'fa:16:3e:00:00:01');
      const ports = await count(db, 'ports');
      const allocations = await count(db, 'ip_allocations');
      const cases: [Record<string, unknown>, number, string][] = [
        [{ fixed_ips: [{ ip_address: '10.40.0.5' }] }, 409, 'IpAddressAlreadyAllocated'],
        [{ mac_address: 'fa:16:3e:00:00:01' }, 409, 'MacAddressInUse'],
        [{ mac_address: 'not-a-mac' }, 400, 'HTTPBadRequest'],
        [{ mac_address: '01:00:5e:00:00:01' }, 400, 'HTTPBadRequest'],
        [{ fixed_ips: [{ subnet_id: subnet.id, ip_address: '10.41.0.9' }] }, 400, 'InvalidIpForSubnet'],
        [{ fixed_ips: [{ subnet_id: subnet.id, ip_address: '10.40.0.255' }] }, 400, 'InvalidIpForSubnet'],
        [{ fixed_ips: [{ ip_address: '10.99.0.9' }] }, 400, 'InvalidIpForNetwork'],
        [{ fixed_ips: [{ ip_address: 'nope' }] }, 400, 'HTTPBadRequest'],
        [{ fixed_ips: [{ subnet_id: 'no-such-subnet' }] }, 404, 'SubnetNotFound'],
        [
          { port_security_enabled: false, security_groups: [p.body.port.security_groups[0]] },
          400,
          'PortSecurityAndIPRequiredForSecurityGroups',
        ],
        [
          { port_security_enabled: false, allowed_address_pairs: [{ ip_address: '10.40.0.99' }] },
          409,
          'AddressPairAndPortSecurityRequired',
        ],
        [
          { allowed_address_pairs: [{ ip_address: '10.40.0.99' }, { ip_address: '10.40.0.99' }] },
          400,
          'DuplicateAddressPairInRequest',
        ],
        [{ security_groups: ['00000000-0000-0000-0000-000000000000'] }, 404, 'SecurityGroupNotFound'],
        [{ 'binding:host_id': 'host1' }, 403, 'PolicyNotAuthorized'],
        [{ extra: 1 }, 400, 'HTTPBadRequest'],
      ];
      for (const [extra, status, type] of cases)
        assertNeutronError(await call(u.a, 'post', '/ports', port(extra)), status, type);
      assertNeutronError(
        await call(u.a, 'post', '/ports', { port: { name: 'no-net' } }),
        400,
        'HTTPBadRequest',
      );
      assertNeutronError(await call(u.b, 'post', '/ports', port()), 404, 'NetworkNotFound');
      assert.equal(await count(db, 'ports'), ports);
      assert.equal(await count(db, 'ip_allocations'), allocations);
      await call(u.a, 'delete', `/ports/${p.body.port.id}`).expect(204);
      assert.equal(await count(db, 'ip_allocations', { port_id: p.body.port.id }), 0);
    });

    it('an exhausted pool is a 409 IpAddressGenerationFailure', async () => {
      const n = (await call(u.a, 'post', '/networks', { network: { name: 'tiny' } })).body.network;
      await call(u.a, 'post', '/subnets', {
        subnet: {
          network_id: n.id,
          ip_version: 4,
          cidr: '10.50.0.0/29',
          allocation_pools: [{ start: '10.50.0.2', end: '10.50.0.3' }],
        },
      }).expect(201);
      const made = [];
      for (let i = 0; i < 2; i++)
        made.push((await call(u.a, 'post', '/ports', { port: { network_id: n.id } })).body.port);
      const before = await count(db, 'ports', { network_id: n.id });
      assertNeutronError(
        await call(u.a, 'post', '/ports', { port: { network_id: n.id } }),
        409,
        'IpAddressGenerationFailure',
        /No more IP addresses available on network/,
      );
      assert.equal(await count(db, 'ports', { network_id: n.id }), before);
      // an address outside the pools but inside the subnet may still be asked for explicitly
      const explicit = await call(u.a, 'post', '/ports', {
        port: { network_id: n.id, fixed_ips: [{ ip_address: '10.50.0.6' }] },
      });
      assert.equal(explicit.status, 201);
      for (const p of [...made, explicit.body.port]) await call(u.a, 'delete', `/ports/${p.id}`).expect(204);
    });

    it('20 concurrent creates never get the same address', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          call(u.a, 'post', '/ports', port({ fixed_ips: [{ subnet_id: subnet.id }] })),
        ),
      );
      for (const r of results) assert.equal(r.status, 201, JSON.stringify(r.body));
      const ids = results.map((r) => r.body.port.id);
      const rows = await db('ip_allocations').whereIn('port_id', ids);
      assert.equal(rows.length, 20);
      assert.equal(new Set(rows.map((r) => r.ip_address)).size, 20);
      assert.equal(new Set(results.map((r) => r.body.port.mac_address)).size, 20);
      const dupes = await db('ip_allocations')
        .select('network_id', 'ip_address')
        .count({ n: '*' })
        .groupBy('network_id', 'ip_address')
        .having(db.raw('count(*) > 1'));
      assert.deepEqual(dupes, []);
      for (const id of ids) await call(u.a, 'delete', `/ports/${id}`).expect(204);
    });

    it('update: fixed IPs re-IPAM, port security, pairs, binding by admin, MAC by admin only', async () => {
      const p = (await call(u.a, 'post', '/ports', port())).body.port;
      const moved = await call(u.a, 'put', `/ports/${p.id}`, {
        port: { fixed_ips: [{ subnet_id: subnet2.id }], name: 'moved', admin_state_up: false },
      });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
      assert.equal(moved.body.port.fixed_ips.length, 1);
      assert.equal(moved.body.port.fixed_ips[0].subnet_id, subnet2.id);
      assert.equal(moved.body.port.admin_state_up, false);
      assert.equal(moved.body.port.revision_number, 1);
      const kept = await call(u.a, 'put', `/ports/${p.id}`, {
        port: { fixed_ips: [{ subnet_id: subnet2.id }, { subnet_id: subnet.id }] },
      });
      assert.equal(
        kept.body.port.fixed_ips.find((f: { subnet_id: string }) => f.subnet_id === subnet2.id).ip_address,
        moved.body.port.fixed_ips[0].ip_address,
      );
      assertNeutronError(
        await call(u.a, 'put', `/ports/${p.id}`, { port: { port_security_enabled: false } }),
        409,
        'PortSecurityPortHasSecurityGroup',
      );
      const off = await call(u.a, 'put', `/ports/${p.id}`, {
        port: { port_security_enabled: false, security_groups: [] },
      });
      assert.equal(off.status, 200, JSON.stringify(off.body));
      assert.deepEqual(off.body.port.security_groups, []);
      assertNeutronError(
        await call(u.a, 'put', `/ports/${p.id}`, {
          port: { allowed_address_pairs: [{ ip_address: '10.0.0.1' }] },
        }),
        409,
        'AddressPairAndPortSecurityRequired',
      );
      const on = await call(u.a, 'put', `/ports/${p.id}`, {
        port: {
          port_security_enabled: true,
          allowed_address_pairs: [
            { ip_address: '192.168.5.0/24', mac_address: 'fa:16:3e:aa:bb:cc' },
            { ip_address: '10.40.0.250' },
          ],
        },
      });
      assert.equal(on.status, 200, JSON.stringify(on.body));
      assert.deepEqual(on.body.port.allowed_address_pairs, [
        { ip_address: '10.40.0.250', mac_address: p.mac_address },
        { ip_address: '192.168.5.0/24', mac_address: 'fa:16:3e:aa:bb:cc' },
      ]);
      assertNeutronError(
        await call(u.a, 'put', `/ports/${p.id}`, { port: { mac_address: 'fa:16:3e:01:02:03' } }),
        403,
        'PolicyNotAuthorized',
      );
      assertNeutronError(
        await call(u.a, 'put', `/ports/${p.id}`, { port: { 'binding:host_id': 'h1' } }),
        403,
        'PolicyNotAuthorized',
      );
      const mac = await call(u.admin, 'put', `/ports/${p.id}`, {
        port: { mac_address: 'fa:16:3e:01:02:03' },
      });
      assert.equal(mac.body.port.mac_address, 'fa:16:3e:01:02:03');
      const bound = await call(u.admin, 'put', `/ports/${p.id}`, {
        port: { 'binding:host_id': 'h1', device_id: 'vm-1', device_owner: 'compute:nova' },
      });
      assert.equal(bound.body.port['binding:vif_type'], 'bridge');
      assert.equal(bound.body.port['binding:host_id'], 'h1');
      assertNeutronError(
        await call(u.admin, 'put', `/ports/${p.id}`, { port: { mac_address: 'fa:16:3e:01:02:04' } }),
        409,
        'PortBound',
      );
      assertNeutronError(
        await call(u.a, 'put', `/ports/${p.id}`, { port: { network_id: net.id } }),
        400,
        'HTTPBadRequest',
      );
      assertNeutronError(
        await call(u.b, 'put', `/ports/${p.id}`, { port: { name: 'x' } }),
        404,
        'PortNotFound',
      );
      assertNeutronError(await call(u.b, 'delete', `/ports/${p.id}`), 404, 'PortNotFound');
      // filters used by Nova and the clients
      const byDevice = await call(u.a, 'get', '/ports?device_id=vm-1');
      assert.deepEqual(
        byDevice.body.ports.map((x: { id: string }) => x.id),
        [p.id],
      );
      const ip = bound.body.port.fixed_ips[0].ip_address;
      assert.equal((await call(u.a, 'get', `/ports?fixed_ips=ip_address%3D${ip}`)).body.ports.length, 1);
      assert.equal(
        (await call(u.a, 'get', `/ports?fixed_ips=subnet_id%3D${subnet2.id}`)).body.ports.length,
        1,
      );
      assert.equal((await call(u.a, 'get', `/ports?fixed_ips=ip_address%3D10.99.9.9`)).body.ports.length, 0);
      assertNeutronError(await call(u.a, 'delete', `/subnets/${subnet2.id}`), 409, 'SubnetInUse');
      await call(u.a, 'delete', `/ports/${p.id}`).expect(204);
      assert.equal(await count(db, 'port_allowed_address_pairs', { port_id: p.id }), 0);
    });

    it('port creates racing a network delete: never a 500, never a port left on a deleted network', async () => {
      for (let round = 0; round < 3; round++) {
        const n = (await call(u.b, 'post', '/networks', { network: { name: `race-${round}` } })).body.network;
        await call(u.b, 'post', '/subnets', {
          subnet: { network_id: n.id, ip_version: 4, cidr: '10.60.0.0/24' },
        }).expect(201);
        const creates = Array.from({ length: 6 }, () =>
          call(u.b, 'post', '/ports', { port: { network_id: n.id } }),
        );
        const del = call(u.b, 'delete', `/networks/${n.id}`);
        const results = await Promise.all([...creates, del]);
        for (const r of results)
          assert.ok([201, 204, 404, 409].includes(r.status), `${r.status} ${JSON.stringify(r.body)}`);
        const deleted = results.at(-1)!.status === 204;
        const made = results.slice(0, -1).filter((r) => r.status === 201).length;
        if (deleted) {
          assert.equal(made, 0, 'a network with ports is never deleted');
          assert.equal(await count(db, 'ports', { network_id: n.id }), 0);
          assert.equal(await count(db, 'ip_allocations', { network_id: n.id }), 0);
        } else {
          assertNeutronError(results.at(-1)!, 409, 'NetworkInUse');
          assert.equal(await count(db, 'ports', { network_id: n.id }), made);
          for (const id of await db('ports').where({ network_id: n.id }).pluck('id'))
            await call(u.b, 'delete', `/ports/${id}`).expect(204);
          await call(u.b, 'delete', `/networks/${n.id}`).expect(204);
        }
      }
    });

    it('quota on ports; bulk create', async () => {
      await call(u.admin, 'put', `/quotas/${u.projectA}`, { quota: { port: 2 } }).expect(200);
      const bulk = await call(u.a, 'post', '/ports', {
        ports: [port({ name: 'b1' }).port, port({ name: 'b2' }).port, port({ name: 'b3' }).port],
      });
      assertNeutronError(bulk, 409, 'OverQuota');
      assert.equal(await count(db, 'ports', { project_id: u.projectA }), 0);
      const ok = await call(u.a, 'post', '/ports', {
        ports: [port({ name: 'b1' }).port, port({ name: 'b2' }).port],
      });
      assert.equal(ok.status, 201);
      assert.deepEqual(
        ok.body.ports.map((p: { name: string }) => p.name),
        ['b1', 'b2'],
      );
      for (const p of ok.body.ports) await call(u.a, 'delete', `/ports/${p.id}`).expect(204);
      await call(u.admin, 'delete', `/quotas/${u.projectA}`).expect(204);
    });
  });
}
