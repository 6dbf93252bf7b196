/**
 * Networks end to end on the lab: through the real Neutron API, a network + subnet + a port bound to a lab host
 * (binding:host_id); that host's agent realizes it (bridge, qdhcp namespace, dnsmasq); a "VM" namespace whose
 * veth is named like the port's tap and carries the port's MAC gets the port's address by DHCP, and the port
 * turns ACTIVE. Also checks what `lab up` made: the provider and external networks, and that a project network
 * (VXLAN, the lab API's tenant_network_type) spans two hosts: a VM on each gets its lease and they ping; and
 * that an image uploaded with the openstack CLI is on the GlusterFS volume as every host sees it.
 * Needs root, libvirt, QEMU and GlusterFS (tools/install-deps.sh). Run under `flock /tmp/kvmstack-lab.lock`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run, tryRun } from '../../src/common/exec.js';
import { bridgeNameFor, tapNameFor, vxlanNameFor } from '../../src/network/realization.js';
import { dhcpNames } from '../../host-agent/network/mappings.js';
import { waitFor } from '../../tools/lab/exec.js';
import { hostPath, inHost } from '../../tools/lab/host.js';
import { ensureTinyImage, tinyImagePath } from '../../tools/image/tiny.js';
import { loadConfig } from '../../src/common/config/load.js';
import { cleanEnv, exec, parseOpenrc, withFormat } from '../e2e/support.js';
import { labDown, labHosts, labUp, type LabState } from '../../tools/lab/lab.js';
import { adminSession, neutron, type AdminSession } from '../../tools/lab/neutron.js';
import { defaultStateDir, labHost, labPaths } from '../../tools/lab/topology.js';
import { labUnavailable } from '../support/lab.js';

const STATE_DIR = defaultStateDir();
const VM_NS = 'kst-labvm1';
/** The VXLAN test's "VMs", one per host. */
const VX_NS = ['kst-labvx1', 'kst-labvx2'];
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
    for (const ns of [VM_NS, ...VX_NS]) await tryRun('ip', ['netns', 'del', ns]);
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
    for (const ns of [VM_NS, ...VX_NS]) await tryRun('ip', ['netns', 'del', ns]);
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
      // the namespace appears first and its port's address a moment later, in the same apply: wait for it
      const addrInside = () =>
        inHost(h1, 'ip', ['-n', names.namespace, '-j', 'addr', 'show', 'dev', names.nsEnd]).catch(() => '');
      await waitFor(
        "the DHCP port's address in its namespace",
        async () => (await addrInside()).includes(`"local":"${dhcpPort.fixed_ips[0]?.ip_address}"`),
        10_000,
        250,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}: ${await addrInside()}`);
      });

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

  it(
    'a project network is VXLAN across hosts: a VM on ks-h1 and one on ks-h2 get their leases and ping',
    tracked(async () => {
      const h2 = labHost(STATE_DIR, 2);
      const both = [h1, h2];
      // no provider attributes: the lab API's tenant_network_type (vxlan) decides
      const { network } = await neutron<{ network: { id: string; mtu: number } }>(s, 'POST', '/networks', {
        network: { name: 'lab-vx' },
      });
      const shown = (await neutron<{ network: Record<string, unknown> }>(s, 'GET', `/networks/${network.id}`))
        .network;
      assert.equal(shown['provider:network_type'], 'vxlan');
      assert.equal(shown['provider:physical_network'], null);
      assert.equal(network.mtu, 1450);
      const dev = vxlanNameFor(shown['provider:segmentation_id'] as number);
      const brq = bridgeNameFor(network.id);
      await neutron(s, 'POST', '/subnets', {
        subnet: { network_id: network.id, ip_version: 4, cidr: '10.97.0.0/24', gateway_ip: null },
      });
      const t0 = Date.now();
      const ports: Port[] = [];
      for (const h of both)
        ports.push(
          (
            await neutron<{ port: Port }>(s, 'POST', '/ports', {
              port: { network_id: network.id, name: `vx-${h.name}`, 'binding:host_id': h.name },
            })
          ).port,
        );

      // each host: vxlan-<vni> in brq<id>, flooding to the other host's management address
      const realizedMs: number[] = [];
      for (const [i, h] of both.entries()) {
        const peer = both[1 - i]!.mgmtIp;
        await waitFor(
          `${dev} in ${brq} on ${h.name}, flooding to ${peer}`,
          async () =>
            // not there yet: `ip` fails, and the check says no
            (await inHost(h, 'ip', ['-j', 'link', 'show', 'dev', dev]).catch(() => '')).includes(
              `"master":"${brq}"`,
            ) &&
            (await inHost(h, 'bridge', ['-j', 'fdb', 'show', 'dev', dev]).catch(() => '')).includes(
              `"mac":"00:00:00:00:00:00","dst":"${peer}"`,
            ),
          20_000,
          200,
        ).catch(async (err: Error) => {
          throw new Error(`${err.message}; links: ${await inHost(h, 'ip', ['-br', 'link'])}`);
        });
        realizedMs.push(Date.now() - t0);
      }

      // the "VMs": veths named like the ports' taps, with the ports' MACs
      const leases: string[][] = [];
      for (const [i, h] of both.entries()) {
        const ns = VX_NS[i]!;
        const port = ports[i]!;
        const tap = tapNameFor(port.id);
        await run('ip', ['netns', 'add', ns]);
        await run('ip', [
          '-n',
          h.netns,
          'link',
          'add',
          tap,
          'type',
          'veth',
          'peer',
          'name',
          'eth0',
          'netns',
          ns,
        ]);
        await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'address', port.mac_address, 'mtu', '1450', 'up']);
        await waitFor(
          `${tap} in ${brq}`,
          async () =>
            (await inHost(h, 'ip', ['-j', 'link', 'show', 'dev', tap])).includes(`"master":"${brq}"`),
          10_000,
          200,
        );
        const leaseFile = join(STATE_DIR, `${ns}.lease`);
        const script = join(STATE_DIR, 'udhcpc-vx.sh');
        writeFileSync(
          script,
          `#!/bin/sh\n[ "$1" = bound ] && echo "$ip $serverid $mtu" >"$LEASE_OUT"\nexit 0\n`,
          {
            mode: 0o755,
          },
        );
        rmSync(leaseFile, { force: true });
        await tryRun('env', [
          `LEASE_OUT=${leaseFile}`,
          ...['ip', 'netns', 'exec', ns, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f'],
          ...['-t', '5', '-T', '1', '-O', 'mtu', '-s', script],
        ]);
        assert.ok(existsSync(leaseFile), `the VM on ${h.name} got no DHCP lease`);
        leases.push(readFileSync(leaseFile, 'utf8').trim().split(' '));
      }
      const { ports: dhcpPorts } = await neutron<{ ports: Port[] }>(
        s,
        'GET',
        `/ports?network_id=${network.id}&device_owner=network:dhcp`,
      );
      for (const [i, h] of both.entries()) {
        const [ip, server, mtu] = leases[i]!;
        assert.equal(ip, ports[i]!.fixed_ips[0]?.ip_address);
        const own = dhcpPorts.find((p) => p['binding:host_id'] === h.name);
        assert.equal(server, own?.fixed_ips[0]?.ip_address, `${h.name}'s own DHCP server answered`);
        assert.equal(mtu, '1450');
        await run('ip', ['-n', VX_NS[i]!, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      }
      const out = await run('ip', [
        ...['netns', 'exec', VX_NS[0]!, 'ping', '-c', '5', '-i', '0.2', '-W', '2'],
        leases[1]![0]!,
      ]);
      assert.match(out, /5 received/);
      const rtt = /= [\d.]+\/([\d.]+)\//.exec(out)?.[1];
      for (const p of ports)
        await waitFor(
          'the ports to turn ACTIVE',
          async () => (await neutron<{ port: Port }>(s, 'GET', `/ports/${p.id}`)).port.status === 'ACTIVE',
          15_000,
          500,
        );
      console.log(
        `# figures: ports bound → VXLAN realized on ks-h1 in ${realizedMs[0]} ms, on ks-h2 in ${realizedMs[1]} ms`,
      );
      console.log(`# figures: VM ks-h1 → VM ks-h2 over VXLAN: avg ping RTT ${rtt} ms`);

      for (const p of ports) await neutron(s, 'DELETE', `/ports/${p.id}`);
      await neutron(s, 'DELETE', `/networks/${network.id}`);
      for (const h of both)
        await waitFor(
          `${dev} removed from ${h.name}`,
          async () => (await tryRun('ip', ['-n', h.netns, 'link', 'show', dev])).code !== 0,
          20_000,
          250,
        );
    }),
  );
  it(
    'an image uploaded with the openstack CLI lands on the GlusterFS store every host mounts',
    tracked(async () => {
      const image = (await ensureTinyImage({ out: tinyImagePath(loadConfig({ env: {} }).DEFAULT.data_dir) }))
        .path;
      const env = cleanEnv(parseOpenrc(readFileSync(state.api!.openrc, 'utf8')));
      const created = await exec(
        'openstack',
        withFormat([
          'image',
          'create',
          '--file',
          image,
          '--disk-format',
          'qcow2',
          '--container-format',
          'bare',
          'lab-tiny',
        ]),
        { env, timeoutMs: 120_000 },
      );
      assert.equal(created.code, 0, created.stderr);
      const id = (JSON.parse(created.stdout) as { id: string }).id;
      const shown = await exec('openstack', withFormat(['image', 'show', id]), { env });
      assert.equal(shown.code, 0, shown.stderr);
      const img = JSON.parse(shown.stdout) as { status: string; checksum: string; size: number };
      assert.equal(img.status, 'active');
      const md5 = createHash('md5').update(readFileSync(image)).digest('hex');
      assert.equal(img.checksum, md5);
      // The same bytes at the same path inside every host's mount of the shared volume.
      for (const h of labHosts(STATE_DIR)) {
        const onHost = readFileSync(hostPath(h, `${labPaths(STATE_DIR).store}/images/${id}`));
        assert.equal(createHash('md5').update(onHost).digest('hex'), md5, `the image as ${h.name} sees it`);
      }
      const del = await exec('openstack', ['image', 'delete', id], { env });
      assert.equal(del.code, 0, del.stderr);
      // Another FUSE mount may still list it until its entry cache (1 s by default) expires.
      await waitFor(
        `the image file gone from ${h1.name}'s mount`,
        async () => !existsSync(hostPath(h1, `${labPaths(STATE_DIR).store}/images/${id}`)),
        10_000,
        250,
      );
    }),
  );
});
