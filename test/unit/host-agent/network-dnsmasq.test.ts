import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dhcpFiles,
  dnsmasqArgs,
  hostLabel,
  hostsFileText,
  optsFileText,
  servedSubnets,
} from '../../../host-agent/network/dnsmasq.js';
import type { RealizedDhcp } from '../../../src/network/realization.js';

const S4 = '11111111-0000-4000-8000-000000000004';
const S4B = '11111111-0000-4000-8000-00000000004b';
const S6 = '11111111-0000-4000-8000-000000000006';
const SX = '11111111-0000-4000-8000-0000000000ff';

const DHCP: RealizedDhcp = {
  port: {
    id: 'dddddddd-0000-4000-8000-000000000001',
    mac: 'fa:16:3e:00:00:01',
    fixedIps: [
      { subnetId: S4, ip: '10.0.0.2', prefixLen: 24 },
      { subnetId: S4B, ip: '172.16.8.2', prefixLen: 22 },
      { subnetId: S6, ip: 'fd00::2', prefixLen: 64 },
    ],
  },
  subnets: [
    {
      id: S4,
      cidr: '10.0.0.0/24',
      gatewayIp: '10.0.0.1',
      dnsNameservers: ['8.8.8.8', 'fd00::53', '1.1.1.1'],
      hostRoutes: [{ destination: '192.168.0.0/16', nexthop: '10.0.0.254' }],
    },
    { id: S4B, cidr: '172.16.8.0/22', gatewayIp: null, dnsNameservers: [], hostRoutes: [] },
    { id: S6, cidr: 'fd00::/64', gatewayIp: 'fd00::1', dnsNameservers: [], hostRoutes: [] },
    // the DHCP port has no address here: this server cannot answer in it
    { id: SX, cidr: '10.9.0.0/24', gatewayIp: '10.9.0.1', dnsNameservers: [], hostRoutes: [] },
  ],
  leases: [
    { mac: 'FA:16:3E:00:00:0B', ip: '10.0.0.11', hostname: 'host-10-0-0-11', subnetId: S4 },
    { mac: 'fa:16:3e:00:00:0b', ip: '172.16.9.11', hostname: 'host-172-16-9-11', subnetId: S4B },
    { mac: 'fa:16:3e:00:00:0a', ip: '10.0.0.10', hostname: 'My VM_1.example', subnetId: S4 },
    { mac: 'fa:16:3e:00:00:0c', ip: 'fd00::c', hostname: 'v6', subnetId: S6 },
    { mac: 'fa:16:3e:00:00:0d', ip: '10.9.0.13', hostname: 'x', subnetId: SX },
  ],
  leaseSeconds: 86400,
};

describe('dnsmasq files', () => {
  it('serves the IPv4 subnets where its own port has an address', () => {
    assert.deepEqual(
      servedSubnets(DHCP).map((s) => s.id),
      [S4, S4B],
    );
  });

  it('hosts file: one static lease per line, lower-case MAC, a valid host label', () => {
    assert.equal(
      hostsFileText(DHCP),
      [
        'fa:16:3e:00:00:0a,10.0.0.10,My-VM-1-example',
        'fa:16:3e:00:00:0b,10.0.0.11,host-10-0-0-11',
        'fa:16:3e:00:00:0b,172.16.9.11,host-172-16-9-11',
        '',
      ].join('\n'),
    );
    assert.equal(hostLabel('--a..b--'), 'a-b');
    assert.equal(hostLabel('x'.repeat(80)).length, 63);
    assert.equal(hostsFileText({ ...DHCP, leases: [] }), '');
  });

  it('options: router (empty without gateway), IPv4 DNS, host routes with the default route as 121 and 249', () => {
    assert.equal(
      optsFileText(DHCP),
      [
        `tag:subnet-${S4},option:router,10.0.0.1`,
        `tag:subnet-${S4},option:dns-server,8.8.8.8,1.1.1.1`,
        `tag:subnet-${S4},option:classless-static-route,192.168.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1`,
        `tag:subnet-${S4},249,192.168.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1`,
        `tag:subnet-${S4B},option:router`,
        '',
      ].join('\n'),
    );
  });

  it('command line: static ranges per served subnet, only known clients, no DNS, files in the dir', () => {
    const f = dhcpFiles('/s/dhcp/net1');
    const args = dnsmasqArgs(DHCP, f, 'ns-dddddddd-00', 1450);
    assert.ok(args.includes(`--dhcp-range=set:subnet-${S4},10.0.0.0,static,255.255.255.0,86400s`));
    assert.ok(args.includes(`--dhcp-range=set:subnet-${S4B},172.16.8.0,static,255.255.252.0,86400s`));
    assert.equal(args.filter((a) => a.startsWith('--dhcp-range')).length, 2);
    for (const a of [
      '--conf-file=/dev/null',
      '--port=0',
      '--no-resolv',
      '--interface=ns-dddddddd-00',
      '--bind-interfaces',
      '--dhcp-ignore=tag:!known',
      '--dhcp-authoritative',
      '--pid-file=/s/dhcp/net1/pid',
      '--dhcp-hostsfile=/s/dhcp/net1/host',
      '--dhcp-optsfile=/s/dhcp/net1/opts',
      '--dhcp-leasefile=/s/dhcp/net1/leases',
      '--dhcp-option-force=option:mtu,1450',
    ])
      assert.ok(args.includes(a), a);
    const infinite = dnsmasqArgs({ ...DHCP, leaseSeconds: -1 }, f, 'ns-x', 1500);
    assert.ok(infinite.includes(`--dhcp-range=set:subnet-${S4},10.0.0.0,static,255.255.255.0,infinite`));
  });
});
