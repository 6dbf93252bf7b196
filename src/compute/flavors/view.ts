/** Flavor bodies as Nova's views/flavors.py marshals them, per microversion. */
import type { Microversion } from '../../common/microversion.js';
import type { Flavor } from './service.js';

export interface FlavorViewOptions {
  /** The compute endpoint, e.g. http://host:8774/compute (links are built on it). */
  base: string;
  /** Whether the caller passes the extra-specs index policy (Nova shows all specs or none). */
  showExtraSpecs: boolean;
}

function links(f: Flavor, base: string) {
  return [
    { rel: 'self', href: `${base}/v2.1/flavors/${encodeURIComponent(f.flavorid)}` },
    { rel: 'bookmark', href: `${base}/flavors/${encodeURIComponent(f.flavorid)}` },
  ];
}

/** GET /flavors items: id, name, links (+ description from 2.55). */
export function flavorBriefView(f: Flavor, mv: Microversion, o: FlavorViewOptions): Record<string, unknown> {
  const body: Record<string, unknown> = { id: f.flavorid, name: f.name, links: links(f, o.base) };
  if (mv.atLeast('2.55')) body.description = f.description; // 2.55
  return body;
}

/** GET /flavors/{id}, /flavors/detail items, and the create/update answers. */
export function flavorView(f: Flavor, mv: Microversion, o: FlavorViewOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {
    id: f.flavorid,
    name: f.name,
    ram: f.memoryMb,
    disk: f.rootGb,
    // "" for no swap until 2.75, the integer 0 from 2.75
    swap: mv.atLeast('2.75') ? f.swap : f.swap || '',
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeralGb,
    'OS-FLV-DISABLED:disabled': f.disabled,
    vcpus: f.vcpus,
    'os-flavor-access:is_public': f.isPublic,
    rxtx_factor: f.rxtxFactor,
    links: links(f, o.base),
  };
  if (mv.atLeast('2.55')) body.description = f.description; // 2.55
  if (mv.atLeast('2.61') && o.showExtraSpecs) body.extra_specs = f.extraSpecs; // 2.61
  return body;
}
