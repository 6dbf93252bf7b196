import { fromJson, toBool } from '../../db/columns.js';
import { ownerView } from '../common/auth.js';
import { standardView, type StandardRow } from '../common/standard-attrs.js';

export interface PortRow extends StandardRow {
  id: string;
  project_id: string;
  network_id: string;
  name: string;
  mac_address: string;
  admin_state_up: unknown;
  status: string;
  device_id: string;
  device_owner: string;
  port_security_enabled: unknown;
  binding_host_id: string;
  binding_vnic_type: string;
  binding_profile: string;
}

export interface PortExtra {
  fixedIps: { subnet_id: string; ip_address: string }[];
  pairs: { ip_address: string; mac_address: string }[];
  securityGroups: string[];
  tags: string[];
}

/** A port as ML2 + linuxbridge show it; binding:* except vnic_type only to admins (get_port:binding:*). */
export function portView(row: PortRow, extra: PortExtra, admin: boolean): Record<string, unknown> {
  const bound = row.binding_host_id !== '';
  return {
    id: row.id,
    name: row.name,
    network_id: row.network_id,
    ...ownerView(row.project_id),
    mac_address: row.mac_address,
    admin_state_up: toBool(row.admin_state_up),
    status: row.status,
    device_id: row.device_id,
    device_owner: row.device_owner,
    fixed_ips: extra.fixedIps,
    allowed_address_pairs: extra.pairs,
    security_groups: extra.securityGroups,
    port_security_enabled: toBool(row.port_security_enabled),
    'binding:vnic_type': row.binding_vnic_type,
    ...(admin
      ? {
          'binding:host_id': row.binding_host_id,
          'binding:vif_type': bound ? 'bridge' : 'unbound',
          'binding:vif_details': bound ? { port_filter: true, connectivity: 'l2' } : {},
          'binding:profile': fromJson<Record<string, unknown>>(row.binding_profile, {}),
        }
      : {}),
    ...standardView(row, extra.tags),
  };
}
