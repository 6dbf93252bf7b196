import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadAgentConfig } from '../../../host-agent/config.js';
import {
  dhcpNames,
  IFNAME_MAX,
  parseMappings,
  targetFor,
  vlanDeviceName,
  type NetworkMappings,
} from '../../../host-agent/network/mappings.js';
import { parseFloodDestinations, parseLinks } from '../../../host-agent/network/links.js';

const NET = '5f0c1d2e-3b4a-4c5d-8e6f-708192a3b4c5';

const m: NetworkMappings = {
  bridgeMappings: new Map([
    ['provider', 'br0'],
    ['external', 'brx'],
  ]),
  interfaceMappings: new Map([
    ['physnet1', 'eth1'],
    ['trunk', 'enp0s31f6long'],
    ['provider', 'eth9'],
  ]),
  hostLocalNetworks: new Set(['local1']),
};

describe('network mappings', () => {
  it('parses physnet:device lists, trimming spaces and empty items', () => {
    assert.deepEqual(
      [...parseMappings(' physnet1:eth1 , trunk:eth2,')],
      [
        ['physnet1', 'eth1'],
        ['trunk', 'eth2'],
      ],
    );
    assert.equal(parseMappings('').size, 0);
  });

  it('refuses a repeated physical network, a missing part or an impossible interface name', () => {
    assert.throws(() => parseMappings('a:eth1,a:eth2'), /mapped twice/);
    assert.throws(() => parseMappings('eth1'), /expected physical_network:device/);
    assert.throws(() => parseMappings('a:'), /expected/);
    assert.throws(() => parseMappings(':eth1'), /expected/);
    assert.throws(() => parseMappings('a:averyveryverylongname'), /not a valid interface name/);
    assert.throws(() => parseMappings('a:eth 1'), /not a valid interface name/);
  });

  it('loads the [network] section of the agent configuration, reporting a bad mapping by option', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmstack-netcfg-'));
    try {
      const file = join(dir, 'agent.conf');
      writeFileSync(
        file,
        '[network]\nphysical_interface_mappings = trunk:eth2\nbridge_mappings = provider:br0,external:brx\nhost_local_networks = physnet1\nnetwork_sync_interval = 0.5\n',
      );
      const cfg = loadAgentConfig({ file, env: {} });
      assert.deepEqual([...cfg.network.interfaceMappings], [['trunk', 'eth2']]);
      assert.deepEqual([...cfg.network.bridgeMappings.keys()], ['provider', 'external']);
      assert.deepEqual([...cfg.network.hostLocalNetworks], ['physnet1']);
      assert.equal(cfg.network.syncIntervalMs, 500);
      assert.equal(cfg.network.dnsmasqPath, 'dnsmasq');
      writeFileSync(file, '[network]\nbridge_mappings = provider\n');
      assert.throws(() => loadAgentConfig({ file, env: {} }), /\[network\] bridge_mappings: "provider"/);
      const defaults = loadAgentConfig({ env: {} });
      assert.equal(defaults.network.syncIntervalMs, 2000);
      assert.equal(defaults.network.bridgeMappings.size, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('device names', () => {
  it('VLAN sub-interfaces are <parent>.<vid>, hashed to fit 15 characters', () => {
    assert.equal(vlanDeviceName('eth2', 100), 'eth2.100');
    assert.equal(vlanDeviceName('enp0s31f6', 4094), 'enp0s31f6.4094');
    const long = vlanDeviceName('enp0s31f6long', 4094);
    assert.ok(long.length <= 15, long);
    assert.match(long, /^enp0s3[0-9a-f]{4}\.4094$/);
    assert.notEqual(vlanDeviceName('enp0s31f6long', 4094), vlanDeviceName('enp0s31f6lonh', 4094));
    assert.equal(vlanDeviceName('enp0s31f6long', 7), vlanDeviceName('enp0s31f6long', 7), 'stable');
  });

  it("DHCP devices are Neutron's: qdhcp-<network>, tap<11> and ns-<11> of the DHCP port", () => {
    assert.deepEqual(dhcpNames(NET, '0123456789abcdef'), {
      namespace: `qdhcp-${NET}`,
      bridgeEnd: 'tap0123456789a',
      nsEnd: 'ns-0123456789a',
    });
  });
});

describe('targetFor', () => {
  const net = (
    networkType: 'flat' | 'vlan' | 'vxlan',
    physicalNetwork: string,
    segmentationId: number | null = null,
  ) => ({
    id: NET,
    networkType,
    physicalNetwork,
    segmentationId,
  });

  it('flat: a mapped bridge as it is (before an interface mapping), else brq<id> holding the interface', () => {
    assert.deepEqual(targetFor(net('flat', 'provider'), m), {
      bridge: 'br0',
      ownBridge: false,
      uplink: null,
    });
    assert.deepEqual(targetFor(net('flat', 'physnet1'), m), {
      bridge: 'brq5f0c1d2e-3b',
      ownBridge: true,
      uplink: { name: 'eth1', vlan: null },
    });
  });

  it('vlan: brq<id> holding <parent>.<vid> of the mapped bridge or interface', () => {
    assert.deepEqual(targetFor(net('vlan', 'external', 120), m), {
      bridge: 'brq5f0c1d2e-3b',
      ownBridge: true,
      uplink: { name: 'brx.120', vlan: { parent: 'brx', vid: 120 } },
    });
    assert.deepEqual(targetFor(net('vlan', 'physnet1', 5), m), {
      bridge: 'brq5f0c1d2e-3b',
      ownBridge: true,
      uplink: { name: 'eth1.5', vlan: { parent: 'eth1', vid: 5 } },
    });
  });

  it('vxlan: brq<id> holding vxlan-<vni>, on any host (no physical network), VNI checked', () => {
    assert.deepEqual(targetFor(net('vxlan', '', 16_777_215), m), {
      bridge: 'brq5f0c1d2e-3b',
      ownBridge: true,
      uplink: { name: 'vxlan-16777215', vlan: null, vxlan: { vni: 16_777_215 } },
    });
    assert.ok('vxlan-16777215'.length <= IFNAME_MAX);
    for (const bad of [null, 0, 16_777_216])
      assert.match(
        (targetFor(net('vxlan', '', bad), m) as { unrealizable: string }).unrealizable,
        /invalid VXLAN VNI/,
      );
  });

  it('a host-local physical network: an isolated bridge, no tag', () => {
    assert.deepEqual(targetFor(net('vlan', 'local1', 1000), m), {
      bridge: 'brq5f0c1d2e-3b',
      ownBridge: true,
      uplink: null,
    });
  });

  it('unmapped physical networks and bad VLAN ids are unrealizable, with the reason', () => {
    assert.deepEqual(targetFor(net('flat', 'nowhere'), m), {
      unrealizable: 'physical network "nowhere" is not mapped on this host',
    });
    assert.match(
      (targetFor(net('vlan', 'physnet1', null), m) as { unrealizable: string }).unrealizable,
      /VLAN id/,
    );
    assert.match(
      (targetFor(net('vlan', 'physnet1', 4095), m) as { unrealizable: string }).unrealizable,
      /VLAN id/,
    );
  });
});

describe('parseLinks', () => {
  it('reads kind, master, MTU, state, MAC, alias and VLAN parent from `ip -d -j link show`', () => {
    const links = parseLinks(
      JSON.stringify([
        {
          ifname: 'brq1',
          flags: ['BROADCAST', 'UP', 'LOWER_UP'],
          mtu: 1450,
          address: 'AA:BB:CC:00:00:01',
          ifalias: 'kvmstack:n1',
          linkinfo: { info_kind: 'bridge' },
        },
        {
          ifname: 'eth2.100',
          link: 'eth2',
          flags: ['BROADCAST'],
          mtu: 1500,
          master: 'brq1',
          linkinfo: { info_kind: 'vlan', info_data: { protocol: '802.1Q', id: 100 } },
        },
        { ifname: 'eth2', flags: ['UP'], mtu: 1500 },
      ]),
    );
    assert.deepEqual(links.get('brq1'), {
      name: 'brq1',
      kind: 'bridge',
      master: null,
      mtu: 1450,
      up: true,
      mac: 'aa:bb:cc:00:00:01',
      alias: 'kvmstack:n1',
      vlanId: null,
      parent: null,
    });
    assert.equal(links.get('eth2.100')?.vlanId, 100);
    assert.equal(links.get('eth2.100')?.parent, 'eth2');
    assert.equal(links.get('eth2.100')?.up, false);
    assert.equal(links.get('eth2')?.kind, '');
    assert.equal(links.get('eth2.100')?.vxlan, undefined);
    assert.equal(parseLinks('').size, 0);
  });

  it('reads a VXLAN device (as iproute2 6.1 prints it) and the flood list of its FDB', () => {
    const links = parseLinks(
      JSON.stringify([
        {
          ifname: 'vxlan-42',
          flags: ['BROADCAST', 'MULTICAST'],
          mtu: 1450,
          linkinfo: {
            info_kind: 'vxlan',
            info_data: {
              id: 42,
              local: '10.0.0.1',
              port_range: { low: 0, high: 0 },
              port: 4789,
              learning: true,
            },
          },
        },
      ]),
    );
    assert.deepEqual(links.get('vxlan-42')?.vxlan, {
      vni: 42,
      local: '10.0.0.1',
      port: 4789,
      learning: true,
    });
    assert.deepEqual(
      parseFloodDestinations(
        JSON.stringify([
          { mac: '00:00:00:00:00:00', dst: '10.0.0.3', flags: ['self'], state: 'permanent' },
          { mac: 'fa:16:3e:00:00:01', dst: '10.0.0.9', flags: ['self'] },
          { mac: '00:00:00:00:00:00', dst: '10.0.0.2', flags: ['self'], state: 'permanent' },
          { mac: '00:00:00:00:00:00', dst: '10.0.0.2', flags: ['self'], state: 'permanent' },
          { mac: '62:00:00:00:00:01', flags: ['master'], master: 'brq1', state: 'permanent' },
        ]),
      ),
      ['10.0.0.2', '10.0.0.3'],
    );
    assert.deepEqual(parseFloodDestinations(''), []);
  });
});
