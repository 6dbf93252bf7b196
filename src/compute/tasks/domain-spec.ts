/**
 * The parts of a server's domain that come from its ports and its record: NICs on the right bridge with the
 * ports' MACs and tap names, and the OpenStack config drive (meta_data.json and network_data.json as Nova's
 * ConfigDriveBuilder writes them), which is how a kvmstack guest learns its keys, user data and addresses:
 * there is no metadata service.
 */
import type { Host } from '../../cluster/hosts/service.js';
import type { ConfigDriveSpec, NicSpec } from '../../../host-agent/driver/types.js';
import type { ServerNic } from '../../network/compute-ports.js';
import { bridgeNameFor, tapNameFor } from '../../network/realization.js';
import { intToIp, parseCidr } from '../../network/ip.js';
import type { ServerRow } from '../servers/model.js';

/**
 * A network's bridge on a host, named as the host's agent names it (host-agent/network/mappings.ts): a flat
 * network on a mapped bridge uses that bridge (the agent reports its bridge_mappings), any other network the
 * brq bridge kvmstack makes for it.
 */
export function bridgeOn(
  host: Host,
  nic: Pick<ServerNic, 'networkId' | 'networkType' | 'physicalNetwork'>,
): string {
  const mappings = (host.inventory.bridgeMappings ?? {}) as Record<string, string>;
  if (nic.networkType === 'flat' && mappings[nic.physicalNetwork]) return mappings[nic.physicalNetwork];
  return bridgeNameFor(nic.networkId);
}

export function nicSpecs(nics: ServerNic[], host: Host): NicSpec[] {
  return nics.map((n) => ({
    mac: n.mac,
    bridge: bridgeOn(host, n),
    mtu: n.mtu,
    target: tapNameFor(n.portId),
  }));
}

function netmaskOf(cidr: string): string {
  const c = parseCidr(cidr);
  const bits = c ? Number(cidr.split('/')[1]) : 32;
  return intToIp(bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
}

/** network_data.json: one link per port, one ipv4 network per fixed IP, the subnets' DNS servers. */
export function networkData(nics: ServerNic[]): Record<string, unknown> {
  const links = nics.map((n) => ({
    id: tapNameFor(n.portId),
    vif_id: n.portId,
    type: 'bridge',
    mtu: n.mtu,
    ethernet_mac_address: n.mac,
  }));
  const networks: Record<string, unknown>[] = [];
  const dns = new Set<string>();
  for (const n of nics)
    for (const ip of n.fixedIps) {
      const subnet = n.subnets.find((s) => s.id === ip.subnetId);
      if (!subnet) continue;
      for (const d of subnet.dns) dns.add(d);
      const routes: Record<string, unknown>[] = [];
      if (subnet.gateway) routes.push({ network: '0.0.0.0', netmask: '0.0.0.0', gateway: subnet.gateway });
      for (const r of subnet.routes)
        routes.push({
          network: r.destination.split('/')[0],
          netmask: netmaskOf(r.destination),
          gateway: r.nexthop,
        });
      networks.push({
        id: `network${networks.length}`,
        type: 'ipv4',
        link: tapNameFor(n.portId),
        ip_address: ip.ip,
        netmask: netmaskOf(subnet.cidr),
        routes,
        network_id: n.networkId,
        services: subnet.dns.map((address) => ({ type: 'dns', address })),
      });
    }
  return { links, networks, services: [...dns].map((address) => ({ type: 'dns', address })) };
}

/** meta_data.json, user_data (decoded) and network_data.json for a server. */
export function configDriveFor(
  s: ServerRow,
  nics: ServerNic[],
  metadata: Record<string, string>,
  zone: string,
): ConfigDriveSpec {
  const metaData: Record<string, unknown> = {
    uuid: s.uuid,
    name: s.name,
    hostname: s.hostname,
    launch_index: s.launchIndex,
    availability_zone: zone,
    project_id: s.projectId,
    meta: metadata,
    devices: [],
  };
  if (s.keyName && s.keyData) {
    metaData.public_keys = { [s.keyName]: s.keyData };
    metaData.keys = [{ name: s.keyName, type: 'ssh', data: s.keyData }];
  }
  if (s.request.adminPass) metaData.admin_pass = s.request.adminPass;
  const spec: ConfigDriveSpec = { metaData, networkData: networkData(nics) };
  if (s.userData) spec.userData = Buffer.from(s.userData, 'base64').toString('latin1');
  return spec;
}
