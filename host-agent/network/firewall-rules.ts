/**
 * One security group rule as nftables matches (bridge family, inside a per-tap chain). A matching packet starts a
 * new connection the port allows: the rule's verdict is `return` (the frame goes on to the other tap's chain, if
 * any; the base chain then accepts it).
 */
import type { RealizedRule } from '../../src/network/realization.js';
import { PORT_PROTOCOL_NUMBERS, protocolNumber } from '../../src/network/security-groups/protocols.js';

const isV6 = (prefix: string) => prefix.includes(':');
const ANY = new Set(['0.0.0.0/0', '::/0']);

/** nft text for the rules of one direction; rules that can match nothing (an empty remote group) are left out. */
export function renderRules(rules: RealizedRule[], direction: 'ingress' | 'egress'): string[] {
  const out: string[] = [];
  for (const r of rules) {
    if (r.direction !== direction) continue;
    const line = renderRule(r);
    if (line !== null && !out.includes(line)) out.push(line);
  }
  return out;
}

export function renderRule(r: RealizedRule): string | null {
  const v6 = r.ethertype === 'IPv6';
  const parts = [v6 ? 'ether type ip6' : 'ether type ip'];
  if (r.remotePrefixes !== null) {
    const prefixes = r.remotePrefixes.filter((p) => isV6(p) === v6);
    if (!prefixes.length) return null;
    if (!prefixes.some((p) => ANY.has(p))) {
      // Ingress rules name who may connect to the VM, egress rules where the VM may connect to.
      const side = r.direction === 'ingress' ? 'saddr' : 'daddr';
      const set = prefixes.length === 1 ? prefixes[0] : `{ ${prefixes.join(', ')} }`;
      parts.push(`${v6 ? 'ip6' : 'ip'} ${side} ${set}`);
    }
  }
  const proto = protocolNumber(r.protocol, r.ethertype);
  if (proto !== null) {
    parts.push(`meta l4proto ${proto}`);
    if (PORT_PROTOCOL_NUMBERS.includes(proto)) {
      if (r.portRangeMin !== null && r.portRangeMax !== null)
        parts.push(
          `th dport ${r.portRangeMin === r.portRangeMax ? r.portRangeMin : `${r.portRangeMin}-${r.portRangeMax}`}`,
        );
    } else if (proto === 1 || proto === 58) {
      const icmp = proto === 58 ? 'icmpv6' : 'icmp';
      if (r.portRangeMin !== null) parts.push(`${icmp} type ${r.portRangeMin}`);
      if (r.portRangeMin !== null && r.portRangeMax !== null) parts.push(`${icmp} code ${r.portRangeMax}`);
    }
  }
  parts.push('return');
  return parts.join(' ');
}
