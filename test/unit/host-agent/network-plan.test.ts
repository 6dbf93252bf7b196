/**
 * The realizer's plan/diff against a simulated `ip` (links in memory, no DHCP), and the sync loop against a
 * fake API: which commands a state produces, what it leaves alone, and what it reports.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Runner } from '../../../host-agent/network/links.js';
import { NetworkRealizer, type ApplyResult } from '../../../host-agent/network/realizer.js';
import { NetworkSync, RECHECK_EVERY } from '../../../host-agent/network/sync.js';
import type {
  HostNetworkState,
  NetworkSyncReport,
  RealizedNetwork,
  RealizedPort,
} from '../../../src/network/realization.js';

interface SimLink {
  ifname: string;
  kind: string;
  master?: string;
  mtu: number;
  up: boolean;
  ifalias?: string;
  link?: string;
  vid?: number;
  vxlan?: { id: number; local: string; port: number; learning: boolean };
}

/** Enough of `ip link` for the realizer: add (bridge, vlan), set (master, mtu, alias, up/down), del, show. */
class SimIp {
  links = new Map<string, SimLink>();
  log: string[] = [];
  vlanSupported = true;
  /** `bridge fdb`: device → all-zeros destinations (permanent entries) and learned MACs. */
  fdb = new Map<string, { mac: string; dst: string }[]>();

  constructor(initial: SimLink[]) {
    for (const l of initial) this.links.set(l.ifname, { ...l });
  }

  runner: Runner = async (file, args) => {
    const a = [...args];
    if (file === 'bridge') return this.bridge(a);
    assert.equal(file, 'ip');
    if (a.join(' ') === '-d -j link show')
      return JSON.stringify(
        [...this.links.values()].map((l) => ({
          ifname: l.ifname,
          mtu: l.mtu,
          flags: l.up ? ['UP'] : [],
          ...(l.master ? { master: l.master } : {}),
          ...(l.ifalias ? { ifalias: l.ifalias } : {}),
          ...(l.link ? { link: l.link } : {}),
          ...(l.kind
            ? { linkinfo: { info_kind: l.kind, info_data: l.vid ? { id: l.vid } : (l.vxlan ?? {}) } }
            : {}),
        })),
      );
    if (a.join(' ') === 'netns list') return '';
    this.log.push(a.join(' '));
    const need = (name: string) => {
      const l = this.links.get(name);
      if (!l) throw new Error(`Cannot find device "${name}"`);
      return l;
    };
    if (a[0] === 'link' && a[1] === 'show') return JSON.stringify(need(a[3]!));
    if (a[0] === 'link' && a[1] === 'add') {
      const at = (k: string) => a[a.indexOf(k, 2) + 1]!;
      const kind = at('type');
      if (kind === 'vlan' && !this.vlanSupported) throw new Error('Error: Unknown device type.');
      const name = at('name');
      if (this.links.has(name)) throw new Error('File exists');
      this.links.set(name, {
        ifname: name,
        kind,
        mtu: Number(at('mtu')),
        up: false,
        ...(kind === 'vlan' ? { link: at('link'), vid: Number(at('id')) } : {}),
        ...(kind === 'vxlan'
          ? {
              vxlan: {
                id: Number(at('id')),
                local: at('local'),
                port: Number(at('dstport')),
                learning: a.includes('learning') && !a.includes('nolearning'),
              },
            }
          : {}),
      });
      return '';
    }
    if (a[0] === 'link' && a[1] === 'set') {
      const l = need(a[3]!);
      const [k, v] = [a[4], a[5]];
      if (k === 'master') l.master = need(v!).ifname;
      else if (k === 'mtu') l.mtu = Number(v);
      else if (k === 'alias') l.ifalias = v;
      else if (k === 'up' || k === 'down') l.up = k === 'up';
      else throw new Error(`sim: ${a.join(' ')}`);
      return '';
    }
    if (a[0] === 'link' && a[1] === 'del') {
      need(a[3]!);
      this.links.delete(a[3]!);
      this.fdb.delete(a[3]!);
      for (const l of this.links.values()) if (l.master === a[3]) delete l.master;
      return '';
    }
    throw new Error(`sim: unexpected ip ${a.join(' ')}`);
  };

  /** `bridge -j fdb show dev D`, `bridge fdb append|del MAC dev D dst IP`, as the kernel answers them. */
  private bridge(a: string[]): string {
    if (a.join(' ').startsWith('-j fdb show dev ')) {
      if (!this.links.has(a[4]!)) throw new Error(`Cannot find device "${a[4]}"`);
      return JSON.stringify(
        (this.fdb.get(a[4]!) ?? []).map((e) => ({
          mac: e.mac,
          dst: e.dst,
          flags: ['self'],
          ...(e.mac === '00:00:00:00:00:00' ? { state: 'permanent' } : {}),
        })),
      );
    }
    this.log.push(`bridge ${a.join(' ')}`);
    const [, op, mac, , dev, , dst] = a;
    if (a[0] !== 'fdb' || a[3] !== 'dev' || a[5] !== 'dst') throw new Error(`sim: bridge ${a.join(' ')}`);
    if (this.links.get(dev!)?.kind !== 'vxlan') throw new Error('Operation not supported');
    const list = this.fdb.get(dev!) ?? [];
    const i = list.findIndex((e) => e.mac === mac && e.dst === dst);
    if (op === 'append') {
      if (i >= 0) throw new Error('RTNETLINK answers: File exists');
      list.push({ mac: mac!, dst: dst! });
    } else if (op === 'del') {
      if (i < 0) throw new Error('RTNETLINK answers: No such file or directory');
      list.splice(i, 1);
    } else throw new Error(`sim: bridge ${a.join(' ')}`);
    this.fdb.set(dev!, list);
    return '';
  }
}

const N1 = '11111111-aaaa-4000-8000-000000000001';
const N2 = '22222222-aaaa-4000-8000-000000000002';
const N3 = '33333333-aaaa-4000-8000-000000000003';
const dir = mkdtempSync(join(tmpdir(), 'kvmstack-netplan-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

const port = (id: string, extra: Partial<RealizedPort> = {}): RealizedPort => ({
  id,
  mac: 'fa:16:3e:00:00:01',
  tap: `tap${id.slice(0, 11)}`,
  fixedIps: [],
  adminStateUp: true,
  portSecurityEnabled: true,
  allowedAddressPairs: [],
  rules: [],
  ...extra,
});

const net = (id: string, over: Partial<RealizedNetwork>): RealizedNetwork => ({
  id,
  name: id.slice(0, 4),
  networkType: 'flat',
  physicalNetwork: 'provider',
  segmentationId: null,
  mtu: 1500,
  adminStateUp: true,
  dhcp: null,
  ports: [],
  ...over,
});

const world = () =>
  new SimIp([
    { ifname: 'br0', kind: 'bridge', mtu: 1500, up: true },
    { ifname: 'eth1', kind: '', mtu: 1500, up: false },
    { ifname: 'eth2', kind: '', mtu: 9000, up: true },
    { ifname: 'brforeign', kind: 'bridge', mtu: 1500, up: true },
  ]);

function realizer(sim: SimIp, firewall?: (p: RealizedPort[]) => Promise<void>) {
  return new NetworkRealizer({
    mappings: {
      bridgeMappings: new Map([['provider', 'br0']]),
      interfaceMappings: new Map([
        ['physnet1', 'eth1'],
        ['trunk', 'eth2'],
        ['gone', 'eth7'],
      ]),
      hostLocalNetworks: new Set(),
    },
    stateDir: dir,
    dnsmasqPath: 'dnsmasq',
    cmd: sim.runner,
    log: quiet,
    firewall,
  });
}

const PA = 'aaaaaaaa-0000-4000-8000-000000000001';
const PB = 'bbbbbbbb-0000-4000-8000-000000000002';
const PC = 'cccccccc-0000-4000-8000-000000000003';

const state = (rev: string, networks: RealizedNetwork[]): HostNetworkState => ({ revision: rev, networks });
const full = { full: true };

describe('NetworkRealizer plan', () => {
  it('makes an own bridge with its uplink and VLAN device, marked, and up last', async () => {
    const sim = world();
    const r = await realizer(sim).apply(
      state('1', [
        net(N1, { physicalNetwork: 'physnet1', mtu: 1450 }),
        net(N2, { networkType: 'vlan', physicalNetwork: 'trunk', segmentationId: 300, mtu: 9000 }),
      ]),
      full,
    );
    assert.deepEqual(r.unrealizable, []);
    assert.deepEqual(sim.log, [
      'link add name brq11111111-aa mtu 1450 type bridge',
      `link set dev brq11111111-aa alias kvmstack:${N1}`,
      'link set dev eth1 master brq11111111-aa',
      'link set dev eth1 up',
      'link set dev brq11111111-aa up',
      'link add name brq22222222-aa mtu 9000 type bridge',
      `link set dev brq22222222-aa alias kvmstack:${N2}`,
      'link add link eth2 name eth2.300 mtu 9000 type vlan id 300',
      `link set dev eth2.300 alias kvmstack:${N2}`,
      'link set dev eth2.300 master brq22222222-aa',
      'link set dev eth2.300 up',
      'link set dev brq22222222-aa up',
    ]);
    assert.deepEqual(
      r.changes,
      sim.log.map((c) => `ip ${c}`),
    );
    const again = await realizer(sim).apply(
      state('1', [
        net(N1, { physicalNetwork: 'physnet1', mtu: 1450 }),
        net(N2, { networkType: 'vlan', physicalNetwork: 'trunk', segmentationId: 300, mtu: 9000 }),
      ]),
      full,
    );
    assert.deepEqual(again.changes, [], 'idempotent');
  });

  it('uses a mapped bridge as it is and never removes it; removes only marked devices, VLANs first', async () => {
    const sim = world();
    const rz = realizer(sim);
    await rz.apply(
      state('1', [
        net(N1, {}),
        net(N2, { networkType: 'vlan', physicalNetwork: 'provider', segmentationId: 7 }),
      ]),
      full,
    );
    assert.ok(!sim.log.some((c) => /^link (set|del) dev br0 /.test(c)), 'the mapped bridge is untouched');
    assert.equal(sim.links.get('br0.7')?.master, 'brq22222222-aa');
    sim.log = [];
    const r = await rz.apply(state('2', []), full);
    assert.deepEqual(sim.log, [
      'link show dev br0.7',
      'link del dev br0.7',
      'link show dev brq22222222-aa',
      'link del dev brq22222222-aa',
    ]);
    assert.deepEqual(r.unrealizable, []);
    for (const d of ['br0', 'eth1', 'eth2', 'brforeign']) assert.ok(sim.links.has(d), d);
  });

  it("with an owner, removes only its own devices: another agent's in the same namespace stay", async () => {
    const sim = world();
    const mark = (name: string, ifalias: string) =>
      sim.links.set(name, { ifname: name, kind: 'bridge', mtu: 1500, up: true, ifalias });
    mark('brqmine', `kvmstack:${N1}@host-a`);
    mark('brqtheirs', `kvmstack:${N2}@host-b`);
    mark('brqnoowner', `kvmstack:${N3}`);
    const rz = new NetworkRealizer({
      mappings: { bridgeMappings: new Map(), interfaceMappings: new Map(), hostLocalNetworks: new Set() },
      stateDir: dir,
      dnsmasqPath: 'dnsmasq',
      cmd: sim.runner,
      log: quiet,
      owner: 'host-a',
    });
    await rz.apply(state('1', []), full);
    assert.ok(!sim.links.has('brqmine'));
    assert.ok(sim.links.has('brqtheirs') && sim.links.has('brqnoowner'));
  });

  it('reports each failing network and still realizes the others', async () => {
    const sim = world();
    sim.vlanSupported = false;
    sim.links.set('eth1', { ifname: 'eth1', kind: '', mtu: 1500, up: true, master: 'brforeign' });
    const r = await realizer(sim).apply(
      state('1', [
        net(N1, { physicalNetwork: 'physnet1' }),
        net(N2, { networkType: 'vlan', physicalNetwork: 'trunk', segmentationId: 9, ports: [port(PA)] }),
        net(N3, { physicalNetwork: 'gone' }),
        net('44444444-aaaa-4000-8000-000000000004', { physicalNetwork: 'nowhere' }),
        net('55555555-aaaa-4000-8000-000000000005', {}),
      ]),
      full,
    );
    const why = Object.fromEntries(r.unrealizable.map((u) => [u.networkId.slice(0, 1), u.reason]));
    assert.match(why['1']!, /eth1 is already enslaved to brforeign, which is not kvmstack's/);
    assert.match(why['2']!, /cannot make VLAN devices \(802\.1Q/);
    assert.match(why['3']!, /eth7 \(physical network gone\) does not exist/);
    assert.equal(why['4'], 'physical network "nowhere" is not mapped on this host');
    assert.equal(why['5'], undefined);
    assert.equal(sim.links.get('eth1')?.master, 'brforeign', 'a foreign bridge keeps its port');
    // the failed network's half-made bridge is kept for the retry, not removed as stale
    assert.ok(sim.links.has('brq22222222-aa'));
  });

  it('a mapped bridge that does not exist makes the network unrealizable', async () => {
    const sim = world();
    sim.links.delete('br0');
    const r = await realizer(sim).apply(state('1', [net(N1, {})]), full);
    assert.match(
      r.unrealizable[0]?.reason ?? '',
      /mapped bridge br0 \(physical network provider\) does not exist/,
    );
  });

  it('refuses a brq device that belongs to another network, adopts an unmarked one', async () => {
    const sim = world();
    sim.links.set('brq11111111-aa', {
      ifname: 'brq11111111-aa',
      kind: 'bridge',
      mtu: 1500,
      up: true,
      ifalias: 'kvmstack:other',
    });
    const r = await realizer(sim).apply(state('1', [net(N1, { physicalNetwork: 'physnet1' })]), full);
    assert.match(r.unrealizable[0]?.reason ?? '', /not this network's/);
    sim.links.set('brq11111111-aa', { ifname: 'brq11111111-aa', kind: 'bridge', mtu: 1400, up: false });
    sim.log = [];
    const ok = await realizer(sim).apply(state('1', [net(N1, { physicalNetwork: 'physnet1' })]), full);
    assert.deepEqual(ok.unrealizable, []);
    assert.deepEqual(sim.log.slice(0, 2), [
      `link set dev brq11111111-aa alias kvmstack:${N1}`,
      'link set dev brq11111111-aa mtu 1500',
    ]);
  });

  it('attaches taps, follows port and network admin state, and reports only wired, up ports', async () => {
    const sim = world();
    for (const id of [PA, PB, PC])
      sim.links.set(`tap${id.slice(0, 11)}`, {
        ifname: `tap${id.slice(0, 11)}`,
        kind: 'tun',
        mtu: 1500,
        up: false,
      });
    sim.links.get(`tap${PC.slice(0, 11)}`)!.master = 'brforeign';
    const ports = [port(PA), port(PB, { adminStateUp: false }), port(PC)];
    const rz = realizer(sim);
    const r = await rz.apply(state('1', [net(N1, { physicalNetwork: 'physnet1', mtu: 1450, ports })]), full);
    assert.deepEqual(r.activePorts, [PA, PC].sort());
    assert.equal(
      sim.links.get(`tap${PC.slice(0, 11)}`)?.master,
      'brq11111111-aa',
      'moved from a wrong bridge',
    );
    assert.equal(sim.links.get(`tap${PA.slice(0, 11)}`)?.mtu, 1450);
    assert.equal(sim.links.get(`tap${PB.slice(0, 11)}`)?.up, false);
    const down = await rz.apply(
      state('2', [net(N1, { physicalNetwork: 'physnet1', mtu: 1450, ports, adminStateUp: false })]),
      full,
    );
    assert.deepEqual(down.activePorts, []);
    assert.equal(sim.links.get('brq11111111-aa')?.up, false);
    assert.equal(sim.links.get(`tap${PA.slice(0, 11)}`)?.up, false);
  });

  it('a quick round only attaches taps; a failed firewall keeps filtered ports from being active', async () => {
    const sim = world();
    const seen: string[][] = [];
    let fail = false;
    const rz = realizer(sim, async (p) => {
      seen.push(p.map((x) => x.id));
      if (fail) throw new Error('nft: syntax error');
    });
    const ports = [port(PA), port(PB, { portSecurityEnabled: false })];
    const st = state('1', [net(N1, { physicalNetwork: 'physnet1', ports })]);
    await rz.apply(st, full);
    assert.deepEqual(seen, [[PA, PB]]);
    for (const id of [PA, PB])
      sim.links.set(`tap${id.slice(0, 11)}`, {
        ifname: `tap${id.slice(0, 11)}`,
        kind: 'tun',
        mtu: 1500,
        up: true,
      });
    sim.links.delete('brq11111111-aa');
    sim.log = [];
    const quick = await rz.apply(st, { full: false });
    assert.equal(seen.length, 1, 'no firewall call in a quick round');
    assert.deepEqual(sim.log, [], 'a quick round makes no bridge');
    assert.deepEqual(quick.activePorts, []);
    // reported, so the next round is a full one that makes the bridge again
    assert.match(quick.unrealizable[0]?.reason ?? '', /bridge brq11111111-aa is missing/);
    fail = true;
    const r = await rz.apply(st, full);
    assert.deepEqual(r.activePorts, [PB], 'only the port without port security is active');
  });
});

describe('NetworkRealizer plan: VXLAN', () => {
  const vx = (over: Partial<RealizedNetwork> = {}) =>
    net(N1, { networkType: 'vxlan', physicalNetwork: '', segmentationId: 42, mtu: 1450, ...over });
  const tunnelled = (
    rev: string,
    peers: string[],
    networks = [vx()],
    localIp = '10.0.0.1',
  ): HostNetworkState => ({
    revision: rev,
    networks,
    tunnelLocalIp: localIp,
    tunnelPeers: peers,
  });
  const flood = (sim: SimIp, dev = 'vxlan-42') =>
    (sim.fdb.get(dev) ?? [])
      .filter((e) => e.mac === '00:00:00:00:00:00')
      .map((e) => e.dst)
      .sort();

  it('makes brq<id> holding vxlan-<vni> (local address, port 4789, learning) and floods to every peer', async () => {
    const sim = world();
    const r = await realizer(sim).apply(tunnelled('1', ['10.0.0.3', '10.0.0.2']), full);
    assert.deepEqual(r.unrealizable, []);
    assert.deepEqual(sim.log, [
      'link add name brq11111111-aa mtu 1450 type bridge',
      `link set dev brq11111111-aa alias kvmstack:${N1}`,
      'link add name vxlan-42 mtu 1450 type vxlan id 42 local 10.0.0.1 dstport 4789 learning',
      `link set dev vxlan-42 alias kvmstack:${N1}`,
      'link set dev vxlan-42 master brq11111111-aa',
      'link set dev vxlan-42 up',
      'bridge fdb append 00:00:00:00:00:00 dev vxlan-42 dst 10.0.0.2',
      'bridge fdb append 00:00:00:00:00:00 dev vxlan-42 dst 10.0.0.3',
      'link set dev brq11111111-aa up',
    ]);
    assert.deepEqual(
      r.changes,
      sim.log.map((c) => (c.startsWith('bridge ') ? c : `ip ${c}`)),
    );
    assert.deepEqual(flood(sim), ['10.0.0.2', '10.0.0.3']);
    sim.log = [];
    const again = await realizer(sim).apply(tunnelled('1', ['10.0.0.2', '10.0.0.3']), full);
    assert.deepEqual(again.changes, [], 'idempotent');
  });

  it('follows the peers: a new host gets an entry, a gone one loses it; learned entries stay', async () => {
    const sim = world();
    const rz = realizer(sim);
    await rz.apply(tunnelled('1', ['10.0.0.2', '10.0.0.3']), full);
    sim.fdb.get('vxlan-42')!.push({ mac: 'fa:16:3e:00:00:09', dst: '10.0.0.3' });
    sim.log = [];
    const r = await rz.apply(tunnelled('2', ['10.0.0.2', '10.0.0.4']), full);
    assert.deepEqual(r.changes, [
      'bridge fdb append 00:00:00:00:00:00 dev vxlan-42 dst 10.0.0.4',
      'bridge fdb del 00:00:00:00:00:00 dev vxlan-42 dst 10.0.0.3',
    ]);
    assert.deepEqual(flood(sim), ['10.0.0.2', '10.0.0.4']);
    assert.ok(
      sim.fdb.get('vxlan-42')!.some((e) => e.mac === 'fa:16:3e:00:00:09'),
      'learned entry kept',
    );
    // the last peer gone: no flood entry left, the device stays for this host's own ports
    await rz.apply(tunnelled('3', []), full);
    assert.deepEqual(flood(sim), []);
    assert.ok(sim.links.has('vxlan-42'));
  });

  it('a changed host address or MTU is applied; a foreign vxlan-<vni> is refused', async () => {
    const sim = world();
    const rz = realizer(sim);
    await rz.apply(tunnelled('1', ['10.0.0.2']), full);
    sim.log = [];
    await rz.apply(tunnelled('2', ['10.0.0.2'], [vx({ mtu: 1400 })]), full);
    assert.deepEqual(
      sim.log.filter((c) => c.includes('vxlan-42')),
      ['link set dev vxlan-42 mtu 1400'],
    );
    sim.log = [];
    await rz.apply(tunnelled('3', ['10.0.0.2'], [vx({ mtu: 1400 })], '10.0.0.9'), full);
    assert.deepEqual(sim.log.slice(0, 2), [
      'link del dev vxlan-42',
      'link add name vxlan-42 mtu 1400 type vxlan id 42 local 10.0.0.9 dstport 4789 learning',
    ]);
    assert.deepEqual(flood(sim), ['10.0.0.2'], 'the new device floods to the peers again');

    const other = world();
    other.links.set('vxlan-42', {
      ifname: 'vxlan-42',
      kind: 'vxlan',
      mtu: 1450,
      up: true,
      vxlan: { id: 42, local: '192.0.2.1', port: 8472, learning: true },
    });
    const r = await realizer(other).apply(tunnelled('1', ['10.0.0.2']), full);
    assert.match(r.unrealizable[0]?.reason ?? '', /vxlan-42 exists and is not VXLAN 42 from 10\.0\.0\.1/);
    assert.equal(other.links.get('vxlan-42')?.vxlan?.local, '192.0.2.1', 'not ours: left alone');
  });

  it('removes the VXLAN device with its network; without a tunnel address a VXLAN network is unrealizable', async () => {
    const sim = world();
    const rz = realizer(sim);
    await rz.apply(tunnelled('1', ['10.0.0.2']), full);
    sim.log = [];
    await rz.apply(tunnelled('2', ['10.0.0.2'], []), full);
    assert.deepEqual(sim.log, [
      'link show dev vxlan-42',
      'link del dev vxlan-42',
      'link show dev brq11111111-aa',
      'link del dev brq11111111-aa',
    ]);
    const r = await rz.apply(state('3', [vx()]), full);
    assert.match(r.unrealizable[0]?.reason ?? '', /no tunnel address/);
    assert.ok(!sim.links.has('vxlan-42'));
  });

  it('a kernel without VXLAN is reported, other networks go on', async () => {
    const sim = world();
    const runner = sim.runner;
    sim.runner = async (file, args, o) => {
      if (args.includes('vxlan') && args[1] === 'add') throw new Error('Error: Unknown device type.');
      return runner(file, args, o);
    };
    const r = await realizer(sim).apply(
      tunnelled('1', ['10.0.0.2'], [vx(), net(N2, { physicalNetwork: 'physnet1' })]),
      full,
    );
    assert.equal(r.unrealizable.length, 1);
    assert.match(r.unrealizable[0]!.reason, /cannot make VXLAN devices/);
    assert.ok(sim.links.has('brq22222222-aa'));
  });
});

describe('NetworkSync', () => {
  it('reports, applies a new revision in full, rechecks every few rounds, and reports changes at once', async () => {
    const sent: NetworkSyncReport[] = [];
    const applied: { rev: string; full: boolean }[] = [];
    let revision = 'r1';
    let active: string[] = [];
    const sync = new NetworkSync({
      exchange: async (report) => {
        sent.push(report);
        return { revision, networks: [] };
      },
      realizer: {
        apply: async (s, o): Promise<ApplyResult> => {
          applied.push({ rev: s.revision, full: o.full });
          return { activePorts: active, unrealizable: [], changes: [] };
        },
      },
      log: quiet,
    });
    await sync.tick();
    assert.deepEqual(sent[0], { appliedRevision: null, activePorts: [], unrealizable: [] });
    assert.deepEqual(applied, [{ rev: 'r1', full: true }]);
    assert.equal(sent.length, 1, 'nothing new to report');
    active = [PA];
    await sync.tick();
    assert.deepEqual(applied[1], { rev: 'r1', full: false });
    assert.equal(sent.length, 3, 'a newly active port is reported at once');
    assert.deepEqual(sent[2], { appliedRevision: 'r1', activePorts: [PA], unrealizable: [] });
    revision = 'r2';
    await sync.tick();
    assert.deepEqual(applied[2], { rev: 'r2', full: true });
    for (let i = applied.length; i < RECHECK_EVERY; i++) await sync.tick();
    assert.equal(applied[RECHECK_EVERY - 1]?.full, true, 'a full recheck every few rounds');
    assert.ok(applied.slice(3, RECHECK_EVERY - 1).every((a) => !a.full));
  });

  it('never throws, and logs a repeated failure once', async () => {
    const warnings: string[] = [];
    const sync = new NetworkSync({
      exchange: async () => {
        throw new Error('POST /kvmstack/v1/hosts/h/network: 404');
      },
      realizer: { apply: async () => ({ activePorts: [], unrealizable: [], changes: [] }) },
      log: { ...quiet, warn: (_o: object, m: string) => void warnings.push(m) },
    });
    assert.equal(await sync.tick(), null);
    assert.equal(await sync.tick(), null);
    assert.equal(warnings.length, 1);
  });
});
