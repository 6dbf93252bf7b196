import { isoSecondsZ } from '../../common/time.js';
import type { Member } from './service.js';

/** Glance's _format_image_member. */
export function memberView(m: Member): Record<string, unknown> {
  return {
    member_id: m.memberId,
    image_id: m.imageId,
    status: m.status,
    created_at: isoSecondsZ(m.createdAt),
    updated_at: isoSecondsZ(m.updatedAt),
    schema: '/v2/schemas/member',
  };
}
