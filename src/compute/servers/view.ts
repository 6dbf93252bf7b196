/** Server bodies as Nova's views/servers.py marshals them, per microversion. */
import { novaHostId } from './instance-actions/host-id.js';
import type { Microversion } from '../../common/microversion.js';
import type { ServerRow } from './model.js';

/** Nova's (vm_state, task_state) → status map (nova/api/openstack/common.py _STATE_MAP). */
const STATE_MAP: Record<string, Record<string, string>> = {
  building: { default: 'BUILD' },
  active: {
    default: 'ACTIVE',
    rebooting: 'REBOOT',
    reboot_pending: 'REBOOT',
    reboot_started: 'REBOOT',
    rebooting_hard: 'HARD_REBOOT',
    reboot_pending_hard: 'HARD_REBOOT',
    reboot_started_hard: 'HARD_REBOOT',
    updating_password: 'PASSWORD',
    rebuilding: 'REBUILD',
    rebuild_block_device_mapping: 'REBUILD',
    rebuild_spawning: 'REBUILD',
    migrating: 'MIGRATING',
    resize_prep: 'RESIZE',
    resize_migrating: 'RESIZE',
    resize_migrated: 'RESIZE',
    resize_finish: 'RESIZE',
  },
  stopped: {
    default: 'SHUTOFF',
    rebuilding: 'REBUILD',
    rebuild_block_device_mapping: 'REBUILD',
    rebuild_spawning: 'REBUILD',
    resize_prep: 'RESIZE',
  },
  paused: { default: 'PAUSED', migrating: 'MIGRATING' },
  suspended: { default: 'SUSPENDED' },
  rescued: { default: 'RESCUE' },
  error: {
    default: 'ERROR',
    rebuilding: 'REBUILD',
    rebuild_block_device_mapping: 'REBUILD',
    rebuild_spawning: 'REBUILD',
  },
  deleted: { default: 'DELETED' },
  'soft-delete': { default: 'SOFT_DELETED' },
};

export function statusOf(vmState: string, taskState: string | null): string {
  const m = STATE_MAP[vmState];
  if (!m) return 'UNKNOWN';
  return (taskState && m[taskState]) || m.default;
}

/** status filter → the vm_states it stands for (Nova's status_to_vm_states, reduced to what we have). */
export const STATUS_TO_VM_STATE: Record<string, { vmStates: string[]; taskStates?: string[] }> = {
  ACTIVE: { vmStates: ['active'] },
  BUILD: { vmStates: ['building'] },
  SHUTOFF: { vmStates: ['stopped'] },
  PAUSED: { vmStates: ['paused'] },
  SUSPENDED: { vmStates: ['suspended'] },
  ERROR: { vmStates: ['error'] },
  DELETED: { vmStates: ['deleted'] },
  SOFT_DELETED: { vmStates: ['soft-delete'] },
  RESCUE: { vmStates: ['rescued'] },
  REBOOT: { vmStates: ['active'], taskStates: ['rebooting', 'reboot_pending', 'reboot_started'] },
  HARD_REBOOT: {
    vmStates: ['active'],
    taskStates: ['rebooting_hard', 'reboot_pending_hard', 'reboot_started_hard'],
  },
  REBUILD: { vmStates: ['active', 'stopped', 'error'], taskStates: ['rebuilding', 'rebuild_spawning'] },
  MIGRATING: { vmStates: ['active', 'paused'], taskStates: ['migrating'] },
  PASSWORD: { vmStates: ['active'], taskStates: ['updating_password'] },
};

const PROGRESS_STATUSES = new Set(['ACTIVE', 'BUILD', 'REBUILD', 'RESIZE', 'VERIFY_RESIZE', 'MIGRATING']);

/** Nova's datetime format in server bodies: ISO 8601 with Z, seconds precision. */
export const isoZ = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
/** OS-SRV-USG times: microseconds and no zone, as Nova's (gophercloud parses exactly this). */
export const usgTime = (ms: number | null): string | null =>
  ms === null
    ? null
    : new Date(ms)
        .toISOString()
        .replace('Z', '')
        .replace(/\.(\d{3})$/, '.$1000');

export interface Address {
  addr: string;
  version: number;
  'OS-EXT-IPS:type': 'fixed' | 'floating';
  'OS-EXT-IPS-MAC:mac_addr': string;
}

/** What the list/show handlers load in bulk for the servers they render. */
export interface ServerExtras {
  hosts: Map<number, { hostname: string; status: 'UP' | 'DOWN' | 'MAINTENANCE' | 'UNKNOWN' }>;
  metadata: Map<string, Record<string, string>>;
  tags: Map<string, string[]>;
  addresses: Map<string, Record<string, Address[]>>;
  securityGroups: Map<string, string[]>;
  groups: Map<string, string[]>;
}

export interface ServerViewOptions {
  base: string;
  admin: boolean;
  /** The caller's project (Nova shows host_status to admins only by default). */
  mv: Microversion;
}

function links(base: string, kind: string, id: string) {
  return [
    { rel: 'self', href: `${base}/v2.1/${kind}/${id}` },
    { rel: 'bookmark', href: `${base}/${kind}/${id}` },
  ];
}

/** GET /servers items (and the minimal body novaclient's find reads): id, name, links. */
export function serverBriefView(s: ServerRow, o: Pick<ServerViewOptions, 'base'>): Record<string, unknown> {
  return { id: s.uuid, name: s.name, links: links(o.base, 'servers', s.uuid) };
}

/** GET /servers/{id}, /servers/detail items, and the update/rebuild answers. */
export function serverView(s: ServerRow, x: ServerExtras, o: ServerViewOptions): Record<string, unknown> {
  const { mv } = o;
  const host = s.hostId === null ? undefined : x.hosts.get(s.hostId);
  const status = s.deletedAt !== null ? 'DELETED' : statusOf(s.vmState, s.taskState);
  const body: Record<string, unknown> = {
    id: s.uuid,
    name: s.name,
    status,
    tenant_id: s.projectId,
    user_id: s.userId,
    metadata: x.metadata.get(s.uuid) ?? {},
    hostId: novaHostId(s.projectId, host?.hostname ?? null),
    image: s.imageId
      ? { id: s.imageId, links: [{ rel: 'bookmark', href: `${o.base}/images/${s.imageId}` }] }
      : '',
    flavor: mv.atLeast('2.47')
      ? {
          // 2.47: the flavor as it was at boot, embedded
          vcpus: s.flavor.vcpus,
          ram: s.flavor.ram,
          disk: s.flavor.disk,
          ephemeral: s.flavor.ephemeral,
          swap: s.flavor.swap,
          original_name: s.flavor.name,
          extra_specs: s.flavor.extra_specs,
        }
      : { id: s.flavor.id, links: [{ rel: 'bookmark', href: `${o.base}/flavors/${s.flavor.id}` }] },
    created: isoZ(s.createdAt),
    updated: isoZ(s.updatedAt),
    addresses: x.addresses.get(s.uuid) ?? {},
    accessIPv4: s.accessIpV4 ?? '',
    accessIPv6: s.accessIpV6 ?? '',
    links: links(o.base, 'servers', s.uuid),
    'OS-DCF:diskConfig': 'MANUAL',
  };
  if (PROGRESS_STATUSES.has(status)) body.progress = s.progress;
  body['OS-EXT-AZ:availability_zone'] = s.availabilityZone ?? '';
  body.config_drive = s.configDrive ? 'True' : '';
  body.key_name = s.keyName;
  body['OS-SRV-USG:launched_at'] = usgTime(s.launchedAt);
  body['OS-SRV-USG:terminated_at'] = usgTime(s.terminatedAt);
  const groups = x.securityGroups.get(s.uuid);
  if (groups?.length) body.security_groups = groups.map((name) => ({ name }));
  body['OS-EXT-STS:task_state'] = s.taskState;
  body['OS-EXT-STS:vm_state'] = s.deletedAt !== null ? 'deleted' : s.vmState;
  body['OS-EXT-STS:power_state'] = s.powerState;
  body['os-extended-volumes:volumes_attached'] = [];
  if (o.admin) {
    body['OS-EXT-SRV-ATTR:host'] = host?.hostname ?? null;
    body['OS-EXT-SRV-ATTR:instance_name'] = instanceName(s.uuid);
    body['OS-EXT-SRV-ATTR:hypervisor_hostname'] = host?.hostname ?? null;
    if (mv.atLeast('2.3')) {
      // 2.3: more extended attributes, for admins
      body['OS-EXT-SRV-ATTR:reservation_id'] = s.reservationId;
      body['OS-EXT-SRV-ATTR:launch_index'] = s.launchIndex;
      body['OS-EXT-SRV-ATTR:kernel_id'] = '';
      body['OS-EXT-SRV-ATTR:ramdisk_id'] = '';
      body['OS-EXT-SRV-ATTR:hostname'] = s.hostname;
      body['OS-EXT-SRV-ATTR:root_device_name'] = '/dev/vda';
      body['OS-EXT-SRV-ATTR:user_data'] = s.userData;
    }
  }
  if (s.fault && (status === 'ERROR' || status === 'DELETED')) {
    const fault: Record<string, unknown> = {
      code: s.fault.code,
      message: s.fault.message,
      created: isoZ(s.fault.created),
    };
    // Nova shows details to admins always, to others only for non-500 faults
    if (s.fault.details && (o.admin || s.fault.code !== 500)) fault.details = s.fault.details;
    body.fault = fault;
  }
  if (mv.atLeast('2.9')) body.locked = s.locked; // 2.9
  if (mv.atLeast('2.16') && o.admin) body.host_status = host?.status ?? ''; // 2.16
  if (mv.atLeast('2.19')) body.description = s.description; // 2.19
  if (mv.atLeast('2.26')) body.tags = x.tags.get(s.uuid) ?? []; // 2.26
  if (mv.atLeast('2.63')) body.trusted_image_certificates = null; // 2.63: none, kvmstack does not verify images
  if (mv.atLeast('2.71')) body.server_groups = x.groups.get(s.uuid) ?? []; // 2.71
  if (mv.atLeast('2.73')) body.locked_reason = s.lockedReason; // 2.73
  if (mv.atLeast('2.3')) {
    body['os-extended-volumes:volumes_attached'] = []; // 2.3 adds delete_on_termination per volume
  }
  return body;
}

/** libvirt domain name of a server (OS-EXT-SRV-ATTR:instance_name). */
export const instanceName = (uuid: string): string => `instance-${uuid}`;

/**
 * The server in PUT /servers/{id} and rebuild answers: before 2.75 Nova shows the basic view there, without the
 * extended attributes (OS-EXT-*, OS-SRV-USG, config_drive, key_name, security_groups, volumes, host_status);
 * from 2.75 the same body as GET.
 */
export function updateAnswerView(full: Record<string, unknown>, mv: Microversion): Record<string, unknown> {
  if (mv.atLeast('2.75')) return full;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(full)) {
    if (/^(OS-EXT-|OS-SRV-USG:|os-extended-volumes:)/.test(k)) continue;
    if (['config_drive', 'key_name', 'security_groups', 'host_status'].includes(k)) continue;
    out[k] = v;
  }
  // and the addresses without their OS-EXT-IPS extensions: {addr, version} as in GET .../ips
  const addresses = full.addresses as Record<string, Address[]>;
  out.addresses = Object.fromEntries(
    Object.entries(addresses).map(([net, list]) => [
      net,
      list.map((a) => ({ addr: a.addr, version: a.version })),
    ]),
  );
  return out;
}
