import { any, bool, int, list, nullable, str, type Attr } from '../common/attrs.js';

const common: Record<string, Attr> = {
  name: str(255),
  description: str(255),
  admin_state_up: bool,
  shared: bool,
  'router:external': bool,
  mtu: int(0),
  port_security_enabled: bool,
  'provider:network_type': str(255),
  'provider:physical_network': nullable(str(64)),
  'provider:segmentation_id': nullable(int()),
};

/** POST /v2.0/networks attributes (ML2 with provider, external-net, net-mtu-writable, port-security, tags). */
export const createAttrs: Record<string, Attr> = {
  ...common,
  tenant_id: str(255),
  project_id: str(255),
  availability_zone_hints: list(str(255)),
  tags: any,
  is_default: bool,
};

/** PUT /v2.0/networks/{id}. */
export const updateAttrs: Record<string, Attr> = { ...common, is_default: bool };
