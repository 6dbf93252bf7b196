/**
 * The lab's names, addresses and paths, in one place. Everything the lab creates carries the `ks-` prefix
 * (namespaces, the root-side veth, the Gluster volume and node name), so that `lab down` can remove exactly
 * that and nothing of anyone else's.
 *
 *   root ns ── ks-lab0 10.99.0.254 ─┐            (the test process, the lab API; reaches every libvirtd)
 *   ks-fab:  brm 10.99.0.1/24  ◄────┴── hN-mgmt ── ks-hN: mgmt0 ∈ br0 10.99.0.1N   (management + provider L2)
 *            bre 192.168.50.1/24 ◄───── hN-ext  ── ks-hN: ext0 ∈ brx 192.168.50.1N (external network)
 *                                ◄───── cli0    ── ks-cli: eth0 192.168.50.100       (an outside client)
 *            brt (no address)    ◄───── hN-trk  ── ks-hN: trunk0                     (VLAN trunk)
 *
 * Each host's agent maps `provider:br0,external:brx` (bridge_mappings) and `trunk:trunk0`
 * (physical_interface_mappings); the lab API gives project networks VXLAN VNIs 1-1000, tunnelled between the
 * hosts' management addresses (vxlan-<vni> in each host), and admins VLANs 100-199 on `trunk`.
 */
import { join } from 'node:path';

export const MAX_HOSTS = 8;
export const FAB_NS = 'ks-fab';
export const CLI_NS = 'ks-cli';
/** Exactly the network namespaces a lab may own. */
export const LAB_NS_PATTERN = /^ks-(fab|cli|h[0-9]+)$/;
export const ROOT_LINK = 'ks-lab0';
export const MGMT_BRIDGE = 'brm';
export const EXT_BRIDGE = 'bre';
/** The fabric's VLAN trunk switch: carries tagged frames between the hosts' trunk0, no address. */
export const TRUNK_BRIDGE = 'brt';
/** Inside every host: the bridge holding ext0 and the host's external address (a mapped bridge). */
export const HOST_EXT_BRIDGE = 'brx';
export const HOST_TRUNK_IFACE = 'trunk0';
/** What the lab's agents map, and the API's VLAN range on the trunk. */
export const LAB_BRIDGE_MAPPINGS = `provider:br0,external:${HOST_EXT_BRIDGE}`;
export const LAB_INTERFACE_MAPPINGS = `trunk:${HOST_TRUNK_IFACE}`;
export const LAB_VLAN_RANGES = 'trunk:100:199';
export const LAB_TENANT_NETWORK_TYPE = 'vxlan';
export const LAB_VNI_RANGES = '1:1000';
/** The Neutron networks `lab up` creates: the provider network on br0 and the external one on brx. */
export const LAB_PROVIDER_NET = {
  name: 'provider',
  physnet: 'provider',
  cidr: '10.99.0.0/24',
  gateway: '10.99.0.1',
  // clear of the fabric (.1), the hosts (.11-.18) and the root ns (.254)
  pool: { start: '10.99.0.100', end: '10.99.0.199' },
} as const;
export const LAB_EXTERNAL_NET = {
  name: 'external',
  physnet: 'external',
  cidr: '192.168.50.0/24',
  gateway: '192.168.50.1',
  // clear of the fabric (.1), the hosts (.11-.18) and the client (.100)
  pool: { start: '192.168.50.128', end: '192.168.50.250' },
} as const;
export const MGMT_PREFIX = 24;
export const EXT_PREFIX = 24;
export const FAB_MGMT_IP = '10.99.0.1';
export const ROOT_MGMT_IP = '10.99.0.254';
export const FAB_EXT_IP = '192.168.50.1';
export const CLI_EXT_IP = '192.168.50.100';
export const GLUSTER_VOLUME = 'ks-shared';
/** Brick node name, mapped to 127.0.0.1 in /etc/hosts (gluster refuses `localhost` and 127.0.0.1 as a node). */
export const GLUSTER_NODE = 'ks-gluster';
/** Marks the lab's line in /etc/hosts. */
export const HOSTS_MARK = '# kvmstack-lab';
export const LIBVIRT_TCP_PORT = 16509;
export const DEFAULT_API_PORT = 5099;
/** The libvirt directories every lab host gets its own copy of, bound over the system's in its mount ns. */
export const LIBVIRT_DIRS = {
  etc: '/etc/libvirt',
  run: '/run/libvirt',
  lib: '/var/lib/libvirt',
  log: '/var/log/libvirt',
  cache: '/var/cache/libvirt',
} as const;

export function defaultStateDir(): string {
  return process.env.KVMSTACK_LAB_DIR || '/var/lib/kvmstack-lab';
}

export interface LabHost {
  index: number;
  name: string;
  /** Network namespace (also the host's UTS hostname). */
  netns: string;
  mgmtIp: string;
  extIp: string;
  /** Bridge inside the host that guest taps join. */
  bridge: string;
  libvirtUri: string;
  dir: string;
  pidFile: {
    anchor: string;
    virtlogd: string;
    virtlockd: string;
    libvirtd: string;
    fuse: string;
    agent: string;
  };
}

export function labHost(stateDir: string, index: number): LabHost {
  const name = `ks-h${index}`;
  const dir = join(stateDir, 'hosts', name);
  const mgmtIp = `10.99.0.${10 + index}`;
  return {
    index,
    name,
    netns: name,
    mgmtIp,
    extIp: `192.168.50.${10 + index}`,
    bridge: 'br0',
    libvirtUri: `qemu+tcp://${mgmtIp}/system`,
    dir,
    pidFile: {
      anchor: join(dir, 'anchor.pid'),
      virtlogd: join(dir, 'virtlogd.pid'),
      virtlockd: join(dir, 'virtlockd.pid'),
      libvirtd: join(dir, 'libvirtd.pid'),
      fuse: join(dir, 'glusterfs-fuse.pid'),
      agent: join(dir, 'agent', 'agent.pid'),
    },
  };
}

/** Paths of one lab, all under its state directory. */
export function labPaths(stateDir: string) {
  const gluster = join(stateDir, 'gluster');
  return {
    stateDir,
    stateFile: join(stateDir, 'lab.json'),
    hostsDir: join(stateDir, 'hosts'),
    /** The shared store: the same path on every host (inside each host's mount ns); empty in the root ns. */
    store: join(stateDir, 'store'),
    gluster,
    glusterVol: join(gluster, 'glusterd.vol'),
    glusterLib: join(gluster, 'lib'),
    glusterRun: join(gluster, 'run'),
    glusterSocket: join(gluster, 'glusterd.socket'),
    glusterPid: join(gluster, 'glusterd.pid'),
    glusterLog: join(gluster, 'log'),
    bricks: [join(gluster, 'bricks', 'b1'), join(gluster, 'bricks', 'b2')],
    api: join(stateDir, 'api'),
    /** The Gluster volume mounted in the root ns, where the lab API writes Glance images. */
    apiStore: join(stateDir, 'api-store'),
    /** Kept across labs: a warm libvirt capabilities cache saves each new libvirtd 8-12 s of QEMU probing. */
    seedCache: join(stateDir, 'seed', 'libvirt-cache'),
  };
}
export type LabPaths = ReturnType<typeof labPaths>;
