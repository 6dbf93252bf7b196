/**
 * A network's one segment (ML2's flat, vlan and vxlan type drivers): provider attributes from an admin, or a
 * VLAN or VNI allocated from [network] network_vlan_ranges / vni_ranges for a project network. Uniqueness is
 * the database's job: networks has unique (physical_network, segment_key), segment_key being the VLAN id or
 * VNI (0 for flat), so a taken VLAN or VNI or a second flat network on a physnet fails on insert (409), and a
 * racing allocation retries. VXLAN networks have no physical network: they are stored with '' (no physnet
 * can be named '': flat and vlan require one), which makes the VNI unique cloud-wide; the view shows null.
 */
import { ConfigError } from '../../common/config/load.js';
import type { Knex } from 'knex';
import type { Config } from '../../common/config/options.js';
import { conflict, invalidInput, ServiceUnavailable } from '../common/errors.js';

export type NetworkType = 'flat' | 'vlan' | 'vxlan';

/** The physical_network column of VXLAN networks (the column is NOT NULL and part of the unique key). */
export const TUNNEL_PHYSNET = '';
/** VXLAN network identifiers are 24 bits; 0 is not usable. */
export const MAX_VNI = 16_777_215;
/** Neutron's VXLAN overhead over IPv4 (IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14). */
export const VXLAN_OVERHEAD = 50;

export interface Segment {
  networkType: NetworkType;
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
        throw new ConfigError(`[network] network_vlan_ranges: invalid entry '${entry}'`);
      return { physnet, min, max };
    });
}

/** "1:1000,5000:5999" → ranges (ML2's vni_ranges). */
export function parseVniRanges(text: string): { min: number; max: number }[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const [lo, hi, extra] = entry.split(':');
      const min = Number(lo);
      const max = Number(hi ?? lo);
      if (
        extra !== undefined ||
        !Number.isInteger(min) ||
        !Number.isInteger(max) ||
        min < 1 ||
        max > MAX_VNI ||
        min > max
      )
        throw new ConfigError(`[network] vni_ranges: invalid entry '${entry}'`);
      return { min, max };
    });
}

/** Checks the segment options at start-up, so a bad range stops the API instead of failing network creates. */
export function checkSegmentOptions(config: Config): void {
  parseVlanRanges(config.network.network_vlan_ranges);
  parseVniRanges(config.network.vni_ranges);
}

export const segmentKey = (s: Segment): number => s.segmentationId ?? 0;

/** The largest MTU a network of this type may have (ML2 get_mtu: tunnels lose their encapsulation). */
export function maxMtu(config: Config, type: string): number {
  return type === 'vxlan' ? config.network.default_mtu - VXLAN_OVERHEAD : config.network.default_mtu;
}

/** What the provider attributes of a create ask for: a full segment, or a VLAN to allocate (on a physnet). */
export type SegmentRequest =
  { kind: 'exact'; segment: Segment } | { kind: 'allocate'; type: 'vlan' | 'vxlan'; physnet: string | null };

/** The type of the network a request makes. */
export const requestType = (r: SegmentRequest): NetworkType =>
  r.kind === 'exact' ? r.segment.networkType : r.type;

export function segmentRequest(
  config: Config,
  attrs: { type?: unknown; physnet?: unknown; segId?: unknown },
): SegmentRequest {
  const given = attrs.type !== undefined || attrs.physnet !== undefined || attrs.segId !== undefined;
  if (!given) {
    // vlan or vxlan: the option's choices are checked when the configuration is loaded
    const tenant = config.network.tenant_network_type as 'vlan' | 'vxlan';
    return { kind: 'allocate', type: tenant, physnet: null };
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
    if (segId === null) return { kind: 'allocate', type: 'vlan', physnet };
    if (physnet === null)
      throw invalidInput('segmentation_id requires physical_network for VLAN provider network');
    if (segId < 1 || segId > 4094) throw invalidInput('segmentation_id out of range (1 through 4094)');
    return {
      kind: 'exact',
      segment: { networkType: 'vlan', physicalNetwork: physnet, segmentationId: segId },
    };
  }
  if (type === 'vxlan') {
    // ML2 TunnelTypeDriver.validate_provider_segment
    if (physnet) throw invalidInput('provider:physical_network specified for vxlan network');
    if (segId === null) return { kind: 'allocate', type: 'vxlan', physnet: null };
    if (segId < 1 || segId > MAX_VNI)
      throw invalidInput(`segmentation_id out of range (1 through ${MAX_VNI})`);
    return {
      kind: 'exact',
      segment: { networkType: 'vxlan', physicalNetwork: TUNNEL_PHYSNET, segmentationId: segId },
    };
  }
  throw invalidInput(`network_type value '${type}' not supported`);
}

/** A segment of the requested type from the tenant ranges. */
export async function allocateSegment(
  trx: Knex,
  config: Config,
  request: Extract<SegmentRequest, { kind: 'allocate' }>,
): Promise<Segment> {
  return request.type === 'vxlan' ? allocateVni(trx, config) : allocateVlan(trx, config, request.physnet);
}

const noNetworkAvailable = () =>
  new ServiceUnavailable('Unable to create the network. No tenant network is available for allocation.', {
    type: 'NoNetworkAvailable',
  });

/**
 * The lowest free VNI of vni_ranges, read in the caller's transaction (a lost race is refused by the unique
 * key and retried, as for VLANs). Only taken VNIs inside a range are read, so a large range costs no more
 * than the networks that exist.
 */
export async function allocateVni(trx: Knex, config: Config): Promise<Segment> {
  for (const r of parseVniRanges(config.network.vni_ranges)) {
    const used = new Set(
      (
        (await trx('networks')
          .where({ physical_network: TUNNEL_PHYSNET })
          .whereBetween('segment_key', [r.min, r.max])
          .pluck('segment_key')) as (number | string)[]
      ).map(Number),
    );
    for (let v = r.min; v <= r.max; v++)
      if (!used.has(v)) return { networkType: 'vxlan', physicalNetwork: TUNNEL_PHYSNET, segmentationId: v };
  }
  throw noNetworkAvailable();
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
  throw noNetworkAvailable();
}

/** The 409 for a segment the unique key refused. */
export function segmentInUse(s: Segment) {
  if (s.networkType === 'vxlan')
    return conflict(
      'TunnelIdInUse',
      `Unable to create the network. The tunnel ID ${s.segmentationId} is in use.`,
    );
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
