/**
 * The boot of one server, as a durable task: schedule (claim a host) → ports (create/bind them on that host)
 * → define (overlay disk, config drive, domain) → start → ACTIVE. Each step can run twice (after a takeover)
 * without harm. A failure unwinds what was done (domain, files, ports, claim) and leaves the server in ERROR
 * with a fault, as Nova's; a server deleted meanwhile is left to its delete task.
 */
import { releaseClaim, scheduleAndClaim, NoValidHost } from '../../scheduler/index.js';
import { imageLocation, showImage } from '../../image/images/service.js';
import {
  bindServerPorts,
  releaseServerPorts,
  securityGroupIds,
  serverNics,
} from '../../network/compute-ports.js';
import { toJson } from '../../db/columns.js';
import type { DomainSpec } from '../../../host-agent/driver/types.js';
import { givenPorts, POWER } from '../servers/model.js';
import { instanceName } from '../servers/view.js';
import { finishEvent, startEvent } from '../servers/instance-actions/record.js';
import { serverMetadata } from '../servers/metadata/service.js';
import type { StepContext, TaskDefinition, TaskEnv } from './runner.js';
import { withHostSlot } from './host-slots.js';
import { configDriveFor, nicSpecs } from './domain-spec.js';
import {
  agentOf,
  faultOf,
  hostOf,
  instancePaths,
  isGoing,
  loadServer,
  setFault,
  storeMount,
  updateServer,
} from './server-state.js';

export const BOOT_TASK = 'boot';

export interface BootPayload {
  actionId: number;
  groupUuid: string | null;
  /** Every port of the server, in request order (the NICs' order). */
  ports: string[];
  hostId: number | null;
  /** Whether a domain may exist on the host (so a failure must remove it). */
  defined?: boolean;
}

type Ctx = StepContext<BootPayload>;

const SCHEDULE_EVENT = 'conductor_schedule_and_build_instances';
const BUILD_EVENT = 'compute_build_and_run_instance';

/** Ends the task quietly when the server is being deleted: its delete task cleans up. */
async function serverOrStop(ctx: Ctx) {
  const server = await loadServer(ctx.db, ctx.task.serverUuid);
  return isGoing(server) ? null : server;
}

async function schedule(ctx: Ctx): Promise<string> {
  const server = await serverOrStop(ctx);
  if (!server) return 'done';
  const now = ctx.now();
  await startEvent(ctx.db, ctx.payload.actionId, SCHEDULE_EVENT, null, now);
  const image = server.imageId ? await imageProperties(ctx, server.imageId) : {};
  const placed = await scheduleAndClaim(
    ctx.db,
    ctx.config,
    {
      serverUuid: server.uuid,
      projectId: server.projectId,
      vcpus: server.vcpus,
      memoryMb: server.memoryMb,
      rootGb: server.rootGb,
      availabilityZone: server.availabilityZone,
      forcedHost: server.request.forcedHost,
      groupUuid: ctx.payload.groupUuid,
      imageProperties: image,
    },
    ctx.now(),
  );
  ctx.payload.hostId = placed.hostId;
  await finishEvent(ctx.db, ctx.payload.actionId, SCHEDULE_EVENT, 'Success', ctx.now());
  await updateServer(ctx.db, server.uuid, { task_state: 'networking' }, ctx.now());
  return 'ports';
}

async function imageProperties(ctx: Ctx, imageId: string): Promise<Record<string, unknown>> {
  const service = { projectId: null, admin: true, member: true, reader: true };
  return (await showImage(ctx, service, imageId)).properties;
}

async function ports(ctx: Ctx): Promise<string> {
  const server = await serverOrStop(ctx);
  if (!server) return 'done';
  const host = await hostOf(ctx.db, ctx.payload.hostId as number);
  await startEvent(ctx.db, ctx.payload.actionId, BUILD_EVENT, host.hostname, ctx.now());
  const groups = server.request.networks.length
    ? await securityGroupIds(ctx.db, server.projectId, server.request.securityGroups, ctx.now())
    : [];
  const bound = await bindServerPorts(ctx.db, {
    serverUuid: server.uuid,
    projectId: server.projectId,
    hostname: host.hostname,
    zone: server.availabilityZone ?? ctx.config.compute.default_availability_zone,
    requests: server.request.networks,
    securityGroupIds: groups,
    now: ctx.now(),
  });
  ctx.payload.ports = bound.all;
  await updateServer(ctx.db, server.uuid, { task_state: 'spawning' }, ctx.now());
  return 'define';
}

/** The domain of a server on a host: overlay on the image, its NICs, its config drive. */
export async function bootSpec(
  ctx: TaskEnv,
  serverUuid: string,
  hostId: number,
  portOrder: string[] = [],
): Promise<DomainSpec> {
  const server = await loadServer(ctx.db, serverUuid);
  if (!server) throw new Error(`server ${serverUuid} vanished`);
  const host = await hostOf(ctx.db, hostId);
  const mount = storeMount(host, ctx.config);
  const image = await imageLocation(ctx.db, server.imageId);
  if (!image) throw new Error(`Image ${server.imageId} is no longer active.`);
  const paths = instancePaths(mount, server.uuid);
  const nics = await serverNics(ctx.db, server.uuid, portOrder);
  const metadata = (await serverMetadata(ctx.db, [server.uuid])).get(server.uuid) ?? {};
  return {
    uuid: server.uuid,
    name: instanceName(server.uuid),
    vcpus: server.vcpus,
    memoryMb: server.memoryMb,
    disks: [
      {
        target: 'vda',
        path: paths.disk,
        format: 'qcow2',
        backingPath: `${mount}/${image.relativePath}`,
        backingFormat: image.diskFormat === 'raw' ? 'raw' : 'qcow2',
        ...(server.rootGb > 0 ? { sizeGb: server.rootGb } : {}),
      },
    ],
    nics: nicSpecs(nics, host),
    configDrive: configDriveFor(server, nics, metadata, host.availabilityZone),
    consoleLog: paths.consoleLog,
  };
}

async function define(ctx: Ctx): Promise<string> {
  const server = await serverOrStop(ctx);
  if (!server) return 'done';
  const hostId = ctx.payload.hostId as number;
  const spec = await bootSpec(ctx, server.uuid, hostId, ctx.payload.ports);
  // The claim's placeholder becomes the real spec: the agent's reconcile and the hypervisor figures read it.
  await ctx
    .db('instances')
    .where({ uuid: server.uuid })
    .update({ spec: toJson(spec), updated_at: ctx.now() });
  const host = await hostOf(ctx.db, hostId);
  ctx.payload.defined = true;
  const instance = await ctx.db('instances').where({ uuid: server.uuid }).first('generation');
  await withHostSlot(hostId, ctx.config.compute.max_concurrent_builds, () =>
    agentOf(host, ctx.config).define(spec, Number(instance.generation), host.uuid),
  );
  return 'start';
}

async function start(ctx: Ctx): Promise<string> {
  const server = await serverOrStop(ctx);
  if (!server) return 'done';
  const host = await hostOf(ctx.db, ctx.payload.hostId as number);
  const instance = await ctx.db('instances').where({ uuid: server.uuid }).first('generation');
  const status = await withHostSlot(host.id, ctx.config.compute.max_concurrent_builds, () =>
    agentOf(host, ctx.config).start(server.uuid, Number(instance.generation)),
  );
  if (status.state !== 'running') throw new Error(`the domain is ${status.state} after start`);
  const now = ctx.now();
  // Only a server still building becomes ACTIVE: a delete that began meanwhile keeps its task_state.
  await ctx
    .db('servers')
    .where({ uuid: server.uuid, vm_state: 'building' })
    .whereNot('task_state', 'deleting')
    .update({
      vm_state: 'active',
      task_state: null,
      power_state: POWER.running,
      launched_at: now,
      updated_at: now,
    });
  await finishEvent(ctx.db, ctx.payload.actionId, BUILD_EVENT, 'Success', now);
  return 'done';
}

async function fail(ctx: Ctx, err: Error): Promise<void> {
  const uuid = ctx.task.serverUuid;
  const server = await loadServer(ctx.db, uuid);
  const now = ctx.now();
  const noHost = err instanceof NoValidHost;
  const event = noHost ? SCHEDULE_EVENT : BUILD_EVENT;
  await finishEvent(ctx.db, ctx.payload.actionId, event, 'Error', now, err.stack ?? err.message);
  if (isGoing(server)) return; // the delete task cleans up
  // The revert stack, newest first: domain and files, ports, claim.
  if (ctx.payload.defined && ctx.payload.hostId !== null) {
    const host = await hostOf(ctx.db, ctx.payload.hostId);
    const agent = agentOf(host, ctx.config);
    const instance = await ctx.db('instances').where({ uuid }).first('generation', 'spec');
    if (instance) {
      const gen = Number(instance.generation);
      await agent.destroy(uuid, gen).catch(() => undefined);
      await agent.undefine(uuid, gen).catch(() => undefined);
      const mount = storeMount(host, ctx.config);
      const p = instancePaths(mount, uuid);
      await agent
        .purge(uuid, [p.disk, p.configDrive, p.consoleLog])
        .catch((e: Error) =>
          ctx.log.warn({ err: e, server: uuid }, 'could not remove the files of a failed boot'),
        );
    }
  }
  await releaseServerPorts(ctx.db, uuid, givenPorts(server), now);
  await releaseClaim(ctx.db, uuid);
  await setFault(ctx.db, uuid, faultOf(err, now, 500), now);
  await updateServer(
    ctx.db,
    uuid,
    { vm_state: 'error', task_state: null, power_state: POWER.nostate, host_id: null },
    now,
  );
}

export const bootTask: TaskDefinition<BootPayload> = {
  kind: BOOT_TASK,
  steps: { schedule, ports, define, start },
  fail,
};
