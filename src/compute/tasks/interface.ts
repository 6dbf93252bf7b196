/**
 * Interface attach and detach as durable tasks (design §3): the API answers once the task has ended, as
 * Nova's synchronous call, but a crash of the API process in between leaves a task another process finishes
 * or unwinds, never a server stuck in interface_attaching or a port half made.
 *
 * The server's stored network requests are the record of what the server should have: an attach appends its
 * entry when it starts (so a delete racing the attach keeps a port the user gave), a detach removes its entry
 * when it ends. Every step can run twice: a port made for the attach is found again from the requests, a NIC
 * already plugged or already gone is taken as done, and the last write of each operation happens only while
 * the server still carries the operation's task state.
 */
import type { Knex } from 'knex';
import { NotFound } from '../../common/errors.js';
import { toJson } from '../../db/columns.js';
import {
  bindServerPort,
  releaseServerPort,
  securityGroupIds,
  serverNics,
  type NetworkRequest,
} from '../../network/compute-ports.js';
import { finishEvent, startEvent } from '../servers/instance-actions/record.js';
import { givenPorts, type ServerRequest, type ServerRow } from '../servers/model.js';
import { nicSpecs } from './domain-spec.js';
import type { StepContext, TaskDefinition } from './runner.js';
import { agentOf, hostOf, isGoing, loadServer } from './server-state.js';

export const INTERFACE_TASK = 'interface';

export const INTERFACE_TASK_STATE = {
  attach: 'interface_attaching',
  detach: 'interface_detaching',
} as const;

export interface InterfacePayload {
  actionId: number;
  op: 'attach' | 'detach';
  /** attach: the checked request (its entry is already in the server's requests); detach: unused. */
  request?: NetworkRequest;
  /** The port: known at once for a detach or a given port, after the bind step for a new one. */
  portId?: string;
  /** detach: the MAC to unplug and whether the user gave the port (then unbound, not deleted). */
  mac?: string;
  given?: boolean;
  /** detach: the index of the port's entry in the server's requests. */
  entryIndex?: number;
}

type Ctx = StepContext<InterfacePayload>;

const EVENTS = { attach: 'compute_attach_interface', detach: 'compute_detach_interface' };

async function serverOf(ctx: Ctx): Promise<ServerRow> {
  const server = await loadServer(ctx.db, ctx.task.serverUuid);
  if (!server || isGoing(server)) throw new Error(`server ${ctx.task.serverUuid} is being deleted`);
  if (server.hostId === null) throw new Error(`server ${ctx.task.serverUuid} has no host`);
  return server;
}

/**
 * The port an earlier run of the bind step made on the request's network, if any: the server's ports there
 * that the user did not give, beyond those its other requests for that network account for.
 */
async function madeBefore(db: Knex, server: ServerRow, r: NetworkRequest): Promise<string | null> {
  const given = new Set(givenPorts(server));
  const onNet = (
    await db('ports').where({ device_id: server.uuid, network_id: r.uuid }).orderBy('created_at').select('id')
  )
    .map((p) => String(p.id))
    .filter((id) => !given.has(id));
  const entries = server.request.networks.filter((n) => !n.port && n.uuid === r.uuid).length;
  return onNet.length >= entries ? (onNet[entries - 1] ?? null) : null;
}

async function bind(ctx: Ctx): Promise<string> {
  const server = await serverOf(ctx);
  const host = await hostOf(ctx.db, server.hostId as number);
  await startEvent(ctx.db, ctx.payload.actionId, EVENTS.attach, host.hostname, ctx.now());
  const r = ctx.payload.request as NetworkRequest;
  const groups = server.request.securityGroups.length ? server.request.securityGroups : ['default'];
  ctx.payload.portId =
    (r.port ? undefined : ((await madeBefore(ctx.db, server, r)) ?? undefined)) ??
    (await bindServerPort(
      ctx.db,
      {
        serverUuid: server.uuid,
        projectId: server.projectId,
        hostname: host.hostname,
        zone: server.availabilityZone ?? ctx.config.compute.default_availability_zone,
        securityGroupIds: await securityGroupIds(ctx.db, server.projectId, groups, ctx.now()),
        now: ctx.now(),
      },
      r,
    ));
  return 'plug';
}

async function plug(ctx: Ctx): Promise<string> {
  const server = await serverOf(ctx);
  const host = await hostOf(ctx.db, server.hostId as number);
  const nic = (await serverNics(ctx.db, server.uuid)).find((n) => n.portId === ctx.payload.portId);
  if (!nic) throw new Error(`port ${ctx.payload.portId} is not among the server's ports`);
  const spec = nicSpecs([nic], host)[0];
  const instance = await ctx.db('instances').where({ uuid: server.uuid }).first('generation');
  try {
    await agentOf(host, ctx.config).plugNic(server.uuid, Number(instance.generation), spec);
  } catch (err) {
    // a run before this one plugged it already (the agent refuses a MAC the domain has)
    if (!(ctx.task.attempts > 1 && /in use|already/i.test((err as Error).message))) throw err;
  }
  await updateSpecNics(ctx.db, server.uuid, (nics) => [...nics.filter((n) => n.mac !== spec.mac), spec]);
  return 'finish';
}

async function unplug(ctx: Ctx): Promise<string> {
  const server = await serverOf(ctx);
  const host = await hostOf(ctx.db, server.hostId as number);
  await startEvent(ctx.db, ctx.payload.actionId, EVENTS.detach, host.hostname, ctx.now());
  const mac = ctx.payload.mac as string;
  const instance = await ctx.db('instances').where({ uuid: server.uuid }).first('generation');
  try {
    await agentOf(host, ctx.config).unplugNic(server.uuid, Number(instance.generation), mac);
  } catch (err) {
    if (!(ctx.task.attempts > 1 && err instanceof NotFound)) throw err; // gone in a run before this one
  }
  await updateSpecNics(ctx.db, server.uuid, (nics) => nics.filter((n) => n.mac !== mac));
  return 'release';
}

async function release(ctx: Ctx): Promise<string> {
  const server = await serverOf(ctx);
  const port = await ctx.db('ports').where({ id: ctx.payload.portId }).first('project_id');
  if (port)
    await releaseServerPort(
      ctx.db,
      { id: ctx.payload.portId as string, projectId: String(port.project_id) },
      ctx.payload.given === true,
      ctx.now(),
    );
  const networks = [...server.request.networks];
  const i = ctx.payload.entryIndex ?? -1;
  if (i >= 0) networks.splice(i, 1);
  await finish(ctx, { ...server.request, networks });
  return 'done';
}

/** The operation's last write: only while the server still carries its task state (so it happens once). */
async function finish(ctx: Ctx, request?: ServerRequest): Promise<string> {
  const now = ctx.now();
  await ctx.db.transaction(async (trx) => {
    const n = await trx('servers')
      .where({ uuid: ctx.task.serverUuid, task_state: INTERFACE_TASK_STATE[ctx.payload.op] })
      .update({ task_state: null, updated_at: now, ...(request ? { request: toJson(request) } : {}) });
    if (n === 1) await finishEvent(trx, ctx.payload.actionId, EVENTS[ctx.payload.op], 'Success', now);
  });
  return 'done';
}

async function fail(ctx: Ctx, err: Error): Promise<void> {
  const now = ctx.now();
  const server = await loadServer(ctx.db, ctx.task.serverUuid);
  let request: ServerRequest | undefined;
  if (ctx.payload.op === 'attach' && server && !isGoing(server)) {
    const r = ctx.payload.request as NetworkRequest;
    const portId = ctx.payload.portId ?? (r.port ? undefined : await madeBefore(ctx.db, server, r));
    if (portId) {
      const port = await ctx.db('ports').where({ id: portId }).first('project_id');
      if (port)
        await releaseServerPort(ctx.db, { id: portId, projectId: String(port.project_id) }, !!r.port, now);
    }
    // the attach's entry is the last one for its port or network
    const networks = [...server.request.networks];
    for (let i = networks.length - 1; i >= 0; i--)
      if (r.port ? networks[i].port === r.port : !networks[i].port && networks[i].uuid === r.uuid) {
        networks.splice(i, 1);
        break;
      }
    request = { ...server.request, networks };
  }
  await ctx.db.transaction(async (trx) => {
    await trx('servers')
      .where({ uuid: ctx.task.serverUuid, task_state: INTERFACE_TASK_STATE[ctx.payload.op] })
      .update({ task_state: null, updated_at: now, ...(request ? { request: toJson(request) } : {}) });
    await finishEvent(
      trx,
      ctx.payload.actionId,
      EVENTS[ctx.payload.op],
      'Error',
      now,
      err.stack ?? err.message,
    );
  });
}

/** The instance's stored domain spec (what a restart elsewhere defines) follows the NICs. */
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

export const interfaceTask: TaskDefinition<InterfacePayload> = {
  kind: INTERFACE_TASK,
  steps: {
    run: (ctx) => (ctx.payload.op === 'attach' ? bind(ctx) : unplug(ctx)),
    plug,
    finish: (ctx) => finish(ctx),
    release,
  },
  fail,
};
