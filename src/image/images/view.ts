import { isoSecondsZ } from '../../common/time.js';
import type { Image } from './model.js';

/**
 * An image as Glance's ResponseSerializer._format_image writes it: the free-form properties first, then the
 * attributes; times RFC 3339 with Z and no fraction; self/file/schema relative to the image endpoint, as Glance.
 * No `locations` or `direct_url` (Glance's show_multiple_locations / show_image_direct_url are off by default).
 */
export function imageView(image: Image): Record<string, unknown> {
  return {
    ...image.properties,
    name: image.name,
    disk_format: image.diskFormat,
    container_format: image.containerFormat,
    visibility: image.visibility,
    size: image.size,
    virtual_size: image.virtualSize,
    status: image.status,
    checksum: image.checksum,
    protected: image.protected,
    min_ram: image.minRam,
    min_disk: image.minDisk,
    owner: image.owner,
    os_hidden: image.osHidden,
    os_hash_algo: image.osHashAlgo,
    os_hash_value: image.osHashValue,
    id: image.id,
    created_at: isoSecondsZ(image.createdAt),
    updated_at: isoSecondsZ(image.updatedAt),
    tags: image.tags,
    self: `/v2/images/${image.id}`,
    file: `/v2/images/${image.id}/file`,
    schema: '/v2/schemas/image',
  };
}
