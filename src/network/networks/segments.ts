/**
 * A network's one segment (ML2's flat and vlan type drivers): provider attributes from an admin, or a VLAN
 * allocated from [network] network_vlan_ranges for a project network. Uniqueness is the database's job:
 * networks has unique (physical_network, segment_key), segment_key being the VLAN id or 0 for flat, so a taken
 * VLAN or a second flat network on a physnet fails on insert (409), and a racing allocation retries.
 */
import type { Knex } from 'knex';
import type { Config } from '../../common/config/options.js';
import { conflict, invalidInput, ServiceUnavailable } from '../common/errors.js';

export interface Segment {
  networkType: 'flat' | 'vlan';
  physicalNetwork: string;
  segmentationId: number | null;
}

export interface VlanRange {
  physnet: string;
  min: number | null;
  max: number | null;
}

/** "physnet1:1000:1999,physnet2" → ranges (a bare physnet is known for provider VLANs but has no tenant range). */
export function parseVlanRanges(text: string): VlanRange[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const [physnet, lo, hi] = entry.split(':');
      if (lo === undefined) return { physnet, min: null, max: null };
      const min = Number(lo);
      const max = Number(hi);
      if (!physnet || !Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 4094 || min > max)
        throw new Error(`[network] network_vlan_ranges: invalid entry '${entry}'`);
      return { physnet, min, max };
    });
}

export const segmentKey = (s: Segment): number => s.segmentationId ?? 0;

/** What the provider attributes of a create ask for: a full segment, or a VLAN to allocate (on a physnet). */
export type SegmentRequest =
  { kind: 'exact'; segment: Segment } | { kind: 'allocate'; physnet: string | null };

export function segmentRequest(
  config: Config,
  attrs: { type?: unknown; physnet?: unknown; segId?: unknown },
): SegmentRequest {
  const given = attrs.type !== undefined || attrs.physnet !== undefined || attrs.segId !== undefined;
  if (!given) {
    if (config.network.tenant_network_type !== 'vlan')
      throw new Error(
        `[network] tenant_network_type '${config.network.tenant_network_type}' is not supported`,
      );
    return { kind: 'allocate', physnet: null };
  }
  const type = attrs.type as string | undefined;
  const physnet = (attrs.physnet ?? null) as string | null;
  const segId = (attrs.segId ?? null) as number | null;
  if (type === undefined) throw invalidInput('network_type required');
  if (type === 'flat') {
    if (segId !== null) throw invalidInput('segmentation_id prohibited for flat provider network');
    if (!physnet) throw invalidInput('physical_network required for flat provider network');
    const flats = config.network.flat_networks.split(',').map((s) => s.trim());
    if (!flats.includes('*') && !flats.includes(physnet))
      throw invalidInput(`physical_network '${physnet}' unknown for flat provider network`);
    return {
      kind: 'exact',
      segment: { networkType: 'flat', physicalNetwork: physnet, segmentationId: null },
    };
  }
  if (type === 'vlan') {
    const ranges = parseVlanRanges(config.network.network_vlan_ranges);
    if (physnet !== null && !ranges.some((r) => r.physnet === physnet))
      throw invalidInput(`physical_network '${physnet}' unknown for VLAN provider network`);
    if (segId === null) return { kind: 'allocate', physnet };
    if (physnet === null)
      throw invalidInput('segmentation_id requires physical_network for VLAN provider network');
    if (segId < 1 || segId > 4094) throw invalidInput('segmentation_id out of range (1 through 4094)');
    return {
      kind: 'exact',
      segment: { networkType: 'vlan', physicalNetwork: physnet, segmentationId: segId },
    };
  }
  throw invalidInput(`network_type value '${type}' not supported`);
}

/**
 * The lowest free VLAN of the tenant ranges (of one physnet when given), read in the caller's transaction.
 * The insert that follows may still lose a race: the unique key refuses it and the caller retries.
 */
export async function allocateVlan(trx: Knex, config: Config, physnet: string | null): Promise<Segment> {
  const ranges = parseVlanRanges(config.network.network_vlan_ranges).filter(
    (r) => r.min !== null && (physnet === null || r.physnet === physnet),
  );
  for (const r of ranges) {
    const used = new Set(
      (
        (await trx('networks')
          .where({ physical_network: r.physnet })
          .whereBetween('segment_key', [r.min as number, r.max as number])
          .pluck('segment_key')) as (number | string)[]
      ).map(Number),
    );
    for (let v = r.min as number; v <= (r.max as number); v++)
      if (!used.has(v)) return { networkType: 'vlan', physicalNetwork: r.physnet, segmentationId: v };
  }
  throw new ServiceUnavailable(
    'Unable to create the network. No tenant network is available for allocation.',
    {
      type: 'NoNetworkAvailable',
    },
  );
}

/** The 409 for a segment the unique key refused. */
export function segmentInUse(s: Segment) {
  return s.networkType === 'flat'
    ? conflict(
        'FlatNetworkInUse',
        `Unable to create the flat network. Physical network ${s.physicalNetwork} is in use.`,
      )
    : conflict(
        'VlanIdInUse',
        `Unable to create the network. The VLAN ${s.segmentationId} on physical network ${s.physicalNetwork} is in use.`,
      );
}
