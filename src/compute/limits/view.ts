/** The absolute limits as Nova's views/limits.py builds them, per microversion. */
import type { Microversion } from '../../common/microversion.js';
import type { Limits } from '../quotas/service.js';

/** Quota resource → the absolute limits it shows as (metadata_items is both server and image metadata). */
const LIMIT_NAMES: [keyof Limits, string[]][] = [
  ['ram', ['maxTotalRAMSize']],
  ['instances', ['maxTotalInstances']],
  ['cores', ['maxTotalCores']],
  ['key_pairs', ['maxTotalKeypairs']],
  ['floating_ips', ['maxTotalFloatingIps']],
  ['metadata_items', ['maxServerMeta', 'maxImageMeta']],
  ['injected_files', ['maxPersonality']],
  ['injected_file_content_bytes', ['maxPersonalitySize']],
  ['security_groups', ['maxSecurityGroups']],
  ['security_group_rules', ['maxSecurityGroupRules']],
  ['server_groups', ['maxServerGroups']],
  ['server_group_members', ['maxServerGroupMembers']],
];

const USED_NAMES: [string, keyof Limits][] = [
  ['totalRAMUsed', 'ram'],
  ['totalCoresUsed', 'cores'],
  ['totalInstancesUsed', 'instances'],
  ['totalFloatingIpsUsed', 'floating_ips'],
  ['totalSecurityGroupsUsed', 'security_groups'],
  ['totalServerGroupsUsed', 'server_groups'],
];

/** 2.36 drops the nova-network limits, 2.39 maxImageMeta, 2.57 the personality limits. */
function filtered(mv: Microversion): (keyof Limits)[] {
  const network: (keyof Limits)[] = ['floating_ips', 'security_groups', 'security_group_rules'];
  if (mv.atLeast('2.57')) return [...network, 'injected_files', 'injected_file_content_bytes'];
  if (mv.atLeast('2.36')) return network;
  return [];
}

export function limitsView(limits: Limits, usage: Limits, mv: Microversion): Record<string, unknown> {
  const skip = filtered(mv);
  const absolute: Record<string, number> = {};
  for (const [resource, names] of LIMIT_NAMES) {
    if (skip.includes(resource)) continue;
    for (const name of names)
      if (name !== 'maxImageMeta' || !mv.atLeast('2.39')) absolute[name] = limits[resource];
  }
  for (const [name, resource] of USED_NAMES) if (!skip.includes(resource)) absolute[name] = usage[resource];
  return { limits: { rate: [], absolute } };
}
