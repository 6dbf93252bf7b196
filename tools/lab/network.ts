/** The lab's network: the fabric and client namespaces, one namespace per host, and the root ns link. */
import { run, tryRun } from '../../src/common/exec.js';
import {
  CLI_EXT_IP,
  CLI_NS,
  EXT_BRIDGE,
  EXT_PREFIX,
  FAB_EXT_IP,
  FAB_MGMT_IP,
  FAB_NS,
  HOST_EXT_BRIDGE,
  HOST_TRUNK_IFACE,
  LAB_NS_PATTERN,
  MGMT_BRIDGE,
  MGMT_PREFIX,
  ROOT_LINK,
  ROOT_MGMT_IP,
  TRUNK_BRIDGE,
  type LabHost,
} from './topology.js';

const ipn = (ns: string, ...args: string[]) => run('ip', ['-n', ns, ...args]);

/** The lab's network namespaces that exist now. */
export async function labNamespaces(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => LAB_NS_PATTERN.test(n));
}

async function addNamespace(ns: string): Promise<void> {
  await run('ip', ['netns', 'add', ns]);
  await ipn(ns, 'link', 'set', 'lo', 'up');
}

async function addBridge(ns: string, bridge: string, cidr: string): Promise<void> {
  await ipn(ns, 'link', 'add', bridge, 'type', 'bridge');
  await ipn(ns, 'addr', 'add', cidr, 'dev', bridge);
  await ipn(ns, 'link', 'set', bridge, 'up');
}

/** A veth pair from `ns` (local end) to the fabric, its fabric end enslaved to `fabBridge`. */
async function uplink(ns: string | null, local: string, fabEnd: string, fabBridge: string): Promise<void> {
  await run('ip', [
    ...(ns ? ['-n', ns] : []),
    ...['link', 'add', local, 'type', 'veth', 'peer', 'name', fabEnd, 'netns', FAB_NS],
  ]);
  await ipn(FAB_NS, 'link', 'set', fabEnd, 'master', fabBridge, 'up');
}

/** Fabric (brm, bre, the trunk switch brt), the root ns link into brm, and the external client. */
export async function createFabric(): Promise<void> {
  await addNamespace(FAB_NS);
  await addBridge(FAB_NS, MGMT_BRIDGE, `${FAB_MGMT_IP}/${MGMT_PREFIX}`);
  await addBridge(FAB_NS, EXT_BRIDGE, `${FAB_EXT_IP}/${EXT_PREFIX}`);
  // a plain bridge forwards tagged frames as they are: the hosts' VLANs stay apart by their tags
  await ipn(FAB_NS, 'link', 'add', TRUNK_BRIDGE, 'type', 'bridge');
  await ipn(FAB_NS, 'link', 'set', TRUNK_BRIDGE, 'up');
  // the fabric is a switch, not a router: clients reach guests only through what the hosts publish
  await run('ip', ['netns', 'exec', FAB_NS, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);

  // the root ns joins the management network, so tests and the lab API reach every host directly
  await uplink(null, ROOT_LINK, 'root0', MGMT_BRIDGE);
  await run('ip', ['addr', 'add', `${ROOT_MGMT_IP}/${MGMT_PREFIX}`, 'dev', ROOT_LINK]);
  await run('ip', ['link', 'set', ROOT_LINK, 'up']);

  await addNamespace(CLI_NS);
  await uplink(CLI_NS, 'eth0', 'cli0', EXT_BRIDGE);
  await ipn(CLI_NS, 'addr', 'add', `${CLI_EXT_IP}/${EXT_PREFIX}`, 'dev', 'eth0');
  await ipn(CLI_NS, 'link', 'set', 'eth0', 'up');
}

/**
 * One host: br0 (management address; the provider network's taps join it) over an uplink into brm, brx
 * (external address; the external network's bridge) over ext0 into bre, and trunk0 into brt for VLANs.
 */
export async function createHostNetwork(h: LabHost): Promise<void> {
  await addNamespace(h.netns);
  await uplink(h.netns, 'mgmt0', `h${h.index}-mgmt`, MGMT_BRIDGE);
  await ipn(h.netns, 'link', 'add', h.bridge, 'type', 'bridge');
  await ipn(h.netns, 'link', 'set', 'mgmt0', 'master', h.bridge, 'up');
  await ipn(h.netns, 'addr', 'add', `${h.mgmtIp}/${MGMT_PREFIX}`, 'dev', h.bridge);
  await ipn(h.netns, 'link', 'set', h.bridge, 'up');
  await uplink(h.netns, 'ext0', `h${h.index}-ext`, EXT_BRIDGE);
  await ipn(h.netns, 'link', 'add', HOST_EXT_BRIDGE, 'type', 'bridge');
  await ipn(h.netns, 'link', 'set', 'ext0', 'master', HOST_EXT_BRIDGE, 'up');
  await ipn(h.netns, 'addr', 'add', `${h.extIp}/${EXT_PREFIX}`, 'dev', HOST_EXT_BRIDGE);
  await ipn(h.netns, 'link', 'set', HOST_EXT_BRIDGE, 'up');
  await uplink(h.netns, HOST_TRUNK_IFACE, `h${h.index}-trk`, TRUNK_BRIDGE);
  await ipn(h.netns, 'link', 'set', HOST_TRUNK_IFACE, 'up');
  await run('ip', ['netns', 'exec', h.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
}

/** Deletes the lab's namespaces (their veths go with them) and the root ns link. Idempotent. */
export async function deleteNetwork(): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of await labNamespaces()) {
    await run('ip', ['netns', 'del', ns]);
    removed.push(ns);
  }
  // normally gone with its peer in ks-fab; a half-made lab may have left it
  if ((await tryRun('ip', ['link', 'show', ROOT_LINK])).code === 0) {
    await run('ip', ['link', 'del', ROOT_LINK]);
    removed.push(ROOT_LINK);
  }
  return removed;
}
