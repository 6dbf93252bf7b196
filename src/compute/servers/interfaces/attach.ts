/**
 * Interface attach and detach (Nova's attach_interfaces.py create/delete): synchronous, as Nova's. The server
 * is marked `interface_attaching`/`interface_detaching` by one conditional UPDATE (a racing action gets 409),
 * the port is made or bound on the server's host, the agent hot-plugs the NIC (live and in the persistent
 * definition; a stopped server gets it at its next start), and the server's stored network requests gain or
 * lose the entry, so a later delete still keeps a port the user gave and deletes one kvmstack made. A failed
 * plug gives the port back before the error is returned: nothing half-made stays.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from '../../../common/config/options.js';
import type { AuthContext } from '../../../common/context.js';
import { BadRequest, NotFound } from '../../../common/errors.js';
import { toJson } from '../../../db/columns.js';
import type { Host } from '../../../cluster/hosts/service.js';
import type { Caller } from '../../../network/common/auth.js';
import {
  autoNetwork,
  bindServerPort,
  checkNetworkRequests,
  releaseServerPort,
  securityGroupIds,
  serverNics,
  type NetworkRequest,
} from '../../../network/compute-ports.js';
import { isAdmin } from '../../policy.js';
import { nicSpecs } from '../../tasks/domain-spec.js';
import { agentOf, hostOf } from '../../tasks/server-state.js';
import { checkUnlocked, invalidState } from '../actions/transition.js';
import { recordAction } from '../instance-actions/record.js';
import { givenPorts, serverFromRow, serverNotFound, type ServerRequest, type ServerRow } from '../model.js';
import { getAttachment, listAttachments, type Attachment } from './service.js';

export interface AttachDeps {
  db: Knex;
  config: Config;
  log: Logger;
  now: () => number;
}

export interface AttachRequest {
  port_id?: string;
  net_id?: string;
  fixed_ips?: { ip_address: string }[];
  tag?: string;
}

/** Nova's allowed states for both (vm_states ACTIVE, PAUSED, STOPPED with no task). */
const VM_STATES = ['active', 'paused', 'stopped'];

const TASK_STATE = { attach_interface: 'interface_attaching', detach_interface: 'interface_detaching' };

/**
 * Sets the transient task state (or 409 as Nova's check_instance_state) and records the instance action;
 * returns the server's host.
 */
async function begin(
  d: AttachDeps,
  auth: AuthContext,
  server: ServerRow,
  action: keyof typeof TASK_STATE,
  requestId: string,
): Promise<Host> {
  if (server.hostId === null) throw invalidState(action, server);
  await setTaskState(d.db, server, action, TASK_STATE[action], d.now());
  try {
    await recordAction(d.db, {
      serverUuid: server.uuid,
      requestId,
      action,
      projectId: server.projectId,
      userId: auth.userId,
      now: d.now(),
    });
    return await hostOf(d.db, server.hostId);
  } catch (err) {
    await end(d.db, server.uuid, TASK_STATE[action], d.now());
    throw err;
  }
}

async function setTaskState(
  db: Knex,
  server: ServerRow,
  action: string,
  taskState: string,
  now: number,
): Promise<void> {
  const n = await db('servers')
    .where({ uuid: server.uuid })
    .whereNull('deleted_at')
    .whereIn('vm_state', VM_STATES)
    .whereNull('task_state')
    .update({ task_state: taskState, updated_at: now });
  if (n === 1) return;
  const row = await db('servers').where({ uuid: server.uuid }).whereNull('deleted_at').first();
  if (!row) throw serverNotFound(server.uuid);
  throw invalidState(action, serverFromRow(row));
}

const end = (db: Knex, uuid: string, taskState: string, now: number) =>
  db('servers').where({ uuid, task_state: taskState }).update({ task_state: null, updated_at: now });

const saveRequest = (db: Knex, uuid: string, request: ServerRequest, now: number) =>
  db('servers')
    .where({ uuid })
    .update({ request: toJson(request), updated_at: now });

/** The one network request an attach makes, checked as Nova's API checks it (before anything is written). */
async function requestOf(db: Knex, caller: Caller, body: AttachRequest): Promise<NetworkRequest> {
  if (body.port_id && body.net_id) throw new BadRequest('Must not input both network_id and port_id');
  if (body.fixed_ips?.length && !body.net_id)
    throw new BadRequest('Must input network_id when request IP address');
  let r: NetworkRequest;
  if (body.port_id) r = { port: body.port_id };
  else if (body.net_id)
    r = { uuid: body.net_id, ...(body.fixed_ips?.length ? { fixed_ip: body.fixed_ips[0].ip_address } : {}) };
  else {
    // no network named: the only one the project may use, as Neutron's allocation picks it
    const net = await autoNetwork(db, caller).catch((err: Error) => {
      throw new BadRequest(err.message);
    });
    if (!net) throw new BadRequest('No networks are available to attach the interface to.');
    r = { uuid: net };
  }
  const [checked] = await checkNetworkRequests(db, caller, [r], 1, (m) => new NotFound(m));
  return checked;
}

export async function attachInterface(
  d: AttachDeps,
  auth: AuthContext,
  server: ServerRow,
  body: AttachRequest,
  requestId: string,
): Promise<Attachment> {
  checkUnlocked(server, auth);
  const caller: Caller = { projectId: server.projectId, isAdmin: isAdmin(auth) };
  const r = await requestOf(d.db, caller, body);
  const host = await begin(d, auth, server, 'attach_interface', requestId);
  try {
    const groups = server.request.securityGroups.length ? server.request.securityGroups : ['default'];
    const portId = await bindServerPort(
      d.db,
      {
        serverUuid: server.uuid,
        projectId: server.projectId,
        hostname: host.hostname,
        zone: server.availabilityZone ?? d.config.compute.default_availability_zone,
        securityGroupIds: await securityGroupIds(d.db, server.projectId, groups, d.now()),
        now: d.now(),
      },
      r,
    );
    const entry = r.port
      ? { port: r.port, ...(body.tag ? { tag: body.tag } : {}) }
      : {
          uuid: r.uuid,
          ...(r.fixed_ip ? { fixed_ip: r.fixed_ip } : {}),
          ...(body.tag ? { tag: body.tag } : {}),
        };
    try {
      const nic = (await serverNics(d.db, server.uuid)).find((n) => n.portId === portId);
      if (!nic) throw new Error(`port ${portId} is not among the server's ports`);
      const instance = await d.db('instances').where({ uuid: server.uuid }).first('generation', 'spec');
      await agentOf(host, d.config).plugNic(
        server.uuid,
        Number(instance.generation),
        nicSpecs([nic], host)[0],
      );
      await appendNicToSpec(d.db, server.uuid, nicSpecs([nic], host)[0]);
    } catch (err) {
      await releaseServerPort(d.db, { id: portId, projectId: server.projectId }, !!r.port, d.now()).catch(
        (e: Error) =>
          d.log.error({ err: e, port: portId }, 'could not give back the port of a failed attach'),
      );
      throw err;
    }
    const request = { ...server.request, networks: [...server.request.networks, entry] };
    await saveRequest(d.db, server.uuid, request, d.now());
    const attachments = await listAttachments(d.db, { ...server, request });
    return attachments.find((a) => a.port.id === portId) as Attachment;
  } finally {
    await end(d.db, server.uuid, TASK_STATE.attach_interface, d.now());
  }
}

export async function detachInterface(
  d: AttachDeps,
  auth: AuthContext,
  server: ServerRow,
  portId: string,
  requestId: string,
): Promise<void> {
  checkUnlocked(server, auth);
  const attachment = await getAttachment(d.db, server, portId, {
    projectId: auth.projectId,
    admin: isAdmin(auth),
  });
  const host = await begin(d, auth, server, 'detach_interface', requestId);
  try {
    const instance = await d.db('instances').where({ uuid: server.uuid }).first('generation');
    await agentOf(host, d.config).unplugNic(server.uuid, Number(instance.generation), attachment.port.mac);
    await removeNicFromSpec(d.db, server.uuid, attachment.port.mac);
    await releaseServerPort(
      d.db,
      { id: portId, projectId: attachment.port.projectId },
      givenPorts(server).includes(portId),
      d.now(),
    );
    await saveRequest(
      d.db,
      server.uuid,
      withoutRequestFor(server, portId, await listAttachments(d.db, server)),
      d.now(),
    );
  } finally {
    await end(d.db, server.uuid, TASK_STATE.detach_interface, d.now());
  }
}

/**
 * The stored requests without the one that made the port: its own entry for a given port, otherwise the
 * network entry the port was matched to (the same matching as the attachments' tags).
 */
function withoutRequestFor(server: ServerRow, portId: string, attachments: Attachment[]): ServerRequest {
  const networks = [...server.request.networks];
  const byPort = networks.findIndex((n) => n.port === portId);
  if (byPort >= 0) networks.splice(byPort, 1);
  else {
    const port = attachments.find((a) => a.port.id === portId)?.port;
    const given = new Set(givenPorts(server));
    const onNet = attachments.filter((a) => a.port.networkId === port?.networkId && !given.has(a.port.id));
    const nth = onNet.findIndex((a) => a.port.id === portId);
    let seen = -1;
    const i = networks.findIndex((n) => !n.port && n.uuid === port?.networkId && ++seen === nth);
    if (i >= 0) networks.splice(i, 1);
  }
  return { ...server.request, networks };
}

/** The instance's stored domain spec (what a restart elsewhere defines) follows the NICs. */
async function appendNicToSpec(db: Knex, uuid: string, nic: { mac: string }): Promise<void> {
  await updateSpecNics(db, uuid, (nics) => [...nics.filter((n) => n.mac !== nic.mac), nic]);
}
async function removeNicFromSpec(db: Knex, uuid: string, mac: string): Promise<void> {
  await updateSpecNics(db, uuid, (nics) => nics.filter((n) => n.mac !== mac));
}
async function updateSpecNics(
  db: Knex,
  uuid: string,
  change: (nics: { mac: string }[]) => { mac: string }[],
): Promise<void> {
  const row = await db('instances').where({ uuid }).first('spec');
  if (!row?.spec) return;
  const spec = JSON.parse(String(row.spec)) as { nics?: { mac: string }[] };
  if (!Array.isArray(spec.nics)) return;
  spec.nics = change(spec.nics);
  await db('instances')
    .where({ uuid })
    .update({ spec: JSON.stringify(spec) });
}
