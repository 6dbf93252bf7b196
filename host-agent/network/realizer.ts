/**
 * Applies a HostNetworkState to this host (design §7), idempotently and by difference: it reads the devices
 * once (`ip -d -j link show`), changes only what differs, and marks every device it makes with the alias
 * `kvmstack:<network id>`, the only devices it ever deletes. A mapped bridge or a physical interface is used,
 * never deleted. One failing network never stops the others: it is reported with its reason.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { commandOf, livePidFrom, stopByPidFile } from '../../src/common/pidfile.js';
import {
  VXLAN_PORT,
  type HostNetworkState,
  type RealizedNetwork,
  type RealizedPort,
} from '../../src/network/realization.js';
import { dhcpFiles, dnsmasqArgs, hostsFileText, optsFileText, servedSubnets } from './dnsmasq.js';
import {
  FLOOD_MAC,
  readFloodDestinations,
  readLinks,
  readNamespaces,
  type Link,
  type Runner,
} from './links.js';
import {
  ALIAS_PREFIX,
  aliasFor,
  dhcpNames,
  isTarget,
  ownedBy,
  targetFor,
  type NetworkMappings,
  type NetworkTarget,
} from './mappings.js';

export interface RealizerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RealizerOptions {
  mappings: NetworkMappings;
  /** DHCP files live in <stateDir>/dhcp/<network id>/; a directory there marks a DHCP server as kvmstack's. */
  stateDir: string;
  dnsmasqPath: string;
  /** Runs `ip` and dnsmasq (wrapped by tests to enter a scratch host's namespaces). */
  cmd: Runner;
  log: RealizerLog;
  /** Appended to the devices' alias (the agent's host uuid): only devices with this owner are ever deleted. */
  owner?: string;
  /** Security groups on the taps (firewall.ts syncFirewall), called with every port after the bridges. */
  firewall?: (ports: RealizedPort[]) => Promise<void>;
}

export interface ApplyResult {
  /** Ports wired to their bridge (and filter), admin up: the API shows them ACTIVE. */
  activePorts: string[];
  /** Networks not realized here, unmapped or failed, with the reason. */
  unrealizable: { networkId: string; reason: string }[];
  /** What this round changed, one line per command: empty when the host already matched the state. */
  changes: string[];
}

/** Device kinds removed before the bridges they are enslaved to. */
const REMOVE_ORDER = (l: Link) => (l.kind === 'bridge' ? 1 : 0);

export class NetworkRealizer {
  private readonly dhcpRoot: string;
  private readonly alias: (networkId: string) => string;
  /** The tunnel endpoints of the state being applied (HostNetworkState.tunnelLocalIp / tunnelPeers). */
  private tunnel: { localIp: string; peers: string[] } | null = null;

  constructor(private readonly o: RealizerOptions) {
    this.dhcpRoot = join(o.stateDir, 'dhcp');
    this.alias = (id) => aliasFor(id, o.owner);
  }

  /**
   * full: bridges, uplinks, DHCP, filters and removal of what is no longer wanted; otherwise only taps (a VM
   * started since the last round) are attached and the active ports recomputed, one `ip` call when all is well.
   */
  async apply(state: HostNetworkState, opts: { full: boolean }): Promise<ApplyResult> {
    const changes: string[] = [];
    const unrealizable: ApplyResult['unrealizable'] = [];
    const failed = new Set<string>();
    let links = await readLinks(this.o.cmd);
    const realizable: { net: RealizedNetwork; target: NetworkTarget }[] = [];
    this.tunnel = state.tunnelLocalIp
      ? { localIp: state.tunnelLocalIp, peers: [...new Set(state.tunnelPeers ?? [])].sort() }
      : null;
    for (const net of state.networks) {
      const target = targetFor(net, this.o.mappings);
      if (!isTarget(target)) unrealizable.push({ networkId: net.id, reason: target.unrealizable });
      else if (target.uplink?.vxlan && !this.tunnel)
        unrealizable.push({ networkId: net.id, reason: 'the state names no tunnel address for VXLAN' });
      else realizable.push({ net, target });
    }
    const fail = (net: RealizedNetwork, err: unknown) => {
      const reason = err instanceof Error ? err.message : String(err);
      failed.add(net.id);
      unrealizable.push({ networkId: net.id, reason });
      this.o.log.error({ network_id: net.id, err: reason }, 'network could not be realized');
    };

    let firewallOk = true;
    if (opts.full) {
      const namespaces = await readNamespaces(this.o.cmd);
      for (const { net, target } of realizable) {
        try {
          await this.realizeNetwork(net, target, links, namespaces, changes);
        } catch (err) {
          fail(net, err);
        }
      }
      await this.removeStale(realizable, links, changes);
      if (this.o.firewall) {
        try {
          await this.o.firewall(realizable.flatMap((r) => r.net.ports));
        } catch (err) {
          firewallOk = false;
          this.o.log.error({ err: (err as Error).message }, 'security groups could not be applied');
        }
      }
    } else {
      for (const { net, target } of realizable) {
        try {
          await this.attachTaps(net, target, links, changes);
        } catch (err) {
          fail(net, err);
        }
      }
    }
    if (changes.length) links = await readLinks(this.o.cmd);

    const activePorts: string[] = [];
    for (const { net, target } of realizable) {
      if (failed.has(net.id) || !net.adminStateUp) continue;
      for (const p of net.ports) {
        const tap = links.get(p.tap);
        if (!tap || tap.master !== target.bridge || !tap.up || !p.adminStateUp) continue;
        if (!firewallOk && p.portSecurityEnabled) continue;
        activePorts.push(p.id);
      }
    }
    return { activePorts: activePorts.sort(), unrealizable, changes };
  }

  /** Runs one changing command (`ip`, or `bridge` for FDB entries) and records it. */
  private async change(changes: string[], args: string[], file: 'ip' | 'bridge' = 'ip'): Promise<void> {
    await this.o.cmd(file, args);
    changes.push(`${file} ${args.join(' ')}`);
  }

  private async realizeNetwork(
    net: RealizedNetwork,
    t: NetworkTarget,
    links: Map<string, Link>,
    namespaces: Set<string>,
    changes: string[],
  ): Promise<void> {
    const alias = this.alias(net.id);
    const mtu = String(net.mtu);
    const br = links.get(t.bridge);
    if (t.ownBridge) {
      if (!br) {
        await this.change(changes, ['link', 'add', 'name', t.bridge, 'mtu', mtu, 'type', 'bridge']);
        await this.change(changes, ['link', 'set', 'dev', t.bridge, 'alias', alias]);
        links.set(t.bridge, newLink(t.bridge, 'bridge', net.mtu, alias));
      } else {
        if (br.kind !== 'bridge') throw new Error(`${t.bridge} exists and is not a bridge`);
        if (br.alias !== alias) {
          // a brq bridge without alias is ours from a round cut short between `add` and `alias`; one of this
          // network's under another owner is from this host's earlier identity (state dir wiped)
          if (!sameNetwork(br.alias, net.id))
            throw new Error(`${t.bridge} exists and is not this network's (alias "${br.alias}")`);
          await this.change(changes, ['link', 'set', 'dev', t.bridge, 'alias', alias]);
        }
        if (br.mtu !== net.mtu) await this.change(changes, ['link', 'set', 'dev', t.bridge, 'mtu', mtu]);
      }
    } else if (!br || br.kind !== 'bridge') {
      throw new Error(`mapped bridge ${t.bridge} (physical network ${net.physicalNetwork}) does not exist`);
    }

    if (t.uplink?.vlan) {
      const { parent, vid } = t.uplink.vlan;
      const name = t.uplink.name;
      if (!links.has(parent))
        throw new Error(`${parent} (physical network ${net.physicalNetwork}) does not exist on this host`);
      let dev = links.get(name);
      if (dev && (dev.kind !== 'vlan' || dev.vlanId !== vid || dev.parent !== parent)) {
        if (dev.alias !== alias) throw new Error(`${name} exists and is not VLAN ${vid} of ${parent}`);
        await this.change(changes, ['link', 'del', 'dev', name]);
        dev = undefined;
      }
      if (!dev) {
        const add = [
          'link',
          'add',
          'link',
          parent,
          'name',
          name,
          'mtu',
          mtu,
          'type',
          'vlan',
          'id',
          String(vid),
        ];
        await this.change(changes, add).catch((err: Error) => {
          throw /Unknown device type|not supported/i.test(err.message)
            ? new Error(`this kernel cannot make VLAN devices (802.1Q, module 8021q): ${err.message}`)
            : err;
        });
        await this.change(changes, ['link', 'set', 'dev', name, 'alias', alias]);
      } else {
        if (dev.alias !== alias) await this.change(changes, ['link', 'set', 'dev', name, 'alias', alias]);
        if (dev.mtu !== net.mtu) await this.change(changes, ['link', 'set', 'dev', name, 'mtu', mtu]);
      }
      if (dev?.master !== t.bridge)
        await this.change(changes, ['link', 'set', 'dev', name, 'master', t.bridge]);
      if (!dev?.up) await this.change(changes, ['link', 'set', 'dev', name, 'up']);
      // the wire must be up for the tag to reach it; a mapped bridge is the operator's and stays as it is
      const p = links.get(parent);
      if (p && !p.up && !isMappedBridge(p)) await this.change(changes, ['link', 'set', 'dev', parent, 'up']);
    } else if (t.uplink?.vxlan) {
      await this.ensureVxlan(net, t, t.uplink.vxlan.vni, links, changes);
    } else if (t.uplink) {
      const name = t.uplink.name;
      const dev = links.get(name);
      if (!dev)
        throw new Error(`${name} (physical network ${net.physicalNetwork}) does not exist on this host`);
      if (dev.master !== t.bridge) {
        const holder = dev.master ? links.get(dev.master) : undefined;
        if (holder && !holder.alias?.startsWith(ALIAS_PREFIX))
          throw new Error(`${name} is already enslaved to ${holder.name}, which is not kvmstack's`);
        await this.change(changes, ['link', 'set', 'dev', name, 'master', t.bridge]);
      }
      if (!dev.up) await this.change(changes, ['link', 'set', 'dev', name, 'up']);
    }

    if (net.dhcp) await this.ensureDhcp(net, t, links, namespaces, changes);
    await this.attachTaps(net, t, links, changes);
    // up last: the bridge forwards only once everything it needs is in place
    if (t.ownBridge) {
      const now = links.get(t.bridge)?.up ?? false;
      if (now !== net.adminStateUp)
        await this.change(changes, ['link', 'set', 'dev', t.bridge, net.adminStateUp ? 'up' : 'down']);
    }
  }

  /**
   * The network's VXLAN device in its bridge, as Neutron linuxbridge's vxlan-<vni>: `local` this host's tunnel
   * address, the IANA port, and one all-zeros FDB entry per peer, so broadcast, multicast and unknown unicast
   * are replicated to every other host (head-end replication, no multicast in the underlay). It learns: a
   * unicast reply teaches it which host a MAC is behind, so known unicast goes to that one host only, and a
   * migrated VM's announcement moves the entry. That spares the state every port's location (which would
   * change every host's revision at each port binding), at the price of flooding the first packet to a MAC.
   */
  private async ensureVxlan(
    net: RealizedNetwork,
    t: NetworkTarget,
    vni: number,
    links: Map<string, Link>,
    changes: string[],
  ): Promise<void> {
    const tunnel = this.tunnel!;
    const alias = this.alias(net.id);
    const name = t.uplink!.name;
    const mtu = String(net.mtu);
    let dev = links.get(name);
    const fits = (d: Link) =>
      d.kind === 'vxlan' &&
      d.vxlan?.vni === vni &&
      d.vxlan.local === tunnel.localIp &&
      d.vxlan.port === VXLAN_PORT &&
      d.vxlan.learning;
    if (dev && !fits(dev)) {
      // made for this network with other settings (the host's address changed): ours to replace
      if (!dev.alias || !sameNetwork(dev.alias, net.id))
        throw new Error(`${name} exists and is not VXLAN ${vni} from ${tunnel.localIp}`);
      await this.change(changes, ['link', 'del', 'dev', name]);
      dev = undefined;
    }
    if (!dev) {
      const add = [
        ...['link', 'add', 'name', name, 'mtu', mtu, 'type', 'vxlan', 'id', String(vni)],
        ...['local', tunnel.localIp, 'dstport', String(VXLAN_PORT), 'learning'],
      ];
      await this.change(changes, add).catch((err: Error) => {
        throw /Unknown device type|not supported/i.test(err.message)
          ? new Error(`this kernel cannot make VXLAN devices (module vxlan): ${err.message}`)
          : err;
      });
      await this.change(changes, ['link', 'set', 'dev', name, 'alias', alias]);
    } else {
      if (dev.alias !== alias) {
        if (!sameNetwork(dev.alias, net.id)) throw new Error(`${name} exists and is not this network's`);
        await this.change(changes, ['link', 'set', 'dev', name, 'alias', alias]);
      }
      if (dev.mtu !== net.mtu) await this.change(changes, ['link', 'set', 'dev', name, 'mtu', mtu]);
    }
    if (dev?.master !== t.bridge)
      await this.change(changes, ['link', 'set', 'dev', name, 'master', t.bridge]);
    if (!dev?.up) await this.change(changes, ['link', 'set', 'dev', name, 'up']);

    const have = dev ? await readFloodDestinations(this.o.cmd, name) : [];
    for (const peer of tunnel.peers)
      if (!have.includes(peer))
        await this.change(changes, ['fdb', 'append', FLOOD_MAC, 'dev', name, 'dst', peer], 'bridge');
    for (const gone of have)
      if (!tunnel.peers.includes(gone))
        await this.change(changes, ['fdb', 'del', FLOOD_MAC, 'dev', name, 'dst', gone], 'bridge');
  }

  /** Bound ports' taps that exist here (libvirt made them) join the network's bridge, with its MTU. */
  private async attachTaps(
    net: RealizedNetwork,
    t: NetworkTarget,
    links: Map<string, Link>,
    changes: string[],
  ): Promise<void> {
    if (net.ports.length && !links.has(t.bridge)) throw new Error(`bridge ${t.bridge} is missing`);
    for (const p of net.ports) {
      const tap = links.get(p.tap);
      if (!tap) continue;
      if (tap.master !== t.bridge)
        await this.change(changes, ['link', 'set', 'dev', p.tap, 'master', t.bridge]);
      if (tap.mtu !== net.mtu)
        await this.change(changes, ['link', 'set', 'dev', p.tap, 'mtu', String(net.mtu)]);
      const up = p.adminStateUp && net.adminStateUp;
      if (tap.up !== up) await this.change(changes, ['link', 'set', 'dev', p.tap, up ? 'up' : 'down']);
    }
  }

  /**
   * The network's DHCP server, the Neutron way: namespace qdhcp-<network id>, a veth whose bridge end is the
   * DHCP port's tap and whose namespace end carries the port's MAC and addresses, and dnsmasq inside it,
   * known by its pid file. Files changed: SIGHUP; arguments changed or dnsmasq dead: (re)start.
   *
   * Namespace names are Neutron's and carry no host name: on a real host they are unique, and each lab host
   * (tools/lab/host-ns.sh) mounts a private tmpfs over /run, so its /run/netns is its own.
   */
  private async ensureDhcp(
    net: RealizedNetwork,
    t: NetworkTarget,
    links: Map<string, Link>,
    namespaces: Set<string>,
    changes: string[],
  ): Promise<void> {
    const dhcp = net.dhcp;
    if (!dhcp) return;
    const n = dhcpNames(net.id, dhcp.port.id);
    const f = dhcpFiles(join(this.dhcpRoot, net.id));
    this.ensureDirs(f.dir);
    const mtu = String(net.mtu);

    let end = links.get(n.bridgeEnd);
    if (!namespaces.has(n.namespace)) {
      // deleted by hand: a dnsmasq still running holds the old namespace and the old veth's peer
      if (await stopByPidFile(f.pid, basename(this.o.dnsmasqPath)))
        changes.push(`stopped dnsmasq of ${net.id}`);
      if (end) await this.change(changes, ['link', 'del', 'dev', n.bridgeEnd]);
      end = undefined;
      await this.change(changes, ['netns', 'add', n.namespace]);
      await this.change(changes, ['-n', n.namespace, 'link', 'set', 'dev', 'lo', 'up']);
    }
    if (!end) {
      // a namespace end left without its peer would make `add` fail
      const stale = await this.o.cmd('ip', ['-n', n.namespace, '-j', 'link', 'show']);
      if (stale.includes(`"${n.nsEnd}"`))
        await this.change(changes, ['-n', n.namespace, 'link', 'del', n.nsEnd]);
      await this.change(changes, [
        ...['link', 'add', 'name', n.bridgeEnd, 'mtu', mtu, 'type', 'veth'],
        ...['peer', 'name', n.nsEnd, 'mtu', mtu, 'netns', n.namespace],
      ]);
      await this.change(changes, ['link', 'set', 'dev', n.bridgeEnd, 'alias', this.alias(net.id)]);
    } else {
      if (end.alias !== this.alias(net.id)) {
        if (!end.alias || !sameNetwork(end.alias, net.id))
          throw new Error(`${n.bridgeEnd} exists and is not this network's DHCP port`);
        await this.change(changes, ['link', 'set', 'dev', n.bridgeEnd, 'alias', this.alias(net.id)]);
      }
      if (end.mtu !== net.mtu) await this.change(changes, ['link', 'set', 'dev', n.bridgeEnd, 'mtu', mtu]);
    }
    if (end?.master !== t.bridge)
      await this.change(changes, ['link', 'set', 'dev', n.bridgeEnd, 'master', t.bridge]);
    if (!end?.up) await this.change(changes, ['link', 'set', 'dev', n.bridgeEnd, 'up']);
    await this.ensureNsEnd(net, n, changes);

    const hosts = hostsFileText(dhcp);
    const opts = optsFileText(dhcp);
    const filesChanged = [writeIfChanged(f.hosts, hosts), writeIfChanged(f.opts, opts)].some(Boolean);
    const expect = basename(this.o.dnsmasqPath);
    const pidOf = () => {
      const pid = livePidFrom(f.pid);
      return pid !== null && commandOf(pid).includes(expect) ? pid : null;
    };
    if (servedSubnets(dhcp).length === 0) {
      // no IPv4 subnet where the DHCP port has an address: nothing to serve
      if (pidOf() !== null && (await stopByPidFile(f.pid, expect)))
        changes.push(`stopped dnsmasq of ${net.id}`);
      return;
    }
    const args = dnsmasqArgs(dhcp, f, n.nsEnd, net.mtu);
    const argsText = JSON.stringify([this.o.dnsmasqPath, ...args]);
    const pid = pidOf();
    if (pid !== null && readText(f.args) === argsText) {
      if (filesChanged) {
        process.kill(pid, 'SIGHUP');
        changes.push(`dnsmasq of ${net.id} (pid ${pid}) reloaded its leases`);
      }
      return;
    }
    if (pid !== null) await stopByPidFile(f.pid, expect);
    await this.o.cmd('ip', ['netns', 'exec', n.namespace, this.o.dnsmasqPath, ...args]);
    writeFileSync(f.args, argsText);
    changes.push(`started dnsmasq of ${net.id} in ${n.namespace}`);
  }

  /** The namespace end: the DHCP port's MAC, the network's MTU, exactly the port's IPv4 addresses, up. */
  private async ensureNsEnd(
    net: RealizedNetwork,
    n: ReturnType<typeof dhcpNames>,
    changes: string[],
  ): Promise<void> {
    const dhcp = net.dhcp!;
    const ns = ['-n', n.namespace];
    const out = await this.o.cmd('ip', [...ns, '-j', 'addr', 'show', 'dev', n.nsEnd]);
    const [dev] = JSON.parse(out || '[]') as {
      address?: string;
      mtu?: number;
      flags?: string[];
      addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
    }[];
    if (!dev) throw new Error(`${n.nsEnd} is missing in ${n.namespace}`);
    const mac = dhcp.port.mac.toLowerCase();
    if ((dev.address ?? '').toLowerCase() !== mac)
      await this.change(changes, [...ns, 'link', 'set', 'dev', n.nsEnd, 'address', mac]);
    if (dev.mtu !== net.mtu)
      await this.change(changes, [...ns, 'link', 'set', 'dev', n.nsEnd, 'mtu', String(net.mtu)]);
    const want = new Set(
      dhcp.port.fixedIps.filter((f) => !f.ip.includes(':')).map((f) => `${f.ip}/${f.prefixLen}`),
    );
    const have = new Set(
      (dev.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    );
    for (const a of have)
      if (!want.has(a)) await this.change(changes, [...ns, 'addr', 'del', a, 'dev', n.nsEnd]);
    for (const a of want)
      if (!have.has(a)) await this.change(changes, [...ns, 'addr', 'add', a, 'dev', n.nsEnd]);
    if (!(dev.flags ?? []).includes('UP'))
      await this.change(changes, [...ns, 'link', 'set', 'dev', n.nsEnd, 'up']);
  }

  /**
   * Deletes what kvmstack made for networks (or DHCP ports) no longer in the state: devices by their alias,
   * DHCP servers by their directory. Devices of a network that failed this round are kept.
   */
  private async removeStale(
    realizable: { net: RealizedNetwork; target: NetworkTarget }[],
    links: Map<string, Link>,
    changes: string[],
  ): Promise<void> {
    const keep = new Set<string>();
    const dhcpWanted = new Set<string>();
    for (const { net, target } of realizable) {
      if (target.ownBridge) keep.add(target.bridge);
      if (target.uplink?.vlan || target.uplink?.vxlan) keep.add(target.uplink.name);
      if (net.dhcp) {
        keep.add(dhcpNames(net.id, net.dhcp.port.id).bridgeEnd);
        dhcpWanted.add(net.id);
      }
    }
    if (existsSync(this.dhcpRoot)) {
      for (const id of readdirSync(this.dhcpRoot)) {
        if (!dhcpWanted.has(id)) await this.removeDhcp(id, changes);
      }
    }
    const stale = [...links.values()]
      .filter((l) => ownedBy(l.alias, this.o.owner) && !keep.has(l.name))
      .sort((a, b) => REMOVE_ORDER(a) - REMOVE_ORDER(b));
    for (const l of stale) {
      // a veth goes with its peer when its DHCP namespace is deleted above: skip what is already gone
      const gone = await this.o.cmd('ip', ['link', 'show', 'dev', l.name]).then(
        () => false,
        () => true,
      );
      if (!gone) await this.change(changes, ['link', 'del', 'dev', l.name]);
    }
  }

  /** Stops a network's dnsmasq, deletes its namespace (and with it the DHCP veth) and its files. */
  private async removeDhcp(networkId: string, changes: string[]): Promise<void> {
    const f = dhcpFiles(join(this.dhcpRoot, networkId));
    if (await stopByPidFile(f.pid, basename(this.o.dnsmasqPath)))
      changes.push(`stopped dnsmasq of ${networkId}`);
    const ns = dhcpNames(networkId, '').namespace;
    if ((await readNamespaces(this.o.cmd)).has(ns)) await this.change(changes, ['netns', 'del', ns]);
    rmSync(f.dir, { recursive: true, force: true });
  }

  /**
   * dnsmasq drops root after start and re-reads its files on SIGHUP as an unprivileged user: it must be able to
   * reach them. The state directory gains search permission only (its credential file stays 0600).
   */
  private ensureDirs(dir: string): void {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const d of [this.o.stateDir, this.dhcpRoot]) {
      const mode = statSync(d).mode & 0o7777;
      if ((mode & 0o001) === 0) chmodSync(d, mode | 0o001);
    }
  }
}

/** No alias, or a kvmstack alias of this network whatever its owner. */
function sameNetwork(alias: string | null, networkId: string): boolean {
  return !alias || alias === aliasFor(networkId) || alias.startsWith(`${aliasFor(networkId)}@`);
}

/** A device this round made, as the next `ip link show` will report it (down until set up). */
function newLink(name: string, kind: string, mtu: number, alias: string): Link {
  return { name, kind, master: null, mtu, up: false, mac: '', alias, vlanId: null, parent: null };
}

function isMappedBridge(l: Link): boolean {
  return l.kind === 'bridge' && !l.alias?.startsWith(ALIAS_PREFIX);
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** Writes a DHCP file (world-readable: dnsmasq re-reads it unprivileged) if its content differs. */
function writeIfChanged(file: string, text: string): boolean {
  if (readText(file) === text) return false;
  // renamed into place: dnsmasq never reads half a file
  writeFileSync(`${file}.tmp`, text, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
  return true;
}
