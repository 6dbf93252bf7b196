/**
 * The agent's network realization for real (root, no libvirt): two scratch "hosts", each a network namespace
 * plus a mount namespace with a private /run (as a lab host: tools/lab/host-ns.sh), wired to one fabric
 * switch; NetworkRealizer applies crafted HostNetworkStates through `nsenter`, and "VMs" (namespaces with a
 * veth named like the port's tap, carrying the port's MAC) ask for DHCP with busybox udhcpc.
 *
 *   kst-fab: sw (provider L2), sw2 (physnet2 L2), swt (VLAN trunk)
 *   kst-hN:  br0 ∋ up0 → sw      (bridge_mappings provider:br0)
 *            eth2 → sw2           (physical_interface_mappings physnet2:eth2)
 *            trunk0 → swt         (physical_interface_mappings trunk:trunk0)
 *
 * VXLAN (second suite): kst-h3 and kst-h4, no mappings, joined by one veth (ul0, 10.88.0.3/24 ↔ 10.88.0.4/24)
 * as their management network; a VXLAN network's VMs on both ping each other through vxlan-<vni>.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run, tryRun } from '../../src/common/exec.js';
import { livePidFrom, pidAlive, stopByPidFile } from '../../src/common/pidfile.js';
import {
  bridgeNameFor,
  tapNameFor,
  type HostNetworkState,
  type RealizedNetwork,
  type RealizedPort,
} from '../../src/network/realization.js';
import { dhcpNames, vlanDeviceName } from '../../host-agent/network/mappings.js';
import { parseLinks, type Runner } from '../../host-agent/network/links.js';
import { NetworkRealizer, type ApplyResult } from '../../host-agent/network/realizer.js';

const PREFIX = 'kst-';
const FAB = 'kst-fab';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Fixed, so a run that died is cleaned up by the next one (its anchors are found by their pid files). */
const work = join(tmpdir(), 'kvmstack-network-realize');
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface ScratchHost {
  name: string;
  anchor: number;
  stateDir: string;
  cmd: Runner;
  realizer: NetworkRealizer;
}

const hosts: ScratchHost[] = [];
let vlanKernel = false;

async function ipn(ns: string, ...args: string[]): Promise<string> {
  return run('ip', ['-n', ns, ...args]);
}

async function cleanup(): Promise<void> {
  for (const h of hosts) {
    // dnsmasq first: it holds its namespace (and the anchor's /run) alive
    await h.realizer.apply({ revision: 'end', networks: [] }, { full: true }).catch(() => undefined);
  }
  for (const h of ['h1', 'h2', 'h3', 'h4']) {
    const dhcp = join(work, h, 'agent', 'dhcp');
    if (existsSync(dhcp))
      for (const n of readdirSync(dhcp)) await stopByPidFile(join(dhcp, n, 'pid'), 'dnsmasq', 2000);
    await stopByPidFile(join(work, h, 'anchor.pid'), 'sleep', 2000);
  }
  const list = await run('ip', ['netns', 'list']);
  for (const ns of list.split('\n').map((l) => l.split(' ')[0] ?? '')) {
    if (ns.startsWith(PREFIX)) await tryRun('ip', ['netns', 'del', ns]);
  }
}

/** A namespace holding a private mount ns with its own /run, like a lab host; returns the holder's pid. */
async function startAnchor(ns: string, dir: string): Promise<number> {
  const pidFile = join(dir, 'anchor.pid');
  const child = spawn(
    'ip',
    [
      ...['netns', 'exec', ns, 'unshare', '-m', '--propagation', 'private'],
      ...[
        'sh',
        '-c',
        `mount -t tmpfs kst-run /run && echo $$ >${pidFile}.tmp && mv ${pidFile}.tmp ${pidFile} && exec sleep infinity`,
      ],
    ],
    { detached: true, stdio: 'ignore' },
  );
  child.unref();
  for (let i = 0; i < 100; i++) {
    const pid = livePidFrom(pidFile);
    if (pid !== null) return pid;
    await sleep(50);
  }
  throw new Error(`anchor of ${ns} did not start`);
}

async function makeHost(index: number, wired = true): Promise<ScratchHost> {
  const name = `kst-h${index}`;
  const dir = join(work, `h${index}`);
  await run('mkdir', ['-p', dir]);
  await run('ip', ['netns', 'add', name]);
  await ipn(name, 'link', 'set', 'lo', 'up');
  if (!wired) return scratchHost(name, dir, new Map(), new Map());
  const uplink = async (local: string, fabEnd: string, sw: string) => {
    await run('ip', ['-n', name, 'link', 'add', local, 'type', 'veth', 'peer', 'name', fabEnd, 'netns', FAB]);
    await ipn(FAB, 'link', 'set', fabEnd, 'master', sw, 'up');
  };
  await uplink('up0', `h${index}-up`, 'sw');
  await ipn(name, 'link', 'add', 'br0', 'type', 'bridge');
  await ipn(name, 'link', 'set', 'up0', 'master', 'br0', 'up');
  await ipn(name, 'link', 'set', 'br0', 'up');
  await uplink('eth2', `h${index}-p2`, 'sw2');
  await uplink('trunk0', `h${index}-t`, 'swt');
  return scratchHost(
    name,
    dir,
    new Map([['provider', 'br0']]),
    new Map([
      ['physnet2', 'eth2'],
      ['trunk', 'trunk0'],
    ]),
  );
}

/** The anchor (private /run) and the realizer of a scratch host whose devices are made. */
async function scratchHost(
  name: string,
  dir: string,
  bridgeMappings: Map<string, string>,
  interfaceMappings: Map<string, string>,
): Promise<ScratchHost> {
  const anchor = await startAnchor(name, dir);
  const cmd: Runner = (file, args, o) =>
    run('nsenter', ['-t', String(anchor), '-m', '-n', file, ...args], { input: o?.input });
  const realizer = new NetworkRealizer({
    mappings: { bridgeMappings, interfaceMappings, hostLocalNetworks: new Set() },
    stateDir: join(dir, 'agent'),
    dnsmasqPath: 'dnsmasq',
    cmd,
    log: silent,
  });
  await run('mkdir', ['-p', '-m', '0700', join(dir, 'agent')]);
  return { name, anchor, stateDir: join(dir, 'agent'), cmd, realizer };
}

/** Whether this kernel makes 802.1Q devices (CONFIG_VLAN_8021Q); some test kernels are built without. */
async function kernelHasVlan(): Promise<boolean> {
  const ns = 'kst-probe';
  await run('ip', ['netns', 'add', ns]);
  try {
    await ipn(ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1');
    return (
      (await tryRun('ip', ['-n', ns, 'link', 'add', 'link', 'p0', 'name', 'p0.5', 'type', 'vlan', 'id', '5']))
        .code === 0
    );
  } finally {
    await run('ip', ['netns', 'del', ns]);
  }
}

// ---- the state ------------------------------------------------------------------------------------------

const NET_FLAT = '1a1a1a1a-0000-4000-8000-00000000f1a7';
const NET_P2 = '2b2b2b2b-0000-4000-8000-000000000002';
const NET_VLAN = '3c3c3c3c-0000-4000-8000-000000000101';
const SUB_FLAT = 'aaaaaaaa-0000-4000-8000-000000000001';
const SUB_P2 = 'aaaaaaaa-0000-4000-8000-000000000002';
const SUB_VLAN = 'aaaaaaaa-0000-4000-8000-000000000003';

const portId = (n: number) => `${String(n).padStart(8, '0')}-1111-4000-8000-000000000000`;
const mac = (n: number) => `fa:16:3e:00:00:${n.toString(16).padStart(2, '0')}`;

function port(n: number, subnetId: string, ip: string): RealizedPort {
  return {
    id: portId(n),
    mac: mac(n),
    tap: tapNameFor(portId(n)),
    fixedIps: [{ subnetId, ip, prefixLen: 24 }],
    adminStateUp: true,
    portSecurityEnabled: true,
    allowedAddressPairs: [],
    rules: [],
  };
}

/** A network with this host's DHCP port (dhcpIp) and its VM ports. */
function network(
  base: Omit<RealizedNetwork, 'dhcp' | 'ports' | 'adminStateUp' | 'name'>,
  subnet: { id: string; cidr: string; gw: string | null },
  dhcpPort: number,
  dhcpIp: string,
  ports: RealizedPort[],
): RealizedNetwork {
  return {
    ...base,
    name: `net-${base.id.slice(0, 4)}`,
    adminStateUp: true,
    ports,
    dhcp: {
      port: {
        id: portId(dhcpPort),
        mac: mac(dhcpPort),
        fixedIps: [{ subnetId: subnet.id, ip: dhcpIp, prefixLen: 24 }],
      },
      subnets: [
        {
          id: subnet.id,
          cidr: subnet.cidr,
          gatewayIp: subnet.gw,
          dnsNameservers: subnet.id === SUB_FLAT ? ['10.77.0.53', '9.9.9.9'] : [],
          hostRoutes:
            subnet.id === SUB_FLAT ? [{ destination: '169.254.169.254/32', nexthop: '10.77.0.2' }] : [],
        },
      ],
      leases: ports.map((p) => ({
        mac: p.mac,
        ip: p.fixedIps[0]!.ip,
        hostname: `host-${p.fixedIps[0]!.ip.replace(/\./g, '-')}`,
        subnetId: p.fixedIps[0]!.subnetId,
      })),
      leaseSeconds: 600,
    },
  };
}

const flat = (dhcpPort: number, dhcpIp: string, ports: RealizedPort[]) =>
  network(
    { id: NET_FLAT, networkType: 'flat', physicalNetwork: 'provider', segmentationId: null, mtu: 1500 },
    { id: SUB_FLAT, cidr: '10.77.0.0/24', gw: '10.77.0.1' },
    dhcpPort,
    dhcpIp,
    ports,
  );
const physnet2 = (dhcpPort: number, dhcpIp: string, ports: RealizedPort[]) =>
  network(
    { id: NET_P2, networkType: 'flat', physicalNetwork: 'physnet2', segmentationId: null, mtu: 1450 },
    { id: SUB_P2, cidr: '10.79.0.0/24', gw: null },
    dhcpPort,
    dhcpIp,
    ports,
  );
const vlan = (dhcpPort: number, dhcpIp: string, ports: RealizedPort[]) =>
  network(
    { id: NET_VLAN, networkType: 'vlan', physicalNetwork: 'trunk', segmentationId: 101, mtu: 1400 },
    { id: SUB_VLAN, cidr: '10.78.0.0/24', gw: '10.78.0.1' },
    dhcpPort,
    dhcpIp,
    ports,
  );

// VM ports: 11, 12 on h1 (flat), 13 on h1 (physnet2), 14 on h1 (vlan), 21 on h2 (flat), 24 on h2 (vlan)
const P11 = port(11, SUB_FLAT, '10.77.0.11');
const P12 = port(12, SUB_FLAT, '10.77.0.12');
const P13 = port(13, SUB_P2, '10.79.0.13');
const P14 = port(14, SUB_VLAN, '10.78.0.14');
const P21 = port(21, SUB_FLAT, '10.77.0.21');
const P24 = port(24, SUB_VLAN, '10.78.0.24');

const stateH1 = (rev: string, flatPorts = [P11]): HostNetworkState => ({
  revision: rev,
  networks: [flat(1, '10.77.0.2', flatPorts), physnet2(3, '10.79.0.3', [P13]), vlan(5, '10.78.0.5', [P14])],
});
const stateH2 = (rev: string): HostNetworkState => ({
  revision: rev,
  networks: [flat(2, '10.77.0.4', [P21]), vlan(6, '10.78.0.6', [P24])],
});

// ---- the VMs ----------------------------------------------------------------------------------------------

const vmNs = (p: RealizedPort) => `kst-vm${p.id.slice(6, 8)}`;

/** A "VM": its own namespace, eth0 with the port's MAC, the tap end inside the host (attached to nothing). */
async function vm(h: ScratchHost, p: RealizedPort, vmMac = p.mac): Promise<string> {
  const ns = vmNs(p);
  await run('ip', ['netns', 'add', ns]);
  await ipn(h.name, 'link', 'add', p.tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  await ipn(ns, 'link', 'set', 'eth0', 'address', vmMac, 'up');
  return ns;
}

interface Lease {
  ip?: string;
  mask?: string;
  router?: string;
  dns?: string;
  staticroutes?: string;
  serverid?: string;
  mtu?: string;
}

/** udhcpc in the VM; null when nobody answered within ~3 s. */
async function dhcpClient(ns: string, tries = 3): Promise<Lease | null> {
  const out = join(work, `${ns}.lease`);
  const script = join(work, 'udhcpc.sh');
  writeFileSync(
    script,
    '#!/bin/sh\n[ "$1" = bound ] && printf \'{"ip":"%s","mask":"%s","router":"%s","dns":"%s","staticroutes":"%s","serverid":"%s","mtu":"%s"}\' "$ip" "$mask" "$router" "$dns" "$staticroutes" "$serverid" "$mtu" >"$LEASE_OUT"\nexit 0\n',
    { mode: 0o755 },
  );
  rmSync(out, { force: true });
  const r = await run('env', [
    `LEASE_OUT=${out}`,
    ...['ip', 'netns', 'exec', ns, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f'],
    ...['-t', String(tries), '-T', '1', '-s', script, '-O', 'staticroutes', '-O', 'mtu'],
  ]).catch(() => null);
  void r;
  return existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Lease) : null;
}

async function linksOf(h: ScratchHost) {
  return parseLinks(await h.cmd('ip', ['-d', '-j', 'link', 'show']));
}

async function namespacesOf(h: ScratchHost): Promise<string[]> {
  return (await h.cmd('ip', ['netns', 'list']))
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

const unrealizable = (r: ApplyResult, id: string) => r.unrealizable.find((u) => u.networkId === id);

describe('network realization on scratch hosts', { timeout: 180_000 }, () => {
  let h1: ScratchHost;
  let h2: ScratchHost;
  let first: ApplyResult;

  before(async () => {
    if (process.getuid?.() !== 0) throw new Error('needs root (network and mount namespaces)');
    for (const p of ['/usr/sbin/dnsmasq', '/usr/bin/busybox', '/usr/bin/nsenter'])
      if (!existsSync(p)) throw new Error(`${p} is missing (tools/install-deps.sh test)`);
    await cleanup();
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    vlanKernel = await kernelHasVlan();
    await run('ip', ['netns', 'add', FAB]);
    for (const sw of ['sw', 'sw2', 'swt']) {
      await ipn(FAB, 'link', 'add', sw, 'type', 'bridge');
      await ipn(FAB, 'link', 'set', sw, 'up');
    }
    h1 = await makeHost(1);
    h2 = await makeHost(2);
    hosts.push(h1, h2);
  });

  after(async () => {
    await cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('realizes a flat network on a mapped bridge, a flat one on an interface and a VLAN one', async () => {
    first = await h1.realizer.apply(stateH1('r1'), { full: true });
    const links = await linksOf(h1);
    // flat on the mapped bridge: br0 used as it is, no brq made for it
    assert.ok(!links.has(bridgeNameFor(NET_FLAT)));
    assert.equal(links.get('br0')?.alias, null, 'a mapped bridge is never marked');
    // flat on an interface: brq<id> with eth2 in it, the network's MTU, marked as ours
    const brq2 = links.get(bridgeNameFor(NET_P2));
    assert.equal(brq2?.kind, 'bridge');
    assert.equal(brq2?.mtu, 1450);
    assert.equal(brq2?.up, true);
    assert.equal(brq2?.alias, `kvmstack:${NET_P2}`);
    assert.equal(links.get('eth2')?.master, bridgeNameFor(NET_P2));
    // VLAN on the trunk: brq<id> holding trunk0.101 with MTU 1400, or, on a kernel without 802.1Q, a report
    const sub = vlanDeviceName('trunk0', 101);
    assert.equal(sub, 'trunk0.101');
    if (vlanKernel) {
      assert.equal(unrealizable(first, NET_VLAN), undefined);
      const dev = links.get(sub);
      assert.equal(dev?.kind, 'vlan');
      assert.equal(dev?.vlanId, 101);
      assert.equal(dev?.parent, 'trunk0');
      assert.equal(dev?.mtu, 1400);
      assert.equal(dev?.master, bridgeNameFor(NET_VLAN));
      assert.equal(links.get(bridgeNameFor(NET_VLAN))?.mtu, 1400);
    } else {
      assert.match(unrealizable(first, NET_VLAN)?.reason ?? '', /802\.1Q/);
      assert.ok(!links.has(sub));
    }
    // the other networks are not held back by a failing one
    assert.equal(unrealizable(first, NET_FLAT), undefined);
    assert.equal(unrealizable(first, NET_P2), undefined);
    // DHCP: a namespace per network, its port's tap on the bridge, its MAC and address inside
    const ns = await namespacesOf(h1);
    const d = dhcpNames(NET_FLAT, portId(1));
    assert.ok(ns.includes(d.namespace), `namespaces: ${ns.join(' ')}`);
    assert.equal(links.get(d.bridgeEnd)?.master, 'br0');
    const inside = await h1.cmd('ip', ['-n', d.namespace, '-j', 'addr', 'show', 'dev', d.nsEnd]);
    assert.match(inside, /"local":"10\.77\.0\.2","prefixlen":24/);
    assert.match(inside, new RegExp(`"address":"${mac(1)}"`));
    assert.equal(first.activePorts.length, 0, 'no tap exists yet');
  });

  it('applying the same state again changes nothing', async () => {
    const again = await h1.realizer.apply(stateH1('r1'), { full: true });
    assert.deepEqual(again.changes, []);
    assert.deepEqual(again.unrealizable, first.unrealizable);
  });

  it('attaches a VM tap to its bridge and the VM gets its lease with router, DNS and routes', async () => {
    const ns = await vm(h1, P11);
    const quick = await h1.realizer.apply(stateH1('r1'), { full: false });
    assert.deepEqual(quick.changes, [
      `ip link set dev ${P11.tap} master br0`,
      `ip link set dev ${P11.tap} up`,
    ]);
    assert.deepEqual(quick.activePorts, [P11.id]);
    const lease = await dhcpClient(ns);
    assert.ok(lease, 'no DHCP answer');
    assert.equal(lease.ip, '10.77.0.11');
    assert.equal(lease.mask, '24');
    assert.equal(lease.router, '10.77.0.1');
    assert.equal(lease.dns?.trim(), '10.77.0.53 9.9.9.9');
    assert.equal(lease.staticroutes?.trim(), '169.254.169.254/32 10.77.0.2 0.0.0.0/0 10.77.0.1');
    assert.equal(lease.serverid, '10.77.0.2');
    assert.equal(lease.mtu, '1500');
  });

  it('a subnet without gateway offers no router; MTU follows the network', async () => {
    const ns = await vm(h1, P13);
    const r = await h1.realizer.apply(stateH1('r1'), { full: false });
    assert.ok(r.activePorts.includes(P13.id));
    assert.equal((await linksOf(h1)).get(P13.tap)?.mtu, 1450);
    const lease = await dhcpClient(ns);
    assert.ok(lease, 'no DHCP answer on physnet2');
    assert.equal(lease.ip, '10.79.0.13');
    assert.equal(lease.router, '');
    assert.equal(lease.mtu, '1450');
  });

  it('a MAC not in the leases gets no answer', async () => {
    const stranger = port(99, SUB_FLAT, '10.77.0.99');
    const ns = await vm(h1, stranger);
    await run('ip', ['-n', h1.name, 'link', 'set', stranger.tap, 'master', 'br0', 'up']);
    assert.equal(await dhcpClient(ns, 2), null);
  });

  it('two hosts on one L2 segment each answer only their own ports', async () => {
    const r2 = await h2.realizer.apply(stateH2('h2-r1'), { full: true });
    assert.equal(unrealizable(r2, NET_FLAT), undefined);
    const ns21 = await vm(h2, P21);
    assert.deepEqual((await h2.realizer.apply(stateH2('h2-r1'), { full: false })).activePorts, [P21.id]);
    const l21 = await dhcpClient(ns21);
    assert.equal(l21?.ip, '10.77.0.21');
    assert.equal(l21?.serverid, '10.77.0.4', "h2's own server answered");
    const l11 = await dhcpClient(`kst-vm${P11.id.slice(6, 8)}`);
    assert.equal(l11?.serverid, '10.77.0.2', "h1's own server answered");
    // h2's dnsmasq saw h1's VM and ignored it, and h1's ignored h2's
    const log2 = readFileSync(join(h2.stateDir, 'dhcp', NET_FLAT, 'dnsmasq.log'), 'utf8');
    assert.match(
      log2,
      new RegExp(`DHCPDISCOVER\\(${dhcpNames(NET_FLAT, portId(2)).nsEnd}\\) ${P11.mac} ignored`),
    );
    assert.doesNotMatch(log2, new RegExp(`DHCP(OFFER|ACK|NAK)\\(\\S+\\) \\S* ?${P11.mac}`));
    const log1 = readFileSync(join(h1.stateDir, 'dhcp', NET_FLAT, 'dnsmasq.log'), 'utf8');
    assert.match(log1, new RegExp(`${P21.mac} ignored`));
    if (vlanKernel) {
      // over the trunk: h1's VLAN VM and h2's each get their lease through VLAN 101
      const ns14 = await vm(h1, P14);
      const ns24 = await vm(h2, P24);
      await h1.realizer.apply(stateH1('r1'), { full: false });
      await h2.realizer.apply(stateH2('h2-r1'), { full: false });
      assert.equal((await dhcpClient(ns14))?.ip, '10.78.0.14');
      assert.equal((await dhcpClient(ns24))?.serverid, '10.78.0.6');
    }
  });

  it('a new port is served after a SIGHUP (the unprivileged dnsmasq re-reads its files)', async () => {
    const pid = livePidFrom(join(h1.stateDir, 'dhcp', NET_FLAT, 'pid'));
    const r = await h1.realizer.apply(stateH1('r2', [P11, P12]), { full: true });
    assert.ok(
      r.changes.some((c) => /reloaded/.test(c)),
      r.changes.join('\n'),
    );
    assert.equal(livePidFrom(join(h1.stateDir, 'dhcp', NET_FLAT, 'pid')), pid, 'no restart');
    const ns = await vm(h1, P12);
    await h1.realizer.apply(stateH1('r2', [P11, P12]), { full: false });
    assert.equal((await dhcpClient(ns))?.ip, '10.77.0.12');
  });

  it('recreates what was deleted by hand and restarts a dead dnsmasq', async () => {
    const brq = bridgeNameFor(NET_P2);
    await ipn(h1.name, 'link', 'del', brq);
    const pidFile = join(h1.stateDir, 'dhcp', NET_P2, 'pid');
    const old = livePidFrom(pidFile);
    assert.ok(old);
    process.kill(old, 'SIGKILL');
    for (let i = 0; i < 40 && pidAlive(old); i++) await sleep(25);
    const quick = await h1.realizer.apply(stateH1('r2', [P11, P12]), { full: false });
    assert.ok(!quick.activePorts.includes(P13.id), 'the tap has no bridge');
    const r = await h1.realizer.apply(stateH1('r2', [P11, P12]), { full: true });
    assert.ok(r.changes.includes(`ip link add name ${brq} mtu 1450 type bridge`), r.changes.join('\n'));
    assert.ok(r.changes.some((c) => c.startsWith(`started dnsmasq of ${NET_P2}`)));
    assert.ok(r.activePorts.includes(P13.id));
    assert.equal((await linksOf(h1)).get('eth2')?.master, brq);
    assert.equal((await dhcpClient(`kst-vm${P13.id.slice(6, 8)}`))?.ip, '10.79.0.13');
  });

  it('removing networks from the state removes their bridges, sub-interfaces, namespaces and dnsmasq', async () => {
    const pids = [NET_FLAT, NET_P2, NET_VLAN].map((n) => livePidFrom(join(h1.stateDir, 'dhcp', n, 'pid')));
    const r = await h1.realizer.apply({ revision: 'r3', networks: [] }, { full: true });
    assert.deepEqual(r.unrealizable, []);
    assert.deepEqual(r.activePorts, []);
    const links = await linksOf(h1);
    assert.deepEqual(
      [...links.values()].filter((l) => l.alias?.startsWith('kvmstack:')).map((l) => l.name),
      [],
    );
    assert.ok(!links.has(bridgeNameFor(NET_P2)));
    assert.ok(!links.has(vlanDeviceName('trunk0', 101)));
    assert.deepEqual(
      (await namespacesOf(h1)).filter((n) => n.startsWith('qdhcp-')),
      [],
    );
    for (const pid of pids) if (pid !== null) assert.ok(!pidAlive(pid), `dnsmasq ${pid} still runs`);
    assert.ok(!existsSync(join(h1.stateDir, 'dhcp', NET_FLAT)));
    // what kvmstack did not make stays: the mapped bridge, the interfaces, the VMs' taps
    for (const dev of ['br0', 'up0', 'eth2', 'trunk0', P11.tap, P13.tap]) assert.ok(links.has(dev), dev);
    assert.equal(links.get('eth2')?.master, null);
    // and h2 still serves its VM
    assert.equal((await dhcpClient(`kst-vm${P21.id.slice(6, 8)}`))?.serverid, '10.77.0.4');
    const again = await h1.realizer.apply({ revision: 'r3', networks: [] }, { full: true });
    assert.deepEqual(again.changes, []);
  });
});

// ---- VXLAN ------------------------------------------------------------------------------------------------

const NET_VX = '4d4d4d4d-0000-4000-8000-000000000077';
const SUB_VX = 'aaaaaaaa-0000-4000-8000-000000000004';
const VNI = 77;
const UNDERLAY = { h3: '10.88.0.3', h4: '10.88.0.4' };
const P33 = port(33, SUB_VX, '10.66.0.33');
const P44 = port(44, SUB_VX, '10.66.0.44');

const vxlanState = (
  rev: string,
  local: string,
  peers: string[],
  dhcpPort: number,
  dhcpIp: string,
  p: RealizedPort,
) => ({
  revision: rev,
  tunnelLocalIp: local,
  tunnelPeers: peers,
  networks: [
    network(
      { id: NET_VX, networkType: 'vxlan', physicalNetwork: '', segmentationId: VNI, mtu: 1450 },
      { id: SUB_VX, cidr: '10.66.0.0/24', gw: null },
      dhcpPort,
      dhcpIp,
      [p],
    ),
  ],
});
const stateH3 = (rev: string, peers = [UNDERLAY.h4]): HostNetworkState =>
  vxlanState(rev, UNDERLAY.h3, peers, 31, '10.66.0.3', P33);
const stateH4 = (rev: string, peers = [UNDERLAY.h3]): HostNetworkState =>
  vxlanState(rev, UNDERLAY.h4, peers, 41, '10.66.0.4', P44);

async function floodList(h: ScratchHost, dev: string): Promise<string[]> {
  const entries = JSON.parse(await h.cmd('bridge', ['-j', 'fdb', 'show', 'dev', dev])) as {
    mac: string;
    dst?: string;
  }[];
  return entries
    .filter((e) => e.mac === '00:00:00:00:00:00')
    .map((e) => e.dst ?? '')
    .sort();
}

describe('VXLAN networks across scratch hosts', { timeout: 120_000 }, () => {
  let h3: ScratchHost;
  let h4: ScratchHost;
  const dev = `vxlan-${VNI}`;

  before(async () => {
    if (process.getuid?.() !== 0) throw new Error('needs root (network and mount namespaces)');
    await cleanup();
    hosts.length = 0;
    mkdirSync(work, { recursive: true });
    h3 = await makeHost(3, false);
    h4 = await makeHost(4, false);
    hosts.push(h3, h4);
    // the management network: one veth between the two hosts, an address at each end
    await ipn(h3.name, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul0', 'netns', h4.name);
    for (const [h, ip] of [
      [h3, UNDERLAY.h3],
      [h4, UNDERLAY.h4],
    ] as const) {
      await ipn(h.name, 'addr', 'add', `${ip}/24`, 'dev', 'ul0');
      await ipn(h.name, 'link', 'set', 'ul0', 'up');
    }
  });

  after(async () => {
    await cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('makes vxlan-<vni> in the bridge with the host address and one flood entry per peer', async () => {
    for (const [h, st] of [
      [h3, stateH3('v1')],
      [h4, stateH4('v1')],
    ] as const) {
      const r = await h.realizer.apply(st, { full: true });
      assert.deepEqual(r.unrealizable, [], `${h.name}: ${JSON.stringify(r.unrealizable)}`);
      const links = await linksOf(h);
      const vx = links.get(dev);
      assert.equal(vx?.kind, 'vxlan');
      assert.deepEqual(vx?.vxlan, {
        vni: VNI,
        local: h === h3 ? UNDERLAY.h3 : UNDERLAY.h4,
        port: 4789,
        learning: true,
      });
      assert.equal(vx?.master, bridgeNameFor(NET_VX));
      assert.equal(vx?.mtu, 1450);
      assert.equal(vx?.up, true);
      assert.equal(vx?.alias, `kvmstack:${NET_VX}`);
      assert.deepEqual(await floodList(h, dev), [h === h3 ? UNDERLAY.h4 : UNDERLAY.h3]);
    }
    assert.deepEqual((await h3.realizer.apply(stateH3('v1'), { full: true })).changes, []);
  });

  it("each VM gets its lease from its own host's DHCP server, and the two ping each other across hosts", async () => {
    const ns33 = await vm(h3, P33);
    const ns44 = await vm(h4, P44);
    assert.deepEqual((await h3.realizer.apply(stateH3('v1'), { full: false })).activePorts, [P33.id]);
    assert.deepEqual((await h4.realizer.apply(stateH4('v1'), { full: false })).activePorts, [P44.id]);
    const l33 = await dhcpClient(ns33);
    const l44 = await dhcpClient(ns44);
    assert.equal(l33?.ip, '10.66.0.33');
    assert.equal(l33?.serverid, '10.66.0.3', "h3's own server answered");
    assert.equal(l33?.mtu, '1450');
    assert.equal(l44?.ip, '10.66.0.44');
    assert.equal(l44?.serverid, '10.66.0.4', "h4's own server answered");
    for (const [ns, ip] of [
      [ns33, '10.66.0.33'],
      [ns44, '10.66.0.44'],
    ] as const) {
      await ipn(ns, 'link', 'set', 'eth0', 'mtu', '1450');
      await ipn(ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
    }
    const out = await run('ip', [
      'netns',
      'exec',
      ns33,
      'ping',
      '-c',
      '3',
      '-i',
      '0.2',
      '-W',
      '2',
      '10.66.0.44',
    ]);
    assert.match(out, /3 received/);
    // a full-size frame fits: MTU 1450 inside, 1500 on the wire
    await run('ip', [
      'netns',
      'exec',
      ns44,
      'ping',
      '-c',
      '1',
      '-M',
      'do',
      '-s',
      '1422',
      '-W',
      '2',
      '10.66.0.33',
    ]);
    const rtt = /= [\d.]+\/([\d.]+)\//.exec(out)?.[1];
    console.log(`# figures: VXLAN ping between scratch hosts, avg RTT ${rtt} ms`);
    // it went through the tunnel: h4's device learned h3's VM behind h3's address
    const fdb = JSON.parse(await h4.cmd('bridge', ['-j', 'fdb', 'show', 'dev', dev])) as {
      mac: string;
      dst?: string;
    }[];
    assert.ok(
      fdb.some((e) => e.mac === P33.mac && e.dst === UNDERLAY.h3),
      JSON.stringify(fdb),
    );
  });

  it('a peer that leaves loses its flood entry; one that comes back gets it again', async () => {
    const r = await h3.realizer.apply(stateH3('v2', []), { full: true });
    assert.deepEqual(r.changes, [`bridge fdb del 00:00:00:00:00:00 dev ${dev} dst ${UNDERLAY.h4}`]);
    assert.deepEqual(await floodList(h3, dev), []);
    const back = await h3.realizer.apply(stateH3('v3'), { full: true });
    assert.deepEqual(back.changes, [`bridge fdb append 00:00:00:00:00:00 dev ${dev} dst ${UNDERLAY.h4}`]);
    assert.deepEqual(await floodList(h3, dev), [UNDERLAY.h4]);
  });

  it('removing the network removes the VXLAN device and the bridge', async () => {
    await h3.realizer.apply(
      { revision: 'v4', networks: [], tunnelLocalIp: UNDERLAY.h3, tunnelPeers: [] },
      { full: true },
    );
    const links = await linksOf(h3);
    assert.ok(!links.has(dev));
    assert.ok(!links.has(bridgeNameFor(NET_VX)));
    assert.ok(links.has('ul0') && links.has(P33.tap));
  });
});
