import type { ConfigDriveSpec } from '../../host-agent/driver/types.js';

export interface StaticGuest {
  uuid: string;
  name: string;
  /** Defaults to <name>.novalocal. */
  hostname?: string;
  mac: string;
  ip: string;
  /** Default route through this address, when the guest must reach beyond its /24. */
  gateway?: string;
  mtu?: number;
  networkId?: string;
  userData?: string;
}

/**
 * The config drive of a test guest with one static IPv4 address on a /24, in OpenStack's layout: what the
 * tiny image's init reads to configure eth0 and its hostname.
 */
export function staticGuestConfigDrive(g: StaticGuest): ConfigDriveSpec {
  return {
    metaData: { uuid: g.uuid, name: g.name, hostname: g.hostname ?? `${g.name}.novalocal` },
    networkData: {
      links: [{ id: 'tap0', type: 'phy', ethernet_mac_address: g.mac, ...(g.mtu ? { mtu: g.mtu } : {}) }],
      networks: [
        {
          id: 'network0',
          type: 'ipv4',
          link: 'tap0',
          ip_address: g.ip,
          netmask: '255.255.255.0',
          ...(g.networkId ? { network_id: g.networkId } : {}),
          ...(g.gateway ? { routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: g.gateway }] } : {}),
        },
      ],
      services: [],
    },
    ...(g.userData !== undefined ? { userData: g.userData } : {}),
  };
}
