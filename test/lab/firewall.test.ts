/**
 * Security groups enforced for real (root, no libvirt): a scratch "host" namespace with a bridge, three "VM"
 * namespaces on veth pairs whose host ends are named like taps, the real syncFirewall through `ip netns exec
 * HOST nft`, and traffic with ping and busybox nc.
 *
 *   kvfw-h:  br0 ∋ tapa…, tapb…, tapc…   (10.66.0.1/24 on br0: the host itself)
 *   kvfw-a/b/c: eth0 10.66.0.10/.11/.12
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { run, tryRun } from '../../src/common/exec.js';
import type { RealizedPort, RealizedRule } from '../../src/network/realization.js';
import {
  removeFirewall,
  syncFirewall,
  TABLE,
  type FirewallOptions,
} from '../../host-agent/network/firewall.js';

const PREFIX = 'kvfw-';
const H = 'kvfw-h';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Vm {
  ns: string;
  tap: string;
  mac: string;
  ip: string;
}
const vms: Record<'a' | 'b' | 'c', Vm> = {
  a: { ns: 'kvfw-a', tap: 'tapaaaaaaaa-01', mac: 'fa:16:3e:66:00:0a', ip: '10.66.0.10' },
  b: { ns: 'kvfw-b', tap: 'tapbbbbbbbb-02', mac: 'fa:16:3e:66:00:0b', ip: '10.66.0.11' },
  c: { ns: 'kvfw-c', tap: 'tapcccccccc-03', mac: 'fa:16:3e:66:00:0c', ip: '10.66.0.12' },
};
const servers: ChildProcess[] = [];

const opts: FirewallOptions = {
  nft: (args, stdin) => run('ip', ['netns', 'exec', H, 'nft', ...args], { input: stdin }),
  sysctl: async (key, value) => {
    await run('ip', ['netns', 'exec', H, 'sysctl', '-q', '-w', `${key}=${value}`]);
  },
};

const any = (direction: 'ingress' | 'egress', ethertype: 'IPv4' | 'IPv6' = 'IPv4'): RealizedRule => ({
  direction,
  ethertype,
  protocol: null,
  portRangeMin: null,
  portRangeMax: null,
  remotePrefixes: null,
});
const EGRESS = [any('egress'), any('egress', 'IPv6')];
const tcpIn = (port: number, remotePrefixes: string[] | null = null): RealizedRule => ({
  direction: 'ingress',
  ethertype: 'IPv4',
  protocol: 'tcp',
  portRangeMin: port,
  portRangeMax: port,
  remotePrefixes,
});

function port(vm: Vm, rules: RealizedRule[], extra: Partial<RealizedPort> = {}): RealizedPort {
  return {
    id: `${vm.tap.slice(3)}-port`,
    mac: vm.mac,
    tap: vm.tap,
    fixedIps: [{ subnetId: 's', ip: vm.ip, prefixLen: 24 }],
    adminStateUp: true,
    portSecurityEnabled: true,
    allowedAddressPairs: [],
    rules,
    ...extra,
  };
}

async function ping(from: Vm, to: string, source?: string): Promise<boolean> {
  const args = ['netns', 'exec', from.ns, 'ping', '-n', '-q', '-c', '1', '-W', '1'];
  if (source) args.push('-I', source);
  return (await tryRun('ip', [...args, to], 5000)).code === 0;
}

/** A TCP connection that gets the server's greeting. */
async function tcp(from: Vm, to: string, port: number): Promise<boolean> {
  try {
    const out = await run('ip', ['netns', 'exec', from.ns, 'busybox', 'nc', '-w', '2', to, String(port)], {
      input: '',
      timeoutMs: 5000,
    });
    return out.includes('hello');
  } catch {
    return false;
  }
}

function serve(vm: Vm, port: number): void {
  const child = spawn(
    'ip',
    ['netns', 'exec', vm.ns, 'busybox', 'nc', '-ll', '-p', String(port), '-e', 'echo', 'hello'],
    {
      stdio: 'ignore',
    },
  );
  servers.push(child);
}

async function cleanup(): Promise<void> {
  for (const s of servers) if (s.pid && s.exitCode === null) s.kill('SIGKILL');
  const list = await run('ip', ['netns', 'list']);
  for (const ns of list.split('\n').map((l) => l.split(' ')[0] ?? ''))
    if (ns.startsWith(PREFIX)) await tryRun('ip', ['netns', 'del', ns]);
}

describe('security groups on a host: nftables on bridged taps', () => {
  before(async () => {
    assert.equal(process.getuid?.(), 0, 'the firewall lab test needs root');
    await cleanup();
    await run('ip', ['netns', 'add', H]);
    await run('ip', ['-n', H, 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', H, 'addr', 'add', '10.66.0.1/24', 'dev', 'br0']);
    await run('ip', ['-n', H, 'link', 'set', 'br0', 'up']);
    for (const vm of Object.values(vms)) {
      await run('ip', ['netns', 'add', vm.ns]);
      await run('ip', [
        '-n',
        H,
        'link',
        'add',
        vm.tap,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        vm.ns,
      ]);
      await run('ip', ['-n', H, 'link', 'set', vm.tap, 'master', 'br0', 'up']);
      await run('ip', ['-n', vm.ns, 'link', 'set', 'eth0', 'address', vm.mac]);
      await run('ip', ['-n', vm.ns, 'addr', 'add', `${vm.ip}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', vm.ns, 'link', 'set', 'eth0', 'up']);
      await run('ip', ['-n', vm.ns, 'link', 'set', 'lo', 'up']);
      serve(vm, 80);
      serve(vm, 22);
    }
    await sleep(300);
    // Unfiltered, everything talks (the baseline every check below departs from).
    assert.ok(await ping(vms.a, vms.b.ip));
    assert.ok(await tcp(vms.c, vms.b.ip, 80));
  });
  after(async () => {
    await removeFirewall(opts).catch(() => undefined);
    await cleanup();
  });

  it('the same-group ingress rule lets group members ping each other; others are dropped', async () => {
    const members = [`${vms.a.ip}/32`, `${vms.b.ip}/32`];
    const group = [...EGRESS, { ...any('ingress'), remotePrefixes: members }];
    await syncFirewall([port(vms.a, group), port(vms.b, group), port(vms.c, EGRESS)], opts);
    assert.ok(await ping(vms.a, vms.b.ip), 'a → b');
    assert.ok(await ping(vms.b, vms.a.ip), 'b → a');
    assert.ok(!(await ping(vms.c, vms.b.ip)), 'c is not a member');
    assert.ok(await tcp(vms.a, vms.b.ip, 22), 'any protocol from a member');
    // c's own outbound flow: its replies come back although c has no ingress rule at all.
    assert.ok(await ping(vms.c, '10.66.0.1'), 'c → host, reply stateful');
  });

  it('stateful: no ingress rule drops new connections, replies to outbound flows pass', async () => {
    await syncFirewall([port(vms.a, [...EGRESS, tcpIn(80)]), port(vms.b, EGRESS), port(vms.c, EGRESS)], opts);
    assert.ok(!(await tcp(vms.a, vms.b.ip, 80)), 'b has no tcp/80 ingress rule');
    assert.ok(await tcp(vms.b, vms.a.ip, 80), 'b → a:80, the answer reaches b');
    assert.ok(!(await tcp(vms.b, vms.a.ip, 22)), 'a allows 80 only');
    assert.ok(!(await ping(vms.b, vms.a.ip)), 'a allows no icmp');
  });

  it('a rule for tcp 80 from a prefix lets only that prefix in', async () => {
    await syncFirewall(
      [port(vms.a, EGRESS), port(vms.b, [...EGRESS, tcpIn(80, [`${vms.a.ip}/32`])]), port(vms.c, EGRESS)],
      opts,
    );
    assert.ok(await tcp(vms.a, vms.b.ip, 80), 'from the prefix');
    assert.ok(!(await tcp(vms.c, vms.b.ip, 80)), 'from elsewhere');
    assert.ok(!(await tcp(vms.a, vms.b.ip, 22)), 'another port from the prefix');
  });

  it('anti-spoofing: a VM may not send from an address that is not its own (unless an allowed pair)', async () => {
    const spoofed = '10.66.0.50';
    await run('ip', ['-n', vms.a.ns, 'addr', 'add', `${spoofed}/24`, 'dev', 'eth0']);
    // Static neighbours, so that only the IP source check can stop the ping (not ARP for the spoofed address).
    await run('ip', [
      '-n',
      vms.a.ns,
      'neigh',
      'replace',
      vms.b.ip,
      'lladdr',
      vms.b.mac,
      'dev',
      'eth0',
      'nud',
      'permanent',
    ]);
    await run('ip', [
      '-n',
      vms.b.ns,
      'neigh',
      'replace',
      spoofed,
      'lladdr',
      vms.a.mac,
      'dev',
      'eth0',
      'nud',
      'permanent',
    ]);
    const open = [...EGRESS, any('ingress')];
    await syncFirewall([port(vms.a, open), port(vms.b, open)], opts);
    assert.ok(await ping(vms.a, vms.b.ip), 'from its own address');
    assert.ok(!(await ping(vms.a, vms.b.ip, spoofed)), 'from a spoofed address');
    await syncFirewall(
      [
        port(vms.a, open, { allowedAddressPairs: [{ ipAddress: spoofed, macAddress: vms.a.mac }] }),
        port(vms.b, open),
      ],
      opts,
    );
    assert.ok(await ping(vms.a, vms.b.ip, spoofed), 'an allowed address pair may');
    // A spoofed MAC is dropped too.
    await run('ip', ['-n', vms.a.ns, 'link', 'set', 'eth0', 'address', 'fa:16:3e:66:00:99']);
    try {
      assert.ok(!(await ping(vms.a, vms.b.ip)), 'from a foreign MAC');
    } finally {
      await run('ip', ['-n', vms.a.ns, 'link', 'set', 'eth0', 'address', vms.a.mac]);
      await run('ip', ['-n', vms.a.ns, 'addr', 'del', `${spoofed}/24`, 'dev', 'eth0']);
    }
  });

  it('port security off, and taps not in the list, are not filtered at all', async () => {
    await syncFirewall([port(vms.a, EGRESS), port(vms.b, [], { portSecurityEnabled: false })], opts);
    assert.ok(await tcp(vms.c, vms.b.ip, 80), 'b: port security off; c: not in the list');
    assert.ok(await ping(vms.c, vms.b.ip));
    assert.ok(!(await ping(vms.c, vms.a.ip)), 'a is still filtered');
  });

  it("a sync that removes a port's rules takes effect; removeFirewall removes everything", async () => {
    const open = [...EGRESS, any('ingress')];
    await syncFirewall([port(vms.a, open), port(vms.b, open)], opts);
    assert.ok(await ping(vms.a, vms.b.ip));
    await syncFirewall([port(vms.a, open), port(vms.b, EGRESS)], opts);
    assert.ok(!(await ping(vms.a, vms.b.ip)), 'b lost its ingress rule');
    assert.ok(await ping(vms.b, vms.a.ip), 'b still reaches out');
    await removeFirewall(opts);
    const tables = await opts.nft(['list', 'tables']);
    assert.ok(!tables.includes(TABLE), tables);
    assert.ok(await ping(vms.c, vms.b.ip));
    await removeFirewall(opts); // idempotent
  });

  it('one transaction for 200 ports with remote groups (figure: time of a full sync)', async () => {
    const many: RealizedPort[] = [];
    const members = Array.from({ length: 200 }, (_, i) => `10.67.${i >> 8}.${i & 255}/32`);
    for (let i = 0; i < 200; i++)
      many.push({
        ...port(vms.a, [
          ...EGRESS,
          { ...any('ingress'), remotePrefixes: members },
          tcpIn(22),
          tcpIn(443, ['0.0.0.0/0']),
        ]),
        tap: `tap${i.toString(16).padStart(8, '0')}-x`,
        fixedIps: [{ subnetId: 's', ip: members[i].split('/')[0], prefixLen: 16 }],
      });
    const t0 = process.hrtime.bigint();
    await syncFirewall(many, opts);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`# full sync of ${many.length} ports: ${ms.toFixed(0)} ms`);
    const chains = (await opts.nft(['list', 'table', 'bridge', TABLE])).match(/chain in_/g) ?? [];
    assert.equal(chains.length, 200);
    assert.ok(ms < 10_000, `sync took ${ms} ms`);
    await removeFirewall(opts);
  });
});
