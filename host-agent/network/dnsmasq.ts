/**
 * One network's DHCP server on this host, as dnsmasq files and arguments (pure; dhcp.ts runs it). It serves
 * only the static leases of this host's ports: several hosts answer on the same L2 segment, so every other MAC
 * is ignored outright (`dhcp-ignore=tag:!known`), which also keeps this server from NAKing another host's
 * clients although it is authoritative for its own (authoritative: a client renewing after a dnsmasq restart
 * gets its ACK at once instead of waiting out the lease).
 */
import ipaddr from 'ipaddr.js';
import { join } from 'node:path';
import type { RealizedDhcp, RealizedSubnet } from '../../src/network/realization.js';

export interface DhcpFiles {
  dir: string;
  hosts: string;
  opts: string;
  leases: string;
  pid: string;
  log: string;
  /** The arguments the running dnsmasq was started with: different ones mean a restart, not a SIGHUP. */
  args: string;
}

export function dhcpFiles(dir: string): DhcpFiles {
  return {
    dir,
    hosts: join(dir, 'host'),
    opts: join(dir, 'opts'),
    leases: join(dir, 'leases'),
    pid: join(dir, 'pid'),
    log: join(dir, 'dnsmasq.log'),
    args: join(dir, 'args'),
  };
}

const isV4Cidr = (cidr: string): boolean => {
  try {
    return ipaddr.parseCIDR(cidr)[0].kind() === 'ipv4';
  } catch {
    return false;
  }
};

/** The IPv4 subnets this server answers for: those where its own port has an address (it needs one there). */
export function servedSubnets(dhcp: RealizedDhcp): RealizedSubnet[] {
  const mine = new Set(dhcp.port.fixedIps.map((f) => f.subnetId));
  return dhcp.subnets.filter((s) => isV4Cidr(s.cidr) && mine.has(s.id));
}

const tag = (s: RealizedSubnet) => `subnet-${s.id}`;

/** A DNS label dnsmasq accepts as a host name: letters, digits and hyphens, at most 63. */
export function hostLabel(name: string): string {
  const label = name
    .replace(/[^A-Za-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return label;
}

/** `--dhcp-hostsfile`: one line per static lease (a port with addresses in two subnets has two). */
export function hostsFileText(dhcp: RealizedDhcp): string {
  const served = new Set(servedSubnets(dhcp).map((s) => s.id));
  const lines = dhcp.leases
    .filter((l) => served.has(l.subnetId))
    .map((l) => {
      const name = hostLabel(l.hostname) || `host-${l.ip.replace(/\./g, '-')}`;
      return `${l.mac.toLowerCase()},${l.ip},${name}`;
    })
    .sort();
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/**
 * `--dhcp-optsfile`: per subnet, the router (an empty option 3 when the subnet has no gateway: dnsmasq would
 * otherwise offer its own address), DNS servers, and host routes as options 121 and 249; RFC 3442 makes a
 * client that gets option 121 ignore option 3, so the default route is repeated there.
 */
export function optsFileText(dhcp: RealizedDhcp): string {
  const lines: string[] = [];
  for (const s of servedSubnets(dhcp)) {
    const t = `tag:${tag(s)}`;
    lines.push(s.gatewayIp ? `${t},option:router,${s.gatewayIp}` : `${t},option:router`);
    const dns = s.dnsNameservers.filter((d) => ipaddr.isValid(d) && ipaddr.parse(d).kind() === 'ipv4');
    if (dns.length) lines.push(`${t},option:dns-server,${dns.join(',')}`);
    const routes = s.hostRoutes
      .filter((r) => isV4Cidr(r.destination))
      .map((r) => `${r.destination},${r.nexthop}`);
    if (routes.length) {
      if (s.gatewayIp && !s.hostRoutes.some((r) => r.destination === '0.0.0.0/0'))
        routes.push(`0.0.0.0/0,${s.gatewayIp}`);
      lines.push(`${t},option:classless-static-route,${routes.join(',')}`);
      lines.push(`${t},249,${routes.join(',')}`);
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** dnsmasq's command line (without the program), for a server listening on `iface` inside its namespace. */
export function dnsmasqArgs(dhcp: RealizedDhcp, f: DhcpFiles, iface: string, mtu: number): string[] {
  const lease = dhcp.leaseSeconds > 0 ? `${dhcp.leaseSeconds}s` : 'infinite';
  const ranges = servedSubnets(dhcp).map((s) => {
    const network = ipaddr.IPv4.networkAddressFromCIDR(s.cidr).toString();
    const mask = ipaddr.IPv4.subnetMaskFromPrefixLength(ipaddr.parseCIDR(s.cidr)[1]).toString();
    return `--dhcp-range=set:${tag(s)},${network},static,${mask},${lease}`;
  });
  return [
    '--conf-file=/dev/null',
    '--no-hosts',
    '--no-resolv',
    // no DNS service: the guests get the subnet's dns_nameservers, if any
    '--port=0',
    `--pid-file=${f.pid}`,
    `--dhcp-leasefile=${f.leases}`,
    `--dhcp-hostsfile=${f.hosts}`,
    `--dhcp-optsfile=${f.opts}`,
    `--log-facility=${f.log}`,
    `--interface=${iface}`,
    '--bind-interfaces',
    ...ranges,
    '--dhcp-authoritative',
    '--dhcp-ignore=tag:!known',
    `--dhcp-lease-max=${Math.max(256, dhcp.leases.length * 2)}`,
    `--dhcp-option-force=option:mtu,${mtu}`,
  ];
}
