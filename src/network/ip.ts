/** IPv4 arithmetic for subnets and IPAM: addresses as unsigned 32-bit integers. */

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export const isIPv4 = (s: string): boolean => V4.test(s);
export const looksIPv6 = (s: string): boolean => s.includes(':');

export function ipToInt(s: string): number {
  return s.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  /** Network address as an integer. */
  network: number;
  prefix: number;
  /** Broadcast (last) address. */
  last: number;
  text: string;
}

/** Parses "a.b.c.d/n"; null when malformed. `exact` reports whether host bits were clear. */
export function parseCidr(s: string): { cidr: Cidr; exact: boolean } | null {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m || !isIPv4(m[1]) || Number(m[2]) > 32) return null;
  const prefix = Number(m[2]);
  const addr = ipToInt(m[1]);
  const size = 2 ** (32 - prefix);
  const network = addr - (addr % size);
  return {
    cidr: { network, prefix, last: network + size - 1, text: `${intToIp(network)}/${prefix}` },
    exact: network === addr,
  };
}

export const inCidr = (ip: number, c: Cidr): boolean => ip >= c.network && ip <= c.last;
export const cidrsOverlap = (a: Cidr, b: Cidr): boolean => a.network <= b.last && b.network <= a.last;

/** The usable host range: a /31 and /32 have no network or broadcast address to skip (RFC 3021). */
export function hostRange(c: Cidr): { first: number; last: number } {
  if (c.prefix >= 31) return { first: c.network, last: c.last };
  return { first: c.network + 1, last: c.last - 1 };
}
