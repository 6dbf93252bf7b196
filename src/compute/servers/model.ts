/**
 * The server record (table `servers`, migration 009) and how a request finds one. Placement and the domain
 * spec live in the cluster's `instances` table; this is what the compute API shows.
 */
import type { Knex } from 'knex';
import type { AuthContext } from '../../common/context.js';
import { NotFound } from '../../common/errors.js';
import { fromJson, toBool } from '../../db/columns.js';
import { isAdmin } from '../policy.js';

/** Nova's power_state integers. */
export const POWER = { nostate: 0, running: 1, paused: 3, shutdown: 4, crashed: 6, suspended: 7 } as const;

export type VmState =
  | 'building'
  | 'active'
  | 'stopped'
  | 'paused'
  | 'suspended'
  | 'rescued'
  | 'error'
  | 'deleted'
  | 'soft-delete';

/** The flavor as embedded at boot (Nova 2.47's server.flavor, and the ids for earlier versions). */
export interface EmbeddedFlavor {
  id: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
  ephemeral: number;
  swap: number;
  extra_specs: Record<string, string>;
}

/** What `POST /servers` asked for, kept for the boot task (which may run in another API process). */
export interface ServerRequest {
  /** [] with `none`; "auto" networks are resolved into concrete entries at create time. */
  networks: { uuid?: string; port?: string; fixed_ip?: string; tag?: string }[];
  securityGroups: string[];
  schedulerHints: Record<string, unknown>;
  /** A host asked for by an admin: `availability_zone` "zone:host" or `host`/`hypervisor_hostname` (2.74). */
  forcedHost: string | null;
  adminPass: string | null;
  personality?: { path: string; contents: string }[];
}

export interface Fault {
  code: number;
  message: string;
  details?: string;
  created: number;
}

export interface ServerRow {
  uuid: string;
  projectId: string;
  userId: string;
  name: string;
  hostname: string;
  description: string | null;
  imageId: string;
  flavor: EmbeddedFlavor;
  vcpus: number;
  memoryMb: number;
  rootGb: number;
  keyName: string | null;
  keyData: string | null;
  userData: string | null;
  configDrive: boolean;
  availabilityZone: string | null;
  vmState: VmState;
  taskState: string | null;
  powerState: number;
  progress: number;
  hostId: number | null;
  locked: boolean;
  lockedBy: 'admin' | 'owner' | null;
  lockedReason: string | null;
  reservationId: string;
  launchIndex: number;
  accessIpV4: string | null;
  accessIpV6: string | null;
  request: ServerRequest;
  fault: Fault | null;
  launchedAt: number | null;
  terminatedAt: number | null;
  createdAt: number;
  updatedAt: number;
  deletedAt: number | null;
}

const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function serverFromRow(r: Record<string, unknown>): ServerRow {
  return {
    uuid: String(r.uuid),
    projectId: String(r.project_id),
    userId: String(r.user_id),
    name: String(r.name),
    hostname: String(r.hostname),
    description: (r.description as string | null) ?? null,
    imageId: String(r.image_id),
    flavor: fromJson(r.flavor, {} as EmbeddedFlavor),
    vcpus: Number(r.vcpus),
    memoryMb: Number(r.memory_mb),
    rootGb: Number(r.root_gb),
    keyName: (r.key_name as string | null) ?? null,
    keyData: (r.key_data as string | null) ?? null,
    userData: (r.user_data as string | null) ?? null,
    configDrive: toBool(r.config_drive),
    availabilityZone: (r.availability_zone as string | null) ?? null,
    vmState: String(r.vm_state) as VmState,
    taskState: (r.task_state as string | null) ?? null,
    powerState: Number(r.power_state),
    progress: Number(r.progress),
    hostId: numOrNull(r.host_id),
    locked: toBool(r.locked),
    lockedBy: (r.locked_by as 'admin' | 'owner' | null) ?? null,
    lockedReason: (r.locked_reason as string | null) ?? null,
    reservationId: String(r.reservation_id),
    launchIndex: Number(r.launch_index),
    accessIpV4: (r.access_ip_v4 as string | null) ?? null,
    accessIpV6: (r.access_ip_v6 as string | null) ?? null,
    request: fromJson(r.request, {
      networks: [],
      securityGroups: [],
      schedulerHints: {},
      forcedHost: null,
      adminPass: null,
    } as ServerRequest),
    fault: fromJson(r.fault, null as Fault | null),
    launchedAt: numOrNull(r.launched_at),
    terminatedAt: numOrNull(r.terminated_at),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    deletedAt: numOrNull(r.deleted_at),
  };
}

export const serverNotFound = (id: string) => new NotFound(`Instance ${id} could not be found.`);

/**
 * The server a request names, if the caller may see it: its project's, or any for an admin. Another
 * project's server and a deleted one are 404, as Nova's.
 */
export async function getVisibleServer(db: Knex, auth: AuthContext, id: string): Promise<ServerRow> {
  const row = await db('servers').where({ uuid: id }).whereNull('deleted_at').first();
  if (!row) throw serverNotFound(id);
  const server = serverFromRow(row);
  if (server.projectId !== auth.projectId && !isAdmin(auth)) throw serverNotFound(id);
  return server;
}

/** The ports the user gave at create time: unbound, never deleted, when the server goes. */
export const givenPorts = (s: ServerRow | null): string[] =>
  (s?.request.networks ?? []).map((n) => n.port).filter((p): p is string => !!p);
