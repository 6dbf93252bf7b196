import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Knex } from 'knex';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';
import { assertNeutronError, client, count, neutronUsers, openDb, type NeutronUsers } from './helpers.js';

for (const backend of testBackends()) {
  describe(`Neutron subnets [${backend}]`, () => {
    let api: TestApi;
    let u: NeutronUsers;
    let db: Knex;
    let call: ReturnType<typeof client>;
    let net: { id: string };
    const sub = (extra: Record<string, unknown>) => ({
      subnet: { network_id: net.id, ip_version: 4, ...extra },
    });
    before(async () => {
      api = await startTestApi(backend);
      u = await neutronUsers(api, 'sub');
      db = openDb(api);
      call = client(api);
      net = (await call(u.a, 'post', '/networks', { network: { name: 'sn' } })).body.network;
    });
    after(async () => {
      await db.destroy();
      await api.close();
    });

    it('defaults: gateway the first host, one pool of the rest, DHCP on', async () => {
      const res = await call(
        u.a,
        'post',
        '/subnets',
        sub({ cidr: '10.1.0.0/24', name: 's1', dns_nameservers: ['8.8.8.8', '1.1.1.1'] }),
      );
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const s = res.body.subnet;
      assert.equal(s.cidr, '10.1.0.0/24');
      assert.equal(s.gateway_ip, '10.1.0.1');
      assert.deepEqual(s.allocation_pools, [{ start: '10.1.0.2', end: '10.1.0.254' }]);
      assert.deepEqual(s.dns_nameservers, ['8.8.8.8', '1.1.1.1']);
      assert.deepEqual(s.host_routes, []);
      assert.equal(s.enable_dhcp, true);
      assert.equal(s.ip_version, 4);
      assert.equal(s.subnetpool_id, null);
      assert.equal(s.ipv6_ra_mode, null);
      assert.deepEqual(s.service_types, []);
      assert.equal(s.project_id, u.projectA);
      const n = (await call(u.a, 'get', `/networks/${net.id}`)).body.network;
      assert.deepEqual(n.subnets, [s.id]);
      // a gateway in the middle splits the default pool; no gateway: the whole host range
      const mid = (await call(u.a, 'post', '/subnets', sub({ cidr: '10.2.0.0/29', gateway_ip: '10.2.0.3' })))
        .body.subnet;
      assert.deepEqual(mid.allocation_pools, [
        { start: '10.2.0.1', end: '10.2.0.2' },
        { start: '10.2.0.4', end: '10.2.0.6' },
      ]);
      const none = (await call(u.a, 'post', '/subnets', sub({ cidr: '10.3.0.0/29', gateway_ip: null }))).body
        .subnet;
      assert.equal(none.gateway_ip, null);
      assert.deepEqual(none.allocation_pools, [{ start: '10.3.0.1', end: '10.3.0.6' }]);
    });

    it('bad input is refused with Neutron errors and leaves nothing behind', async () => {
      const before = await count(db, 'subnets');
      const poolsBefore = await count(db, 'subnet_allocation_pools');
      const cases: [Record<string, unknown>, number, string, RegExp?][] = [
        [{ cidr: '10.5.0.0/33' }, 400, 'HTTPBadRequest', /not a valid IP subnet/],
        [{ cidr: 'banana' }, 400, 'HTTPBadRequest', /not a valid IP subnet/],
        [{ cidr: '10.5.0.1/24' }, 400, 'HTTPBadRequest', /'10.5.0.0\/24' is recommended/],
        [{ cidr: 'fd00::/64', ip_version: 6 }, 400, 'InvalidInput', /IPv6 is not supported/],
        [{ cidr: '10.5.0.0/24', ip_version: 5 }, 400, 'HTTPBadRequest'],
        [{ cidr: '10.1.0.128/25' }, 400, 'InvalidInput', /overlaps with another subnet/],
        [{ cidr: '10.5.0.0/24', gateway_ip: '10.6.0.1' }, 400, 'InvalidInput'],
        [
          { cidr: '10.5.0.0/24', gateway_ip: '10.5.0.255' },
          400,
          'InvalidInput',
          /Gateway is not valid on subnet/,
        ],
        [{ cidr: '10.5.0.0/24', gateway_ip: 'x' }, 400, 'HTTPBadRequest'],
        [
          {
            cidr: '10.5.0.0/24',
            allocation_pools: [
              { start: '10.5.0.10', end: '10.5.0.20' },
              { start: '10.5.0.15', end: '10.5.0.30' },
            ],
          },
          409,
          'OverlappingAllocationPools',
        ],
        [
          { cidr: '10.5.0.0/24', allocation_pools: [{ start: '10.5.0.10', end: '10.5.1.20' }] },
          400,
          'OutOfBoundsAllocationPool',
        ],
        [
          { cidr: '10.5.0.0/24', allocation_pools: [{ start: '10.5.0.0', end: '10.5.0.20' }] },
          400,
          'OutOfBoundsAllocationPool',
        ],
        [
          { cidr: '10.5.0.0/24', allocation_pools: [{ start: '10.5.0.30', end: '10.5.0.20' }] },
          400,
          'InvalidAllocationPool',
        ],
        [
          { cidr: '10.5.0.0/24', allocation_pools: [{ start: '10.5.0.1', end: '10.5.0.20' }] },
          409,
          'GatewayConflictWithAllocationPools',
        ],
        [
          { cidr: '10.5.0.0/24', dns_nameservers: ['1.1.1.1', '1.1.1.1'] },
          400,
          'HTTPBadRequest',
          /Duplicate nameserver/,
        ],
        [
          {
            cidr: '10.5.0.0/24',
            dns_nameservers: ['1.1.1.1', '1.1.1.2', '1.1.1.3', '1.1.1.4', '1.1.1.5', '1.1.1.6'],
          },
          400,
          'DNSNameServersExhausted',
        ],
        [
          { cidr: '10.5.0.0/24', host_routes: [{ destination: 'x', nexthop: '10.5.0.1' }] },
          400,
          'HTTPBadRequest',
        ],
        [{ cidr: '10.5.0.0/24', subnetpool_id: 'abc' }, 400, 'HTTPBadRequest'],
        [{ cidr: '10.5.0.0/24', foo: 1 }, 400, 'HTTPBadRequest', /Unrecognized attribute/],
      ];
      for (const [extra, status, type, msg] of cases)
        assertNeutronError(await call(u.a, 'post', '/subnets', sub(extra)), status, type, msg);
      assertNeutronError(
        await call(u.a, 'post', '/subnets', {
          subnet: { network_id: 'nope', ip_version: 4, cidr: '10.7.0.0/24' },
        }),
        404,
        'NetworkNotFound',
      );
      assertNeutronError(
        await call(u.b, 'post', '/subnets', sub({ cidr: '10.7.0.0/24' })),
        404,
        'NetworkNotFound',
      );
      assert.equal(await count(db, 'subnets'), before);
      assert.equal(await count(db, 'subnet_allocation_pools'), poolsBefore);
    });

    it('update pools, gateway, DNS and host routes; read-only attributes refused', async () => {
      const s = (await call(u.a, 'post', '/subnets', sub({ cidr: '10.20.0.0/24' }))).body.subnet;
      const res = await call(u.a, 'put', `/subnets/${s.id}`, {
        subnet: {
          name: 'renamed',
          gateway_ip: '10.20.0.254',
          allocation_pools: [{ start: '10.20.0.10', end: '10.20.0.100' }],
          dns_nameservers: ['9.9.9.9'],
          host_routes: [{ destination: '192.168.0.0/16', nexthop: '10.20.0.5' }],
          enable_dhcp: false,
        },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const t = res.body.subnet;
      assert.equal(t.gateway_ip, '10.20.0.254');
      assert.deepEqual(t.allocation_pools, [{ start: '10.20.0.10', end: '10.20.0.100' }]);
      assert.deepEqual(t.dns_nameservers, ['9.9.9.9']);
      assert.deepEqual(t.host_routes, [{ destination: '192.168.0.0/16', nexthop: '10.20.0.5' }]);
      assert.equal(t.enable_dhcp, false);
      assert.equal(t.revision_number, 1);
      assertNeutronError(
        await call(u.a, 'put', `/subnets/${s.id}`, { subnet: { gateway_ip: '10.20.0.50' } }),
        409,
        'GatewayConflictWithAllocationPools',
      );
      assertNeutronError(
        await call(u.a, 'put', `/subnets/${s.id}`, { subnet: { cidr: '10.21.0.0/24' } }),
        400,
        'HTTPBadRequest',
      );
      assertNeutronError(
        await call(u.b, 'put', `/subnets/${s.id}`, { subnet: { name: 'x' } }),
        404,
        'SubnetNotFound',
      );
      assert.equal((await db('subnets').where({ id: s.id }).first()).gateway_ip, '10.20.0.254');
      await call(u.a, 'delete', `/subnets/${s.id}`).expect(204);
      assert.equal(await count(db, 'subnet_allocation_pools', { subnet_id: s.id }), 0);
      assertNeutronError(await call(u.a, 'get', `/subnets/${s.id}`), 404, 'SubnetNotFound');
    });

    it('subnets of a shared network are visible to other projects', async () => {
      const shared = (await call(u.admin, 'post', '/networks', { network: { shared: true, name: 'sh' } }))
        .body.network;
      const s = (
        await call(u.admin, 'post', '/subnets', {
          subnet: { network_id: shared.id, ip_version: 4, cidr: '10.30.0.0/24' },
        })
      ).body.subnet;
      assert.equal((await call(u.b, 'get', `/subnets/${s.id}`)).status, 200);
      assertNeutronError(
        await call(u.b, 'post', '/subnets', {
          subnet: { network_id: shared.id, ip_version: 4, cidr: '10.31.0.0/24' },
        }),
        403,
        'PolicyNotAuthorized',
      );
      await call(u.admin, 'delete', `/networks/${shared.id}`).expect(204);
    });
  });
}
