/**
 * IP protocols as neutron-lib names them (constants.IP_PROTOCOL_MAP), shared by the API (validation,
 * duplicate detection) and the host firewall (names → numbers for nftables).
 */
export const IP_PROTOCOL_MAP: Readonly<Record<string, number>> = {
  ah: 51,
  dccp: 33,
  egp: 8,
  esp: 50,
  gre: 47,
  hopopt: 0,
  icmp: 1,
  igmp: 2,
  ip: 0,
  ipip: 4,
  'ipv6-encap': 41,
  'ipv6-frag': 44,
  'ipv6-icmp': 58,
  icmpv6: 58, // legacy name, kept by Neutron for compatibility
  'ipv6-nonxt': 59,
  'ipv6-opts': 60,
  'ipv6-route': 43,
  ospf: 89,
  pgm: 113,
  rsvp: 46,
  sctp: 132,
  tcp: 6,
  udp: 17,
  udplite: 136,
  vrrp: 112,
};

/** Protocols with ports (neutron/common/_constants.py SG_PORT_PROTO_NUMS). */
export const PORT_PROTOCOL_NUMBERS: readonly number[] = [33, 132, 6, 17, 136];
export const PORT_PROTOCOL_NAMES: readonly string[] = ['dccp', 'sctp', 'tcp', 'udp', 'udplite'];

/** Protocols that only exist for IPv6 (a rule with ethertype IPv4 and one of these is refused). */
export const IPV6_ONLY_PROTOCOLS: readonly string[] = [
  'ipv6-encap',
  'ipv6-frag',
  'ipv6-icmp',
  'icmpv6',
  'ipv6-nonxt',
  'ipv6-opts',
  'ipv6-route',
  '41',
  '44',
  '58',
  '59',
  '60',
  '43',
];

/** The protocol number of a stored protocol (name or number text); null for "any". */
export function protocolNumber(protocol: string | null, ethertype?: 'IPv4' | 'IPv6'): number | null {
  if (protocol === null || protocol === 'any') return null;
  const n = protocol in IP_PROTOCOL_MAP ? IP_PROTOCOL_MAP[protocol] : Number(protocol);
  // Neutron treats icmp (1) on an IPv6 rule as ipv6-icmp (58).
  return ethertype === 'IPv6' && n === 1 ? 58 : n;
}

/** neutron's sg_supported_protocols in Python's tuple repr, for the error message. */
export const SUPPORTED_PROTOCOLS_REPR = `(None, 'any', ${Object.keys(IP_PROTOCOL_MAP)
  .map((p) => `'${p}'`)
  .join(', ')})`;
