/**
 * How a network reaches the wire on this host, and the names of the devices kvmstack makes for it. Pure: the
 * realizer (realizer.ts) turns a NetworkTarget into `ip` commands.
 */
import { createHash } from 'node:crypto';
import { bridgeNameFor, vxlanNameFor, type RealizedNetwork } from '../../src/network/realization.js';

/** Linux's limit on interface names (IFNAMSIZ - 1). */
export const IFNAME_MAX = 15;

/**
 * The alias that marks a device as kvmstack's, for one network: the only devices the agent ever deletes. An
 * owner (the agent's host uuid) is appended when given, so that two agents sharing one network namespace
 * (test clouds on one machine) never delete each other's devices.
 */
export const ALIAS_PREFIX = 'kvmstack:';
export const aliasFor = (networkId: string, owner = ''): string =>
  `${ALIAS_PREFIX}${networkId}${owner ? `@${owner}` : ''}`;

/** Whether a device's alias says this owner made it. */
export function ownedBy(alias: string | null, owner = ''): boolean {
  if (!alias?.startsWith(ALIAS_PREFIX)) return false;
  const at = alias.indexOf('@');
  return owner ? alias.slice(at + 1) === owner && at > 0 : at < 0;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** `physnet1:eth1, trunk:eth2` → Map; refuses a repeated physical network or an impossible interface name. */
export function parseMappings(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of text.split(',').map((x) => x.trim())) {
    if (!item) continue;
    const i = item.lastIndexOf(':');
    const physnet = item.slice(0, i).trim();
    const dev = item.slice(i + 1).trim();
    if (i <= 0 || !physnet || !dev) throw new Error(`"${item}": expected physical_network:device`);
    if (!IFNAME.test(dev)) throw new Error(`"${dev}" is not a valid interface name`);
    if (out.has(physnet)) throw new Error(`physical network "${physnet}" is mapped twice`);
    out.set(physnet, dev);
  }
  return out;
}

/**
 * The VLAN sub-interface of `parent` for `vid`: `eth2.100`, or, when that exceeds 15 characters, the parent's
 * name cut short with a hash of the whole name, so two long parents never share a sub-interface name.
 */
export function vlanDeviceName(parent: string, vid: number): string {
  const suffix = `.${vid}`;
  const plain = `${parent}${suffix}`;
  if (plain.length <= IFNAME_MAX) return plain;
  const hash = createHash('sha1').update(parent).digest('hex').slice(0, 4);
  return `${parent.slice(0, IFNAME_MAX - suffix.length - hash.length)}${hash}${suffix}`;
}

/**
 * Neutron's DHCP device names, so operators recognise them: the port's `tap<11>` on the bridge and its
 * `ns-<11>` peer inside the network's `qdhcp-<network id>` namespace.
 */
export function dhcpNames(networkId: string, dhcpPortId: string) {
  return {
    namespace: `qdhcp-${networkId}`,
    bridgeEnd: `tap${dhcpPortId.slice(0, 11)}`,
    nsEnd: `ns-${dhcpPortId.slice(0, 11)}`,
  };
}

export interface NetworkMappings {
  interfaceMappings: ReadonlyMap<string, string>;
  bridgeMappings: ReadonlyMap<string, string>;
  hostLocalNetworks: ReadonlySet<string>;
}

/** Where a network's taps go on this host and what joins that bridge to the wire. */
export interface NetworkTarget {
  /** The bridge the network's taps (and its DHCP port) join. */
  bridge: string;
  /** true: brq<id>, made and removed by kvmstack; false: a mapped bridge, used as it is and never changed. */
  ownBridge: boolean;
  /**
   * The device enslaved to an own bridge: a physical interface, or a VLAN sub-interface or VXLAN device
   * kvmstack makes.
   */
  uplink: {
    name: string;
    vlan: { parent: string; vid: number } | null;
    vxlan?: { vni: number };
  } | null;
}

/** VXLAN network identifiers are 24 bits; 0 is reserved. */
const MAX_VNI = 16_777_215;

/** The target of a network on this host, or why it cannot be realized here. */
export function targetFor(
  net: Pick<RealizedNetwork, 'id' | 'networkType' | 'physicalNetwork' | 'segmentationId'>,
  m: NetworkMappings,
): NetworkTarget | { unrealizable: string } {
  const own = bridgeNameFor(net.id);
  const bridge = m.bridgeMappings.get(net.physicalNetwork);
  const iface = m.interfaceMappings.get(net.physicalNetwork);
  const local = m.hostLocalNetworks.has(net.physicalNetwork);
  if (net.networkType === 'flat') {
    if (bridge) return { bridge, ownBridge: false, uplink: null };
    if (iface) return { bridge: own, ownBridge: true, uplink: { name: iface, vlan: null } };
    if (local) return { bridge: own, ownBridge: true, uplink: null };
  } else if (net.networkType === 'vlan') {
    const vid = net.segmentationId;
    if (vid === null || !Number.isInteger(vid) || vid < 1 || vid > 4094)
      return { unrealizable: `invalid VLAN id ${String(vid)}` };
    // a one-host physical network carries no tag: the network's own bridge already isolates it
    if (local) return { bridge: own, ownBridge: true, uplink: null };
    const parent = bridge ?? iface;
    if (parent)
      return {
        bridge: own,
        ownBridge: true,
        uplink: { name: vlanDeviceName(parent, vid), vlan: { parent, vid } },
      };
  } else if (net.networkType === 'vxlan') {
    // over the management network, like Neutron linuxbridge's vxlan-<vni>: no physical network to map
    const vni = net.segmentationId;
    if (vni === null || !Number.isInteger(vni) || vni < 1 || vni > MAX_VNI)
      return { unrealizable: `invalid VXLAN VNI ${String(vni)}` };
    return { bridge: own, ownBridge: true, uplink: { name: vxlanNameFor(vni), vlan: null, vxlan: { vni } } };
  } else {
    return { unrealizable: `network type ${String(net.networkType)} is not supported by this agent` };
  }
  return { unrealizable: `physical network "${net.physicalNetwork}" is not mapped on this host` };
}

export function isTarget(t: NetworkTarget | { unrealizable: string }): t is NetworkTarget {
  return !('unrealizable' in t);
}
