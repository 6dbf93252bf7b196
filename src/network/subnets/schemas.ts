import { any, bool, int, list, nullable, str, type Attr } from '../common/attrs.js';
import { invalidAttribute } from '../common/errors.js';

const nullOnly: Attr = (v, name) => {
  if (v !== null) throw invalidAttribute(name, `'${String(v)}' is not supported by kvmstack (only null)`);
  return null;
};
const emptyList: Attr = (v, name) => {
  if (!Array.isArray(v) || v.length)
    throw invalidAttribute(name, `'${JSON.stringify(v)}' is not supported by kvmstack (only [])`);
  return [];
};
const falseOnly: Attr = (v, name) => {
  if (v !== false)
    throw invalidAttribute(name, `'${String(v)}' is not supported by kvmstack (no subnet pools)`);
  return false;
};

const editable: Record<string, Attr> = {
  name: str(255),
  description: str(255),
  gateway_ip: nullable(str(64)),
  allocation_pools: any,
  dns_nameservers: list(str(128)),
  host_routes: any,
  enable_dhcp: bool,
};

export const createAttrs: Record<string, Attr> = {
  ...editable,
  network_id: str(36),
  ip_version: int(),
  cidr: str(64),
  tenant_id: str(255),
  project_id: str(255),
  subnetpool_id: nullOnly,
  use_default_subnetpool: falseOnly,
  ipv6_ra_mode: nullOnly,
  ipv6_address_mode: nullOnly,
  segment_id: nullOnly,
  service_types: emptyList,
  tags: any,
};

export const updateAttrs: Record<string, Attr> = {
  ...editable,
  service_types: emptyList,
  segment_id: nullOnly,
};
