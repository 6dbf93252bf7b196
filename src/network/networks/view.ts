import { toBool, fromJson } from '../../db/columns.js';
import { ownerView } from '../common/auth.js';
import { standardView, type StandardRow } from '../common/standard-attrs.js';

export interface NetworkRow extends StandardRow {
  id: string;
  project_id: string;
  name: string;
  admin_state_up: unknown;
  status: string;
  shared: unknown;
  router_external: unknown;
  mtu: number | string;
  port_security_enabled: unknown;
  availability_zone_hints: string;
  network_type: string;
  physical_network: string;
  segmentation_id: number | string | null;
}

/** A network as ML2 shows it; provider:* only to admins (get_network:provider:* is admin_only). */
export function networkView(
  row: NetworkRow,
  extra: { subnets: string[]; tags: string[] },
  admin: boolean,
): Record<string, unknown> {
  return {
    id: row.id,
    name: row.name,
    ...ownerView(row.project_id),
    admin_state_up: toBool(row.admin_state_up),
    status: row.status,
    subnets: extra.subnets,
    shared: toBool(row.shared),
    'router:external': toBool(row.router_external),
    mtu: Number(row.mtu),
    port_security_enabled: toBool(row.port_security_enabled),
    availability_zone_hints: fromJson<string[]>(row.availability_zone_hints, []),
    availability_zones: ['nova'],
    ipv4_address_scope: null,
    ipv6_address_scope: null,
    l2_adjacency: true,
    is_default: false,
    ...(admin
      ? {
          'provider:network_type': row.network_type,
          // VXLAN networks are stored with '' (segments.ts TUNNEL_PHYSNET): Neutron shows null
          'provider:physical_network': row.physical_network || null,
          'provider:segmentation_id': row.segmentation_id === null ? null : Number(row.segmentation_id),
        }
      : {}),
    ...standardView(row, extra.tags),
  };
}
