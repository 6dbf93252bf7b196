import { toBool } from '../../db/columns.js';
import { ownerView } from '../common/auth.js';
import { standardView, type StandardRow } from '../common/standard-attrs.js';
import { parsePrefix } from './schemas.js';

export interface GroupRow extends StandardRow {
  id: string;
  project_id: string;
  name: string;
  stateful: unknown;
}

export interface RuleRow extends StandardRow {
  id: string;
  project_id: string;
  security_group_id: string;
  direction: string;
  ethertype: string;
  protocol: string | null;
  port_range_min: number | string | null;
  port_range_max: number | string | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
}

const intOrNull = (v: number | string | null): number | null => (v === null ? null : Number(v));

/**
 * A rule as Neutron's _make_security_group_rule_dict shows it. Rules are not taggable (standard-attr-tag
 * covers groups, not rules), so no `tags`. `belongs_to_default_sg` is the
 * security-groups-rules-belongs-to-default-sg attribute.
 */
export function ruleView(row: RuleRow, inDefaultGroup: boolean): Record<string, unknown> {
  const { tags: _tags, ...standard } = standardView(row, []);
  return {
    id: row.id,
    ...ownerView(row.project_id),
    security_group_id: row.security_group_id,
    ethertype: row.ethertype,
    direction: row.direction,
    protocol: row.protocol,
    port_range_min: intOrNull(row.port_range_min),
    port_range_max: intOrNull(row.port_range_max),
    remote_ip_prefix: row.remote_ip_prefix,
    remote_address_group_id: null,
    normalized_cidr: row.remote_ip_prefix ? (parsePrefix(row.remote_ip_prefix)?.cidr ?? null) : null,
    remote_group_id: row.remote_group_id,
    belongs_to_default_sg: inDefaultGroup,
    ...standard,
  };
}

/** A group as Neutron shows it, with its rules; `shared` is false (we have no RBAC for groups). */
export function groupView(
  row: GroupRow,
  rules: Record<string, unknown>[],
  tags: string[],
): Record<string, unknown> {
  return {
    id: row.id,
    name: row.name,
    ...ownerView(row.project_id),
    stateful: toBool(row.stateful),
    shared: false,
    security_group_rules: rules,
    ...standardView(row, tags),
  };
}
