import type { Microversion } from '../../common/microversion.js';
import { isoMicrosNoZ } from '../../common/time.js';
import type { Aggregate } from './service.js';

/** An aggregate as Nova marshals it; create's answer has no hosts and metadata. */
export function aggregateView(
  a: Aggregate,
  mv: Microversion,
  opts: { create?: boolean } = {},
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    availability_zone: a.metadata.availability_zone ?? null,
    created_at: isoMicrosNoZ(a.createdAt),
    deleted: false, // deleted aggregates are removed
    deleted_at: null,
    id: a.id,
    name: a.name,
    updated_at: a.updatedAt === null ? null : isoMicrosNoZ(a.updatedAt),
  };
  if (!opts.create) {
    body.hosts = a.hosts;
    body.metadata = a.metadata;
  }
  if (mv.atLeast('2.41')) body.uuid = a.uuid; // 2.41
  return body;
}
