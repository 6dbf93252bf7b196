/**
 * rebuild as a task: power the domain off, recreate the root overlay on the new image at the same path,
 * define the domain again (a fresh config drive with the new name, metadata, keys and user data), and start
 * it unless it was stopped. Nova's task states: rebuilding → rebuild_block_device_mapping → rebuild_spawning.
 * A failure leaves the server in ERROR with a fault (Nova's rebuild does the same); rebuild again recovers it.
 */
import { NotFound } from '../../common/errors.js';
import { toJson } from '../../db/columns.js';
import { POWER } from '../servers/model.js';
import { finishEvent, startEvent } from '../servers/instance-actions/record.js';
import { bootSpec } from './boot.js';
import type { StepContext, TaskDefinition } from './runner.js';
import { agentOf, faultOf, hostOf, isGoing, loadServer, setFault, updateServer } from './server-state.js';

export const REBUILD_TASK = 'rebuild';

export interface RebuildPayload {
  actionId: number;
  /** A stopped server stays stopped after its rebuild. */
  wasStopped: boolean;
}

type Ctx = StepContext<RebuildPayload>;
const EVENT = 'compute_rebuild_instance';

async function placement(ctx: Ctx) {
  const instance = await ctx
    .db('instances')
    .where({ uuid: ctx.task.serverUuid })
    .first('host_id', 'generation');
  if (!instance?.host_id) throw new Error(`server ${ctx.task.serverUuid} has no host`);
  const host = await hostOf(ctx.db, Number(instance.host_id));
  return { host, gen: Number(instance.generation), agent: agentOf(host, ctx.config) };
}

async function run(ctx: Ctx): Promise<string> {
  const uuid = ctx.task.serverUuid;
  if (isGoing(await loadServer(ctx.db, uuid))) return 'done';
  const { host, gen, agent } = await placement(ctx);
  await startEvent(ctx.db, ctx.payload.actionId, EVENT, host.hostname, ctx.now());
  await agent.destroy(uuid, gen).catch((err) => {
    if (!(err instanceof NotFound)) throw err;
  });
  await updateServer(ctx.db, uuid, { task_state: 'rebuild_block_device_mapping' }, ctx.now());
  return 'disk';
}

async function disk(ctx: Ctx): Promise<string> {
  const uuid = ctx.task.serverUuid;
  if (isGoing(await loadServer(ctx.db, uuid))) return 'done';
  const { host, gen, agent } = await placement(ctx);
  const spec = await bootSpec(ctx, uuid, host.id);
  await agent.resetRootDisk(uuid, gen, spec.disks[0]);
  await ctx
    .db('instances')
    .where({ uuid })
    .update({ spec: toJson(spec), updated_at: ctx.now() });
  await agent.define(spec, gen, host.uuid);
  await updateServer(ctx.db, uuid, { task_state: 'rebuild_spawning' }, ctx.now());
  return 'spawn';
}

async function spawn(ctx: Ctx): Promise<string> {
  const uuid = ctx.task.serverUuid;
  if (isGoing(await loadServer(ctx.db, uuid))) return 'done';
  const { gen, agent } = await placement(ctx);
  const now = ctx.now();
  if (ctx.payload.wasStopped) {
    await ctx.db('instances').where({ uuid }).update({ desired_power: 'stopped', updated_at: now });
  } else {
    await agent.start(uuid, gen);
    await ctx.db('instances').where({ uuid }).update({ desired_power: 'running', updated_at: now });
  }
  await ctx
    .db('servers')
    .where({ uuid })
    .whereNot('task_state', 'deleting')
    .update({
      vm_state: ctx.payload.wasStopped ? 'stopped' : 'active',
      power_state: ctx.payload.wasStopped ? POWER.shutdown : POWER.running,
      task_state: null,
      launched_at: now,
      fault: null,
      updated_at: now,
    });
  await finishEvent(ctx.db, ctx.payload.actionId, EVENT, 'Success', now);
  return 'done';
}

async function fail(ctx: Ctx, err: Error): Promise<void> {
  const now = ctx.now();
  await finishEvent(ctx.db, ctx.payload.actionId, EVENT, 'Error', now, err.stack ?? err.message);
  if (isGoing(await loadServer(ctx.db, ctx.task.serverUuid))) return;
  await setFault(ctx.db, ctx.task.serverUuid, faultOf(err, now), now);
  await updateServer(ctx.db, ctx.task.serverUuid, { vm_state: 'error', task_state: null }, now);
}

export const rebuildTask: TaskDefinition<RebuildPayload> = {
  kind: REBUILD_TASK,
  steps: { run, disk, spawn },
  fail,
};
