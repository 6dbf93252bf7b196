/**
 * Interface attach and detach (Nova's attach_interfaces.py create/delete). The API checks the request as
 * Nova's does (before anything is written), moves the server to interface_attaching/interface_detaching in
 * one conditional UPDATE with the instance action and a durable task (../../tasks/interface.ts), and answers
 * when the task has ended: attach with 200 and the attachment (500 if the host could not plug it: the port
 * is given back), detach with 202 as Nova's. A stopped server gets the NIC in its definition only.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from '../../../common/config/options.js';
import type { AuthContext } from '../../../common/context.js';
import { BadRequest, InternalError, NotFound } from '../../../common/errors.js';
import { fromJson, toJson } from '../../../db/columns.js';
import type { Caller } from '../../../network/common/auth.js';
import { autoNetwork, checkNetworkRequests, type NetworkRequest } from '../../../network/compute-ports.js';
import { isAdmin } from '../../policy.js';
import { INTERFACE_TASK, INTERFACE_TASK_STATE, type InterfacePayload } from '../../tasks/interface.js';
import { beginAction, checkUnlocked, invalidState } from '../actions/transition.js';
import { givenPorts, serverFromRow, type ServerRequest, type ServerRow } from '../model.js';
import { getAttachment, listAttachments, type Attachment } from './service.js';

export interface AttachDeps {
  db: Knex;
  config: Config;
  log: Logger;
  now: () => number;
  /** This process's task runner: runs the task at once; settled() resolves when it has ended here. */
  tasks?: { kick(ids: string[]): void; settled(id: string): Promise<void> };
}

export interface AttachRequest {
  port_id?: string;
  net_id?: string;
  fixed_ips?: { ip_address: string }[];
  tag?: string;
}

/** Nova's allowed states for both (vm_states ACTIVE, PAUSED, STOPPED with no task). */
const VM_STATES = ['active', 'paused', 'stopped'];

const transition = (op: 'attach' | 'detach') => ({
  action: `${op}_interface`,
  vmStates: VM_STATES,
  taskStates: [null],
  taskState: INTERFACE_TASK_STATE[op],
});

/**
 * Runs the task here and waits for its end; another process may have it (this one was busy or restarting
 * its claim), so the row is what is read. Bounded by the agent's timeout: a host that answers nothing
 * leaves the task running and the caller a 500 naming it.
 */
async function ended(d: AttachDeps, taskId: string): Promise<{ state: string; payload: InterfacePayload }> {
  d.tasks?.kick([taskId]);
  await d.tasks?.settled(taskId);
  const deadline = Date.now() + (d.config.cluster.agent_timeout * 2 + 30) * 1000;
  for (;;) {
    const row = await d.db('tasks').where({ id: taskId }).first('state', 'payload');
    const state = String(row?.state);
    if (state === 'done' || state === 'failed')
      return { state, payload: fromJson(row.payload, {} as InterfacePayload) };
    if (Date.now() > deadline)
      throw new InternalError(`Task ${taskId} is still running; see os-instance-actions.`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

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
  if (server.hostId === null) throw invalidState('attach_interface', server);
  const entry = r.port
    ? { port: r.port, ...(body.tag ? { tag: body.tag } : {}) }
    : {
        uuid: r.uuid,
        ...(r.fixed_ip ? { fixed_ip: r.fixed_ip } : {}),
        ...(body.tag ? { tag: body.tag } : {}),
      };
  const taskId = await beginAction<InterfacePayload>(
    d.db,
    server,
    auth,
    transition('attach'),
    { kind: INTERFACE_TASK, payload: (actionId) => ({ actionId, op: 'attach', request: r }) },
    requestId,
    d.now(),
    // the entry goes in with the state change: a delete racing the attach then keeps a port the user gave
    async (trx) => {
      const row = await trx('servers').where({ uuid: server.uuid }).first('request');
      const request = fromJson(row.request, server.request) as ServerRequest;
      await trx('servers')
        .where({ uuid: server.uuid })
        .update({ request: toJson({ ...request, networks: [...request.networks, entry] }) });
    },
  );
  const { state, payload } = await ended(d, taskId);
  if (state !== 'done' || !payload.portId)
    throw new InternalError(`Failed to attach network adapter device to ${server.uuid}`);
  const now = serverFromRow(await d.db('servers').where({ uuid: server.uuid }).first());
  const attachment = (await listAttachments(d.db, now)).find((a) => a.port.id === payload.portId);
  if (!attachment) throw new InternalError(`Failed to attach network adapter device to ${server.uuid}`);
  return attachment;
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
  if (server.hostId === null) throw invalidState('detach_interface', server);
  const attachments = await listAttachments(d.db, server);
  const taskId = await beginAction<InterfacePayload>(
    d.db,
    server,
    auth,
    transition('detach'),
    {
      kind: INTERFACE_TASK,
      payload: (actionId) => ({
        actionId,
        op: 'detach',
        portId,
        mac: attachment.port.mac,
        given: givenPorts(server).includes(portId),
        entryIndex: entryIndexOf(server, portId, attachments),
      }),
    },
    requestId,
    d.now(),
  );
  // Nova's detach is a cast answered 202 at once; waiting for the end here lets the next read see it gone
  d.tasks?.kick([taskId]);
  await d.tasks?.settled(taskId);
}

/**
 * Which stored request made the port: its own entry for a given port, otherwise the network entry the port
 * was matched to (the same matching as the attachments' tags); -1 when none did (e.g. a port bound by hand).
 */
function entryIndexOf(server: ServerRow, portId: string, attachments: Attachment[]): number {
  const networks = server.request.networks;
  const byPort = networks.findIndex((n) => n.port === portId);
  if (byPort >= 0) return byPort;
  const port = attachments.find((a) => a.port.id === portId)?.port;
  const given = new Set(givenPorts(server));
  const onNet = attachments.filter((a) => a.port.networkId === port?.networkId && !given.has(a.port.id));
  const nth = onNet.findIndex((a) => a.port.id === portId);
  let seen = -1;
  return networks.findIndex((n) => !n.port && n.uuid === port?.networkId && ++seen === nth);
}
