/**
 * Networks end to end on the lab: through the real Neutron API, a network + subnet + a port bound to a lab host
 * (binding:host_id); that host's agent realizes it (bridge, qdhcp namespace, dnsmasq); a "VM" namespace whose
 * veth is named like the port's tap and carries the port's MAC gets the port's address by DHCP, and the port
 * turns ACTIVE. Also checks what `lab up` made: the provider and external networks.
 * Needs root, libvirt, QEMU and GlusterFS (tools/install-deps.sh). Run under `flock /tmp/kvmstack-lab.lock`.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run, tryRun } from '../../src/common/exec.js';
import { bridgeNameFor, tapNameFor } from '../../src/network/realization.js';
import { dhcpNames } from '../../host-agent/network/mappings.js';
import { waitFor } from '../../tools/lab/exec.js';
import { inHost } from '../../tools/lab/host.js';
import { labDown, labHosts, labUp, type LabState } from '../../tools/lab/lab.js';
import { adminSession, neutron, type AdminSession } from '../../tools/lab/neutron.js';
import { defaultStateDir, labHost } from '../../tools/lab/topology.js';
import { labUnavailable } from '../support/lab.js';

const STATE_DIR = defaultStateDir();
const VM_NS = 'kst-labvm1';
const unavailable = labUnavailable();

interface Port {
  id: string;
  mac_address: string;
  status: string;
  fixed_ips: { subnet_id: string; ip_address: string }[];
  'binding:host_id': string;
}

describe('networks on the lab', { timeout: 300_000 }, () => {
  let state: LabState;
  let s: AdminSession;
  const h1 = labHost(STATE_DIR, 1);
  let failed = false;

  before(async () => {
    if (unavailable) throw new Error(`the lab cannot run here: ${unavailable}`);
    await tryRun('ip', ['netns', 'del', VM_NS]);
    state = await labUp({ hosts: 2, stateDir: STATE_DIR, api: true });
    assert.ok(state.api, 'the lab has an API');
    s = await adminSession(state.api.url, {
      username: 'admin',
      password: state.api.adminPassword,
      project: 'admin',
    });
  });

  after(async () => {
    if (failed) {
      for (const x of labHosts(STATE_DIR)) {
        const out = join(x.dir, 'agent', 'agent.out');
        if (existsSync(out))
          console.log(
            `--- ${x.name} agent.out\n${readFileSync(out, 'utf8').split('\n').slice(-15).join('\n')}`,
          );
      }
    }
    await tryRun('ip', ['netns', 'del', VM_NS]);
    await labDown({ stateDir: STATE_DIR });
  });

  /** Remembers a failure, so that `after` prints the agents' logs. */
  const tracked = (fn: () => Promise<void>) => async () => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  };

  it(
    'lab up made the provider network on br0 and the external one on brx',
    tracked(async () => {
      const { networks } = await neutron<{ networks: Record<string, unknown>[] }>(s, 'GET', '/networks');
      const byName = Object.fromEntries(networks.map((n) => [n.name, n]));
      assert.equal(byName.provider?.['provider:network_type'], 'flat');
      assert.equal(byName.provider?.['provider:physical_network'], 'provider');
      assert.equal(byName.provider?.shared, true);
      assert.equal(byName.external?.['router:external'], true);
      assert.equal(byName.external?.['provider:physical_network'], 'external');
      const { subnets } = await neutron<{ subnets: Record<string, unknown>[] }>(s, 'GET', '/subnets');
      const sub = subnets.find((x) => x.cidr === '10.99.0.0/24');
      assert.equal(sub?.gateway_ip, '10.99.0.1');
      assert.deepEqual(sub?.allocation_pools, [{ start: '10.99.0.100', end: '10.99.0.199' }]);
    }),
  );

  it(
    "a port bound to a lab host is realized by that host's agent and its VM gets the port's address",
    tracked(async () => {
      // a flat network on the trunk interface: a brq bridge holding trunk0 (any kernel)
      const { network } = await neutron<{ network: { id: string } }>(s, 'POST', '/networks', {
        network: { name: 'lab-net', 'provider:network_type': 'flat', 'provider:physical_network': 'trunk' },
      });
      await neutron(s, 'POST', '/subnets', {
        subnet: {
          network_id: network.id,
          ip_version: 4,
          cidr: '10.98.0.0/24',
          gateway_ip: '10.98.0.1',
          dns_nameservers: ['10.98.0.53'],
        },
      });
      const { port } = await neutron<{ port: Port }>(s, 'POST', '/ports', {
        port: { network_id: network.id, name: 'vm1', 'binding:host_id': h1.name },
      });
      assert.equal(port['binding:host_id'], h1.name);
      const brq = bridgeNameFor(network.id);

      // the agent makes the bridge (with trunk0), the DHCP namespace and dnsmasq within a few sync rounds
      const t0 = Date.now();
      await waitFor(
        `${brq} on ${h1.name}`,
        async () =>
          (await inHost(h1, 'ip', ['-j', 'link', 'show', 'dev', 'trunk0'])).includes(`"master":"${brq}"`),
        20_000,
        250,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}; links: ${await inHost(h1, 'ip', ['-br', 'link'])}`);
      });
      const realizedMs = Date.now() - t0;
      await waitFor(
        'the DHCP namespace',
        async () => (await inHost(h1, 'ip', ['netns', 'list'])).includes(`qdhcp-${network.id}`),
        10_000,
        250,
      );
      const { ports } = await neutron<{ ports: (Port & { device_owner: string })[] }>(
        s,
        'GET',
        `/ports?network_id=${network.id}&device_owner=network:dhcp`,
      );
      const dhcpPort = ports.find((p) => p['binding:host_id'] === h1.name);
      assert.ok(dhcpPort, "the API made this host's DHCP port");
      const names = dhcpNames(network.id, dhcpPort.id);
      const inside = await inHost(h1, 'ip', [
        '-n',
        names.namespace,
        '-j',
        'addr',
        'show',
        'dev',
        names.nsEnd,
      ]);
      assert.ok(inside.includes(`"local":"${dhcpPort.fixed_ips[0]?.ip_address}"`), inside);

      // the "VM": its NIC's host end named like the port's tap, inside the host, on no bridge yet
      const tap = tapNameFor(port.id);
      await run('ip', ['netns', 'add', VM_NS]);
      await run('ip', [
        '-n',
        h1.netns,
        'link',
        'add',
        tap,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        VM_NS,
      ]);
      await run('ip', ['-n', VM_NS, 'link', 'set', 'eth0', 'address', port.mac_address, 'up']);
      await waitFor(
        `${tap} in ${brq}`,
        async () =>
          (await inHost(h1, 'ip', ['-j', 'link', 'show', 'dev', tap])).includes(`"master":"${brq}"`),
        10_000,
        250,
      );
      const leaseFile = join(STATE_DIR, 'vm1.lease');
      const script = join(STATE_DIR, 'udhcpc.sh');
      writeFileSync(
        script,
        `#!/bin/sh\n[ "$1" = bound ] && echo "$ip $router $dns $serverid" >${leaseFile}\nexit 0\n`,
        { mode: 0o755 },
      );
      rmSync(leaseFile, { force: true });
      await tryRun('ip', [
        ...[
          'netns',
          'exec',
          VM_NS,
          'busybox',
          'udhcpc',
          '-i',
          'eth0',
          '-n',
          '-q',
          '-f',
          '-t',
          '4',
          '-T',
          '1',
        ],
        ...['-s', script],
      ]);
      assert.ok(existsSync(leaseFile), 'the VM got no DHCP lease');
      const [ip, router, dns, server] = readFileSync(leaseFile, 'utf8').trim().split(' ');
      assert.equal(ip, port.fixed_ips[0]?.ip_address);
      assert.equal(router, '10.98.0.1');
      assert.equal(dns, '10.98.0.53');
      assert.equal(server, dhcpPort.fixed_ips[0]?.ip_address);

      // the agent reports the wired port: the API shows it ACTIVE
      await waitFor(
        'the port to turn ACTIVE',
        async () => (await neutron<{ port: Port }>(s, 'GET', `/ports/${port.id}`)).port.status === 'ACTIVE',
        15_000,
        500,
      );
      console.log(`# figures: port bound → bridge realized on the host in ${realizedMs} ms`);

      // deleting the network (port first) removes the bridge and the DHCP server from the host
      await neutron(s, 'DELETE', `/ports/${port.id}`);
      await neutron(s, 'DELETE', `/networks/${network.id}`);
      await waitFor(
        `${brq} removed`,
        async () => (await tryRun('ip', ['-n', h1.netns, 'link', 'show', brq])).code !== 0,
        20_000,
        250,
      );
      await waitFor(
        'the DHCP namespace removed',
        async () => !(await inHost(h1, 'ip', ['netns', 'list'])).includes(`qdhcp-${network.id}`),
        10_000,
        250,
      );
    }),
  );
});
