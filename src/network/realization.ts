/**
 * The contract between the API and the host agents for networking (design §7): what one host must realize,
 * computed by the API from the database (src/network/host-state.ts) and applied idempotently by the agent
 * (host-agent/network/). The agent pulls it with its host credential, applies what changed, and reports
 * which ports it has wired so the API can show them ACTIVE.
 *
 * Wire paths (under /kvmstack/v1, host credential):
 *   POST /hosts/{host_id}/network   body NetworkSyncReport → answer HostNetworkState
 */

/** Everything one host must realize. `revision` changes whenever anything below changes. */
export interface HostNetworkState {
  revision: string;
  networks: RealizedNetwork[];
  /**
   * VXLAN: this host's tunnel endpoint (the device's `local` address) and the endpoints its VXLAN devices
   * flood to (head-end replication, one all-zeros FDB entry each). Both are management addresses as the hosts
   * enrolled (hosts.host_ip), so every host floods to exactly the address its peer sends from; peers are every
   * other enrolled, not revoked host, without duplicates and without this host's own address. Optional: a
   * state without them (an older API) leaves VXLAN networks unrealizable.
   */
  tunnelLocalIp?: string;
  tunnelPeers?: string[];
}

export interface RealizedNetwork {
  id: string;
  name: string;
  /**
   * Segment: flat or vlan on a physical network the agent maps to a bridge or an interface, or vxlan over the
   * hosts' management network (needs no mapping: realizable on every host).
   */
  networkType: 'flat' | 'vlan' | 'vxlan';
  /** '' for vxlan (no physical network). */
  physicalNetwork: string;
  /** VLAN id for vlan networks, VNI for vxlan, null for flat. */
  segmentationId: number | null;
  mtu: number;
  adminStateUp: boolean;
  /**
   * This host's DHCP server for the network: present when the network has a DHCP-enabled subnet and at least
   * one port bound to this host. The port is Neutron's `network:dhcp` port of this host (device_id
   * `dhcp<host uuid>-<network id>`), so the server has its own address in each subnet.
   */
  dhcp: RealizedDhcp | null;
  /** Ports bound to this host (binding:host_id = the host's name), not counting the DHCP port. */
  ports: RealizedPort[];
}

export interface RealizedDhcp {
  port: { id: string; mac: string; fixedIps: RealizedFixedIp[] };
  subnets: RealizedSubnet[];
  /** Static leases: only these MACs get an answer from this host's DHCP server. */
  leases: { mac: string; ip: string; hostname: string; subnetId: string }[];
  leaseSeconds: number;
}

export interface RealizedSubnet {
  id: string;
  cidr: string;
  /** null: no gateway (no default route offered). */
  gatewayIp: string | null;
  dnsNameservers: string[];
  hostRoutes: { destination: string; nexthop: string }[];
}

export interface RealizedFixedIp {
  subnetId: string;
  ip: string;
  /** Prefix length of the subnet, e.g. 24. */
  prefixLen: number;
}

export interface RealizedPort {
  id: string;
  mac: string;
  /** The host-side device of the VM's NIC: "tap" + the first 11 characters of the port id (as Neutron's). */
  tap: string;
  fixedIps: RealizedFixedIp[];
  adminStateUp: boolean;
  /** false: no anti-spoofing and no security group filtering on this port. */
  portSecurityEnabled: boolean;
  allowedAddressPairs: { ipAddress: string; macAddress: string }[];
  /** The union of the rules of the port's security groups, remote groups already resolved to prefixes. */
  rules: RealizedRule[];
}

export interface RealizedRule {
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  /** Lower-case protocol name (tcp, udp, icmp, icmpv6, ...) or a number as a string; null: any protocol. */
  protocol: string | null;
  /** For tcp/udp: port range; for icmp: type (min) and code (max); null: any. */
  portRangeMin: number | null;
  portRangeMax: number | null;
  /** Remote side: null for any address, else a list of prefixes (a remote group becomes its members' /32s). */
  remotePrefixes: string[] | null;
}

/** What the agent tells the API each time it syncs. */
export interface NetworkSyncReport {
  /** The revision the agent has applied (null before the first sync). */
  appliedRevision: string | null;
  /** Ports whose tap exists on this host and is wired to its bridge and filter: the API shows them ACTIVE. */
  activePorts: string[];
  /** Networks this host cannot realize (physical network not mapped here), with the reason. */
  unrealizable: { networkId: string; reason: string }[];
}

/** The IANA VXLAN port (Neutron linuxbridge's default udp_dstport). */
export const VXLAN_PORT = 4789;

/** Neutron linuxbridge's device names, so operators recognize them: brq<11>, tap<11>, vxlan-<vni>. */
export function bridgeNameFor(networkId: string): string {
  return `brq${networkId.slice(0, 11)}`;
}

export function tapNameFor(portId: string): string {
  return `tap${portId.slice(0, 11)}`;
}

/** At most 14 characters (VNI ≤ 16777215), within Linux's 15. */
export function vxlanNameFor(vni: number): string {
  return `vxlan-${vni}`;
}
