import { any, bool, dict, list, str, type Attr } from '../common/attrs.js';
import { invalidAttribute } from '../common/errors.js';

const vnicType: Attr = (v, name) => {
  if (v !== 'normal')
    throw invalidAttribute(name, `'${String(v)}' is not in ['normal'] (kvmstack wires normal ports only)`);
  return v;
};

const editable: Record<string, Attr> = {
  name: str(255),
  description: str(255),
  admin_state_up: bool,
  mac_address: str(32),
  fixed_ips: any,
  device_id: str(255),
  device_owner: str(255),
  security_groups: list(str(36)),
  port_security_enabled: bool,
  allowed_address_pairs: any,
  'binding:host_id': str(255),
  'binding:vnic_type': vnicType,
  'binding:profile': dict,
};

export const createAttrs: Record<string, Attr> = {
  ...editable,
  network_id: str(36),
  tenant_id: str(255),
  project_id: str(255),
  tags: any,
};

export const updateAttrs: Record<string, Attr> = editable;
