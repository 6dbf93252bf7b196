/** The text of every configuration file the lab writes (pure functions, unit-tested). */
import {
  GLUSTER_NODE,
  GLUSTER_VOLUME,
  HOSTS_MARK,
  LAB_BRIDGE_MAPPINGS,
  LAB_INTERFACE_MAPPINGS,
  LAB_TENANT_NETWORK_TYPE,
  LAB_VLAN_RANGES,
  LAB_VNI_RANGES,
  type LabHost,
} from './topology.js';

/** The name of the lab's shared store in every agent's `[store NAME]` and the API's `[image] store_name`. */
export const LAB_STORE_NAME = 'shared';

/** Replaces (or appends) `key = value` settings in a libvirt-style config, dropping earlier occurrences. */
export function setConfValues(base: string, values: Record<string, string | number>): string {
  const keys = Object.keys(values);
  const kept = base.split('\n').filter((line) => !keys.some((k) => new RegExp(`^\\s*${k}\\s*=`).test(line)));
  while (kept.length && kept[kept.length - 1] === '') kept.pop();
  const added = keys.map((k) => {
    const v = values[k];
    return `${k} = ${typeof v === 'number' ? v : JSON.stringify(v)}`;
  });
  return [...kept, '', '# kvmstack lab host', ...added, ''].join('\n');
}

/** libvirtd on TCP on the host's management address, without authentication (lab only), own host UUID. */
export function libvirtdConf(base: string, host: LabHost, hostUuid: string): string {
  return setConfValues(base, {
    listen_tls: 0,
    listen_tcp: 1,
    listen_addr: host.mgmtIp,
    auth_tcp: 'none',
    // without its own UUID every lab host is "the same host" and libvirt refuses migrations between them
    host_uuid: hostUuid,
    log_outputs: '3:file:/var/log/libvirt/libvirtd.log',
  });
}

/** QEMU: virtlockd disk leases; migrations reach this host at its management address (no DNS in the lab). */
export function qemuConf(base: string, host: LabHost): string {
  return setConfValues(base, { lock_manager: 'lockd', migration_host: host.mgmtIp });
}

/** /etc/hosts inside a host's mount ns: every lab host, and the Gluster node name for the FUSE client. */
export function hostsFile(hosts: readonly LabHost[]): string {
  return [
    '127.0.0.1 localhost',
    `127.0.0.1 ${GLUSTER_NODE}`,
    ...hosts.map((h) => `${h.mgmtIp} ${h.name}`),
    '',
  ].join('\n');
}

/** /etc/hosts of the root ns with the lab's line added (idempotent) or removed. */
export function withHostsEntry(text: string, present: boolean): string {
  const lines = text.split('\n').filter((l) => !l.endsWith(HOSTS_MARK));
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (present) lines.push(`127.0.0.1 ${GLUSTER_NODE} ${HOSTS_MARK}`);
  return lines.join('\n') + '\n';
}

/** A private glusterd: own working and run directories and CLI socket, so the system's /var/lib/glusterd stays untouched. */
export function glusterdVol(p: { lib: string; run: string; socket: string }): string {
  return [
    'volume management',
    '    type mgmt/glusterd',
    `    option working-directory ${p.lib}`,
    `    option run-directory ${p.run}`,
    `    option glusterd-sockfile ${p.socket}`,
    '    option transport-type socket',
    '    option transport.socket.listen-port 24007',
    '    option ping-timeout 0',
    '    option event-threads 1',
    'end-volume',
    '',
  ].join('\n');
}

/** Agent timings in seconds (tests shorten them); an unset one keeps the agent's default. */
export interface AgentTuning {
  heartbeatInterval?: number;
  leaseInterval?: number;
  selfFenceAfter?: number;
}

export interface AgentConfInput {
  apiUrl: string;
  enrollmentSecret: string;
  host: LabHost;
  rpcPort: number;
  stateDir: string;
  storeMount: string;
  tuning?: AgentTuning;
}

/** The host agent's INI configuration for one lab host. */
export function agentConf(a: AgentConfInput): string {
  return [
    '# kvmstack host agent of lab host ' + a.host.name,
    '[agent]',
    `api_url = ${a.apiUrl}`,
    `enrollment_secret = ${a.enrollmentSecret}`,
    `hostname = ${a.host.name}`,
    `host_ip = ${a.host.mgmtIp}`,
    `rpc_listen = ${a.host.mgmtIp}`,
    `rpc_port = ${a.rpcPort}`,
    `state_dir = ${a.stateDir}`,
    'driver = libvirt',
    // inside the host's mount ns qemu:///system is this host's own libvirtd (its /run/libvirt)
    'libvirt_uri = qemu:///system',
    'virt_type = auto',
    ...tuningLines(a.tuning ?? {}),
    '',
    '[network]',
    `bridge_mappings = ${LAB_BRIDGE_MAPPINGS}`,
    `physical_interface_mappings = ${LAB_INTERFACE_MAPPINGS}`,
    '',
    `[store ${LAB_STORE_NAME}]`,
    'type = glusterfs',
    `source = 127.0.0.1:/${GLUSTER_VOLUME}`,
    `mount = ${a.storeMount}`,
    '',
  ].join('\n');
}

const TUNING_OPTIONS: Record<keyof AgentTuning, string> = {
  heartbeatInterval: 'heartbeat_interval',
  leaseInterval: 'lease_interval',
  selfFenceAfter: 'self_fence_after',
};

function tuningLines(t: AgentTuning): string[] {
  return (Object.keys(TUNING_OPTIONS) as (keyof AgentTuning)[])
    .filter((k) => t[k] !== undefined)
    .map((k) => `${TUNING_OPTIONS[k]} = ${t[k]}`);
}

/** The lab API's kvmstack.conf: listens on the root ns end of the management network. */
export function apiConf(a: {
  dataDir: string;
  listen: string;
  port: number;
  enrollmentSecret: string;
  adminPassword: string;
  /** The Gluster volume as the API sees it (mounted in the root ns): Glance writes images there. */
  imageStoreDir: string;
}): string {
  return [
    '# kvmstack API of the lab',
    '[DEFAULT]',
    `data_dir = ${a.dataDir}`,
    `log_file = ${a.dataDir}/kvmstack-api.log`,
    '',
    '[api]',
    `listen = ${a.listen}`,
    `port = ${a.port}`,
    `public_url = http://${a.listen}:${a.port}`,
    '',
    '[bootstrap]',
    `admin_password = ${a.adminPassword}`,
    '',
    '[cluster]',
    `enrollment_secret = ${a.enrollmentSecret}`,
    '',
    '[identity]',
    // cheap hashes: the lab is for tests, not for keeping passwords
    'password_hash_rounds = 4',
    '',
    '[image]',
    `store_dir = ${a.imageStoreDir}`,
    `store_name = ${LAB_STORE_NAME}`,
    '',
    '[network]',
    // project networks are VXLAN over the management network: this kernel may lack 802.1Q, and VXLAN needs
    // no switch; the trunk keeps serving admins' VLAN networks where the kernel has it
    `tenant_network_type = ${LAB_TENANT_NETWORK_TYPE}`,
    `vni_ranges = ${LAB_VNI_RANGES}`,
    `network_vlan_ranges = ${LAB_VLAN_RANGES}`,
    '',
  ].join('\n');
}
