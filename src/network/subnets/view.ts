import { toBool } from '../../db/columns.js';
import { ownerView } from '../common/auth.js';
import { standardView, type StandardRow } from '../common/standard-attrs.js';

export interface SubnetRow extends StandardRow {
  id: string;
  project_id: string;
  network_id: string;
  name: string;
  ip_version: number | string;
  cidr: string;
  gateway_ip: string | null;
  enable_dhcp: unknown;
}

export interface SubnetExtra {
  pools: { start: string; end: string }[];
  dns: string[];
  routes: { destination: string; nexthop: string }[];
  tags: string[];
}

export function subnetView(row: SubnetRow, extra: SubnetExtra, admin: boolean): Record<string, unknown> {
  return {
    id: row.id,
    name: row.name,
    network_id: row.network_id,
    ...ownerView(row.project_id),
    ip_version: Number(row.ip_version),
    cidr: row.cidr,
    gateway_ip: row.gateway_ip,
    allocation_pools: extra.pools,
    dns_nameservers: extra.dns,
    host_routes: extra.routes,
    enable_dhcp: toBool(row.enable_dhcp),
    ipv6_ra_mode: null,
    ipv6_address_mode: null,
    subnetpool_id: null,
    service_types: [],
    ...(admin ? { segment_id: null } : {}),
    ...standardView(row, extra.tags),
  };
}
