import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { RealizedPort, RealizedRule } from '../../../src/network/realization.js';
import {
  buildRuleset,
  linkLocalOf,
  removeFirewall,
  syncFirewall,
  TABLE,
} from '../../../host-agent/network/firewall.js';
import { renderRule, renderRules } from '../../../host-agent/network/firewall-rules.js';

const SAMPLES = fileURLToPath(new URL('../../../../test/samples/host-agent/', import.meta.url));

/** Compares with test/samples/host-agent/NAME byte for byte; UPDATE_GOLDEN=1 rewrites the file instead. */
function golden(name: string, actual: string): void {
  const file = SAMPLES + name;
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(SAMPLES, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(
    existsSync(file),
    `golden file ${file} is missing (run with UPDATE_GOLDEN=1 once, then review it)`,
  );
  assert.equal(actual, readFileSync(file, 'utf8'));
}

const rule = (r: Partial<RealizedRule>): RealizedRule => ({
  direction: 'ingress',
  ethertype: 'IPv4',
  protocol: null,
  portRangeMin: null,
  portRangeMax: null,
  remotePrefixes: null,
  ...r,
});

const portA: RealizedPort = {
  id: 'aaaaaaaa-0000-4000-8000-000000000001',
  mac: 'FA:16:3E:00:00:0A',
  tap: 'tapaaaaaaaa-00',
  fixedIps: [
    { subnetId: 's4', ip: '10.9.0.10', prefixLen: 24 },
    { subnetId: 's6', ip: '2001:db8::a', prefixLen: 64 },
  ],
  adminStateUp: true,
  portSecurityEnabled: true,
  allowedAddressPairs: [
    { ipAddress: '10.9.0.100', macAddress: 'fa:16:3e:00:00:aa' },
    { ipAddress: '2001:db8::/120', macAddress: '' },
  ],
  rules: [
    rule({ direction: 'egress' }),
    rule({ direction: 'egress', ethertype: 'IPv6' }),
    rule({
      protocol: 'tcp',
      portRangeMin: 22,
      portRangeMax: 22,
      remotePrefixes: ['10.9.0.11/32', '10.9.0.12/32'],
    }),
    rule({ protocol: 'icmp', portRangeMin: 8, portRangeMax: 0 }),
    rule({ ethertype: 'IPv6', protocol: 'ipv6-icmp' }),
  ],
};
const portOff: RealizedPort = {
  ...portA,
  id: 'bbbbbbbb-0000-4000-8000-000000000002',
  tap: 'tapbbbbbbbb-00',
  portSecurityEnabled: false,
  rules: [],
};

describe('host firewall ruleset (nftables)', () => {
  it('golden ruleset: anti-spoofing, stateful per-tap chains, ports without port security left out', () => {
    const text = buildRuleset([portA, portOff]);
    golden('firewall-ruleset.nft', text);
    assert.ok(!text.includes('tapbbbbbbbb'), 'port security off: no chain, no map element');
    // One script that deletes and recreates both tables: atomic in one nft transaction.
    assert.ok(text.startsWith(`table bridge ${TABLE}\ndelete table bridge ${TABLE}\n`));
  });

  it('no filtered port: the script only removes the tables', () => {
    assert.equal(
      buildRuleset([portOff]),
      `table bridge ${TABLE}\ndelete table bridge ${TABLE}\ntable inet ${TABLE}\ndelete table inet ${TABLE}\n`,
    );
  });

  it('rules: protocols, ranges, ICMP type/code, remote prefixes per family, empty remote groups', () => {
    assert.equal(
      renderRule(rule({ protocol: 'udp', portRangeMin: 1000, portRangeMax: 2000 })),
      'ether type ip meta l4proto 17 th dport 1000-2000 return',
    );
    assert.equal(
      renderRule(
        rule({
          direction: 'egress',
          protocol: '6',
          portRangeMin: 443,
          portRangeMax: 443,
          remotePrefixes: ['192.0.2.0/24'],
        }),
      ),
      'ether type ip ip daddr 192.0.2.0/24 meta l4proto 6 th dport 443 return',
    );
    assert.equal(
      renderRule(rule({ ethertype: 'IPv6', protocol: 'icmp', portRangeMin: 128 })),
      'ether type ip6 meta l4proto 58 icmpv6 type 128 return',
    );
    assert.equal(
      renderRule(rule({ protocol: 'icmp', portRangeMin: 3, portRangeMax: 4 })),
      'ether type ip meta l4proto 1 icmp type 3 icmp code 4 return',
    );
    assert.equal(renderRule(rule({ protocol: 'gre' })), 'ether type ip meta l4proto 47 return');
    assert.equal(renderRule(rule({ protocol: '112' })), 'ether type ip meta l4proto 112 return');
    assert.equal(renderRule(rule({ remotePrefixes: ['0.0.0.0/0'] })), 'ether type ip return');
    assert.equal(renderRule(rule({ remotePrefixes: [] })), null, 'an empty remote group matches nothing');
    assert.equal(renderRule(rule({ remotePrefixes: ['2001:db8::1/128'] })), null, 'no IPv4 member');
    assert.equal(
      renderRule(rule({ ethertype: 'IPv6', remotePrefixes: ['10.0.0.1/32', '2001:db8::1/128'] })),
      'ether type ip6 ip6 saddr 2001:db8::1/128 return',
    );
    // Two groups with the same rule: realized once.
    assert.deepEqual(
      renderRules(
        [rule({ protocol: 'tcp' }), rule({ protocol: 'tcp' }), rule({ direction: 'egress' })],
        'ingress',
      ),
      ['ether type ip meta l4proto 6 return'],
    );
  });

  it('link-local addresses by EUI-64; tap names are checked before they reach nft', () => {
    assert.equal(linkLocalOf('fa:16:3e:00:00:0a'), 'fe80::f816:3eff:fe00:a');
    assert.equal(linkLocalOf('00:00:5e:00:53:01'), 'fe80::200:5eff:fe00:5301');
    assert.throws(() => buildRuleset([{ ...portA, tap: 'tap"; flush ruleset' }]), /invalid tap device name/);
  });

  it('sync: one nft call with the script on stdin, br_netfilter switched on only when something is filtered', async () => {
    const calls: { args: string[]; stdin?: string }[] = [];
    const sysctls: string[] = [];
    const opts = {
      nft: async (args: string[], stdin?: string) => {
        calls.push({ args, stdin });
        return '';
      },
      sysctl: async (k: string, v: string) => {
        sysctls.push(`${k}=${v}`);
      },
    };
    await syncFirewall([portA, portOff], opts);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0].args, ['-f', '-']);
    assert.equal(calls[0].stdin, buildRuleset([portA, portOff]));
    assert.deepEqual(sysctls, [
      'net.bridge.bridge-nf-call-iptables=1',
      'net.bridge.bridge-nf-call-ip6tables=1',
    ]);
    await syncFirewall([portOff], opts);
    assert.equal(sysctls.length, 2);
    await removeFirewall(opts);
    assert.equal(calls.at(-1)?.stdin, buildRuleset([]));
  });
});
