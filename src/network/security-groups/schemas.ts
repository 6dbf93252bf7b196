/**
 * Request attributes of security groups and rules, converted as neutron/extensions/securitygroup.py does
 * (convert_protocol, convert_ethertype_to_case_insensitive, convert_validate_port_value,
 * convert_ip_prefix_to_cidr, the name_not_default validator). Conversion failures are the API layer's
 * HTTPBadRequest with the extension's message, as Neutron renders them.
 */
import ipaddr from 'ipaddr.js';
import { any, bool, nullable, str, type Attr } from '../common/attrs.js';
import { badRequest, conflict, invalidAttribute } from '../common/errors.js';
import { IP_PROTOCOL_MAP, SUPPORTED_PROTOCOLS_REPR } from './protocols.js';

const repr = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** A group may not be called "default" (any case): that name belongs to the project's default group. */
const nameNotDefault: Attr = (v, name) => {
  const s = str(255)(v, name) as string;
  if (s.toLowerCase() === 'default')
    throw conflict('SecurityGroupDefaultAlreadyExists', 'Default security group already exists.');
  return s;
};

/** null/"any" → null; a number 0–255 → its text; a known name (any case) → lower case. */
const protocol: Attr = (v) => {
  if (v === null || v === 'any') return null;
  const bad = () =>
    badRequest(
      `Security group rule protocol ${repr(v)} not supported. Only protocol values ${SUPPORTED_PROTOCOLS_REPR} and integer representations [0 to 255] are supported.`,
    );
  if (typeof v === 'number' || (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v))) {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 255) throw bad();
    return String(n);
  }
  if (typeof v === 'string' && v.toLowerCase() in IP_PROTOCOL_MAP) return v.toLowerCase();
  throw bad();
};

const ethertype: Attr = (v) => {
  if (typeof v === 'string') {
    for (const e of ['IPv4', 'IPv6']) if (e.toLowerCase() === v.toLowerCase()) return e;
  }
  throw badRequest(
    `Security group rule for ethertype '${repr(v)}' not supported. Allowed values are ['IPv4', 'IPv6'].`,
  );
};

const direction: Attr = (v, name) => {
  if (v === 'ingress' || v === 'egress') return v;
  throw invalidAttribute(name, `'${repr(v)}' is not in ['ingress', 'egress']`);
};

/** oslo netutils.is_valid_port: an integer (or its text) 0–65535. */
const portValue: Attr = (v) => {
  if (v === null) return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (Number.isInteger(n) && n >= 0 && n <= 65535) return n;
  throw badRequest(`Invalid value for port ${repr(v)}`);
};

/** A remote prefix: an address or a CIDR, kept with its host bits as netaddr's str(IPNetwork) does. */
export interface Prefix {
  /** As stored and shown in remote_ip_prefix: "10.0.0.5/24", "2001:db8::/64". */
  text: string;
  /** normalized_cidr: the network, "10.0.0.0/24". */
  cidr: string;
  version: 4 | 6;
}

export function parsePrefix(input: string): Prefix | null {
  const [addrText, lenText, extra] = input.trim().split('/');
  if (extra !== undefined || !addrText) return null;
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  if (ipaddr.IPv4.isValidFourPartDecimal(addrText)) addr = ipaddr.IPv4.parse(addrText);
  else if (addrText.includes(':') && ipaddr.IPv6.isValid(addrText)) addr = ipaddr.IPv6.parse(addrText);
  else return null;
  const max = addr.kind() === 'ipv4' ? 32 : 128;
  if (lenText !== undefined && !/^\d{1,3}$/.test(lenText)) return null;
  const len = lenText === undefined ? max : Number(lenText);
  if (len > max) return null;
  const network =
    addr.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${len}`)
      : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${len}`);
  return {
    text: `${addr.toString()}/${len}`,
    cidr: `${network.toString()}/${len}`,
    version: addr.kind() === 'ipv4' ? 4 : 6,
  };
}

const ipPrefix: Attr = (v) => {
  if (v === null || v === '') return null;
  const p = typeof v === 'string' ? parsePrefix(v) : null;
  if (!p) throw badRequest(`Invalid CIDR ${repr(v)} given as IP prefix.`, 'InvalidCIDR');
  return p.text;
};

export const groupCreateAttrs: Record<string, Attr> = {
  name: nameNotDefault,
  description: str(255),
  tenant_id: str(255),
  project_id: str(255),
  stateful: bool,
  tags: any,
};

export const groupUpdateAttrs: Record<string, Attr> = {
  name: nameNotDefault,
  description: str(255),
  stateful: bool,
};

export const ruleCreateAttrs: Record<string, Attr> = {
  security_group_id: str(36),
  direction,
  ethertype,
  protocol,
  port_range_min: portValue,
  port_range_max: portValue,
  remote_ip_prefix: ipPrefix,
  remote_group_id: nullable(str(36)),
  remote_address_group_id: nullable(str(36)),
  description: str(255),
  tenant_id: str(255),
  project_id: str(255),
};

/** Neutron's "Failed to parse request. Required attribute 'x' not specified" for missing POST attributes. */
export function requireAttrs(attrs: Record<string, unknown>, names: string[]): void {
  for (const n of names)
    if (attrs[n] === undefined)
      throw badRequest(`Failed to parse request. Required attribute '${n}' not specified`);
}
