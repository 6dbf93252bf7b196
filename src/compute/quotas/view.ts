/** Quota-set and quota-class-set bodies as Nova's quota_sets.py / quota_classes.py format them. */
import type { Microversion } from '../../common/microversion.js';
import { INJECTED_QUOTAS, NETWORK_QUOTAS } from './schemas.js';
import { QUOTA_RESOURCES, type QuotaResource } from './service.js';

/** Quota sets: the nova-network resources go at 2.36, the personality ones at 2.57. */
function quotaSetFiltered(mv: Microversion): QuotaResource[] {
  if (mv.atLeast('2.57')) return [...NETWORK_QUOTAS, ...INJECTED_QUOTAS];
  if (mv.atLeast('2.36')) return NETWORK_QUOTAS;
  return [];
}

/** {"quota_set": {"id"?, resource: value...}}: id on show, detail and defaults, not on update (as Nova). */
export function quotaSetView<T>(
  values: Record<QuotaResource, T>,
  mv: Microversion,
  id: string | null,
): Record<string, unknown> {
  const filtered = quotaSetFiltered(mv);
  const body: Record<string, unknown> = id === null ? {} : { id };
  for (const r of QUOTA_RESOURCES) if (!filtered.includes(r)) body[r] = values[r];
  return { quota_set: body };
}

/**
 * Quota classes: before 2.50 without the server-group resources and with the nova-network ones; 2.50 swaps
 * them; 2.57 drops the personality ones.
 */
export function quotaClassSetView(
  values: Record<QuotaResource, number>,
  mv: Microversion,
  id: string | null,
): Record<string, unknown> {
  let filtered: QuotaResource[] = ['server_groups', 'server_group_members'];
  if (mv.atLeast('2.57')) filtered = [...NETWORK_QUOTAS, ...INJECTED_QUOTAS];
  else if (mv.atLeast('2.50')) filtered = NETWORK_QUOTAS;
  const body: Record<string, unknown> = id === null ? {} : { id };
  for (const r of QUOTA_RESOURCES) if (!filtered.includes(r)) body[r] = values[r];
  return { quota_class_set: body };
}
