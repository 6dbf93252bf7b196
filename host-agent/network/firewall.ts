/**
 * Security groups on the host (nftables), per VM tap, stateful, in one atomic `nft -f -` transaction.
 *
 * Why two tables: the VM's NIC is a tap on a Linux bridge, so only the `bridge` family sees which tap a frame
 * comes from or goes to; but `ct state` is refused in the bridge family on this kernel (no nf_conntrack_bridge:
 * "Protocol error"). br_netfilter (built in) runs the IPv4/IPv6 hooks, conntrack included, for bridged frames
 * from inside the bridge's prerouting hook. So:
 *
 *   inet kvmstack_sg   prerouting/output, after conntrack: a packet through a bridge whose connection is
 *                      established/related gets the ESTABLISHED mark bit, an invalid one the INVALID bit.
 *   bridge kvmstack_sg prerouting (before br_netfilter): clears those bits, then anti-spoofing per tap
 *                      (`spoof_<tap>`), so a spoofed frame never creates a connection;
 *                      forward/input: frames from a tap → `out_<tap>` (the port's egress rules);
 *                      forward/output: frames to a tap → `in_<tap>` (the port's ingress rules);
 *                      established passes, invalid drops, a new connection needs a rule, the rest drops.
 *
 * Taps not in the list, ports without port security, uplinks and the host's own traffic are not matched by any
 * rule here (the base chains accept). Mark bits 0x10000000 and 0x20000000 of the packet mark are ours.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { RealizedPort } from '../../src/network/realization.js';
import { renderRules } from './firewall-rules.js';

export interface FirewallOptions {
  /** Runs `nft` (injected so tests can run it in a scratch network namespace). */
  nft: (args: string[], stdin?: string) => Promise<string>;
  /**
   * Sets a sysctl (br_netfilter's bridge-nf-call-iptables/ip6tables must be 1 for conntrack to see bridged
   * traffic). Default: writes /proc/sys of the agent's own network namespace when the value differs.
   */
  sysctl?: (key: string, value: string) => Promise<void>;
}

export const TABLE = 'kvmstack_sg';
export const MARK_ESTABLISHED = 0x10000000;
export const MARK_INVALID = 0x20000000;

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
const KEEP_OTHER_BITS = hex(~(MARK_ESTABLISHED | MARK_INVALID) >>> 0);

/** The tables' removal, valid whether or not they exist ("table x" creates it if missing, then it goes). */
const DELETE_TABLES = [
  `table bridge ${TABLE}`,
  `delete table bridge ${TABLE}`,
  `table inet ${TABLE}`,
  `delete table inet ${TABLE}`,
];

const TAP = /^[A-Za-z0-9_.-]{1,15}$/;

/** The whole ruleset for these ports, as one nft script that replaces the previous one atomically. */
export function buildRuleset(ports: RealizedPort[]): string {
  const filtered = ports.filter((p) => p.portSecurityEnabled);
  for (const p of filtered)
    if (!TAP.test(p.tap)) throw new Error(`invalid tap device name: ${JSON.stringify(p.tap)}`);
  const lines = [...DELETE_TABLES];
  if (!filtered.length) return `${lines.join('\n')}\n`;

  const vmap = (name: string, prefix: string) => [
    `  map ${name} {`,
    `    type ifname : verdict`,
    `    elements = { ${filtered.map((p) => `"${p.tap}" : jump ${prefix}_${p.tap}`).join(', ')} }`,
    `  }`,
  ];
  const base = (name: string, hook: string, body: string[]) => [
    `  chain ${name} {`,
    `    type filter hook ${hook} priority -200; policy accept;`,
    ...body.map((l) => `    ${l}`),
    `  }`,
  ];
  lines.push(
    `table bridge ${TABLE} {`,
    ...vmap('spoof', 'spoof'),
    ...vmap('from_vm', 'out'),
    ...vmap('to_vm', 'in'),
    ...base('prerouting', 'prerouting', [
      `meta mark set meta mark and ${KEEP_OTHER_BITS}`,
      'iifname vmap @spoof',
    ]),
    ...base('forward', 'forward', ['iifname vmap @from_vm', 'oifname vmap @to_vm']),
    ...base('input', 'input', ['iifname vmap @from_vm']),
    ...base('output', 'output', ['oifname vmap @to_vm']),
  );
  for (const p of filtered) {
    lines.push(...chain(`spoof_${p.tap}`, spoofRules(p)));
    lines.push(
      ...chain(`out_${p.tap}`, [...stateRules(), ...egressBase(), ...renderRules(p.rules, 'egress'), 'drop']),
    );
    lines.push(
      ...chain(`in_${p.tap}`, [
        ...stateRules(),
        ...ingressBase(),
        ...renderRules(p.rules, 'ingress'),
        'drop',
      ]),
    );
  }
  lines.push('}');
  const mark = (dir: 'iif' | 'oif') => [
    `meta ${dir}kind "bridge" ct state established,related meta mark set meta mark or ${hex(MARK_ESTABLISHED)}`,
    `meta ${dir}kind "bridge" ct state invalid meta mark set meta mark or ${hex(MARK_INVALID)}`,
  ];
  // Priority -150: after conntrack (-200) has attached the connection to the packet.
  const inetBase = (name: string, dir: 'iif' | 'oif') => [
    `  chain ${name} {`,
    `    type filter hook ${name} priority -150; policy accept;`,
    ...mark(dir).map((l) => `    ${l}`),
    `  }`,
  ];
  lines.push(`table inet ${TABLE} {`, ...inetBase('prerouting', 'iif'), ...inetBase('output', 'oif'), '}');
  return `${lines.join('\n')}\n`;
}

function chain(name: string, rules: string[]): string[] {
  return [`  chain ${name} {`, ...rules.map((r) => `    ${r}`), `  }`];
}

function stateRules(): string[] {
  return [
    `meta mark and ${hex(MARK_INVALID)} != 0 drop`,
    `meta mark and ${hex(MARK_ESTABLISHED)} != 0 return`,
  ];
}

/** Always allowed out, whatever the groups say (as Neutron): ARP (already anti-spoofed), DHCP, NDP, MLD. */
function egressBase(): string[] {
  return [
    'ether type arp return',
    'ether type ip udp sport 68 udp dport 67 return',
    'ether type ip6 udp sport 546 udp dport 547 return',
    'ether type ip6 icmpv6 type { mld-listener-report, mld-listener-done, nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld2-listener-report } return',
  ];
}

/** Always allowed in: ARP, DHCP replies, NDP/MLD/RA, and what is not IP (security groups only filter IP). */
function ingressBase(): string[] {
  return [
    'ether type != { ip, ip6 } return',
    'ether type ip udp sport 67 udp dport 68 return',
    'ether type ip6 udp sport 547 udp dport 546 return',
    'ether type ip6 icmpv6 type { mld-listener-query, mld-listener-report, mld-listener-done, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld2-listener-report } return',
  ];
}

/** EUI-64 link-local address of a MAC (the address a guest derives for itself by default). */
export function linkLocalOf(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const groups = [((b[0] ^ 0x02) << 8) | b[1], (b[2] << 8) | 0xff, (0xfe << 8) | b[3], (b[4] << 8) | b[5]];
  return `fe80::${groups.map((g) => g.toString(16)).join(':')}`;
}

/**
 * From the VM, only its MAC with its fixed IPs (and its allowed address pairs) may speak; DHCP discovery
 * (0.0.0.0 → broadcast) and IPv6 DAD from :: are allowed; it may not act as a DHCP server or a router; frames of
 * other ethertypes (VLAN tags included) are dropped.
 */
function spoofRules(p: RealizedPort): string[] {
  const mac = p.mac.toLowerCase();
  const v4 = p.fixedIps.map((f) => f.ip).filter((ip) => !ip.includes(':'));
  const v6 = [linkLocalOf(mac), ...p.fixedIps.map((f) => f.ip).filter((ip) => ip.includes(':'))];
  const pairs = p.allowedAddressPairs.map((a) => ({
    ip: a.ipAddress,
    mac: (a.macAddress || mac).toLowerCase(),
  }));
  const set = (xs: string[]) => (xs.length === 1 ? xs[0] : `{ ${xs.join(', ')} }`);
  const r: string[] = [];
  // ARP: probes (sender 0.0.0.0) and the port's own addresses only.
  r.push(`ether type arp ether saddr ${mac} arp saddr ether ${mac} arp saddr ip 0.0.0.0 return`);
  if (v4.length)
    r.push(`ether type arp ether saddr ${mac} arp saddr ether ${mac} arp saddr ip ${set(v4)} return`);
  for (const a of pairs.filter((x) => !x.ip.includes(':')))
    r.push(`ether type arp ether saddr ${a.mac} arp saddr ether ${a.mac} arp saddr ip ${a.ip} return`);
  r.push('ether type arp drop');
  // IPv4
  r.push('ether type ip udp sport 67 drop');
  r.push(
    `ether type ip ether saddr ${mac} ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return`,
  );
  if (v4.length) r.push(`ether type ip ether saddr ${mac} ip saddr ${set(v4)} return`);
  for (const a of pairs.filter((x) => !x.ip.includes(':')))
    r.push(`ether type ip ether saddr ${a.mac} ip saddr ${a.ip} return`);
  r.push('ether type ip drop');
  // IPv6
  r.push('ether type ip6 udp sport 547 drop');
  r.push('ether type ip6 icmpv6 type nd-router-advert drop');
  r.push(
    `ether type ip6 ether saddr ${mac} ip6 saddr :: icmpv6 type { mld-listener-report, nd-neighbor-solicit, mld2-listener-report } return`,
  );
  r.push(`ether type ip6 ether saddr ${mac} ip6 saddr ${set(v6)} return`);
  for (const a of pairs.filter((x) => x.ip.includes(':')))
    r.push(`ether type ip6 ether saddr ${a.mac} ip6 saddr ${a.ip} return`);
  r.push('ether type ip6 drop');
  r.push('drop');
  return r;
}

async function defaultSysctl(key: string, value: string): Promise<void> {
  const path = `/proc/sys/${key.replace(/\./g, '/')}`;
  const current = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (current !== value) await writeFile(path, value);
}

/** Replaces the whole firewall with one for these ports, atomically (one nft transaction). */
export async function syncFirewall(ports: RealizedPort[], opts: FirewallOptions): Promise<void> {
  const script = buildRuleset(ports);
  if (ports.some((p) => p.portSecurityEnabled)) {
    const sysctl = opts.sysctl ?? defaultSysctl;
    await sysctl('net.bridge.bridge-nf-call-iptables', '1');
    await sysctl('net.bridge.bridge-nf-call-ip6tables', '1');
  }
  await opts.nft(['-f', '-'], script);
}

/** Removes everything syncFirewall installed. */
export async function removeFirewall(opts: FirewallOptions): Promise<void> {
  await opts.nft(['-f', '-'], `${DELETE_TABLES.join('\n')}\n`);
}
