/**
 * The delete of one server: wait for the tasks already running on it to stop (they stop at their next step
 * boundary once they see task_state `deleting`), remove the domain and the files from its host, release its
 * ports, claim and group membership, then soft-delete the row (Nova's DELETED, gone from GET with a 404).
 * A host whose service is down gets Nova's "local delete": the row goes now, and the host's agent reconciles
 * the stale domain away when it comes back (the database no longer places it there).
 */
import { hostState } from '../../cluster/hosts/service.js';
import { NotFound } from '../../common/errors.js';
import { releaseServerPorts } from '../../network/compute-ports.js';
import { releaseClaim } from '../../scheduler/index.js';
import { givenPorts, POWER } from '../servers/model.js';
import { finishEvent, startEvent } from '../servers/instance-actions/record.js';
import type { StepContext, TaskDefinition } from './runner.js';
import {
  agentOf,
  faultOf,
  hostOf,
  instancePaths,
  loadServer,
  setFault,
  storeMount,
  updateServer,
} from './server-state.js';

export const DELETE_TASK = 'delete';

export interface DeletePayload {
  actionId: number;
  /** When this task began waiting for the server's other tasks. */
  waitingSince?: number;
}

type Ctx = StepContext<DeletePayload>;

const EVENT = 'compute_terminate_instance';
/** Longest wait for the server's other tasks before deleting anyway (their owners may be gone for good). */
const WAIT_LIMIT_MS = 120_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function wait(ctx: Ctx): Promise<string> {
  ctx.payload.waitingSince ??= ctx.now();
  const others = await ctx
    .db('tasks')
    .where({ server_uuid: ctx.task.serverUuid })
    .whereIn('state', ['pending', 'running'])
    .whereNot({ id: ctx.task.id })
    .whereNot({ kind: DELETE_TASK })
    .count({ n: '*' });
  if (Number(others[0].n) > 0 && ctx.now() - ctx.payload.waitingSince < WAIT_LIMIT_MS) {
    await sleep(250);
    return 'wait';
  }
  await startEvent(ctx.db, ctx.payload.actionId, EVENT, null, ctx.now());
  return 'domain';
}

async function domain(ctx: Ctx): Promise<string> {
  const uuid = ctx.task.serverUuid;
  const instance = await ctx.db('instances').where({ uuid }).first('host_id', 'generation');
  if (!instance?.host_id) return 'release';
  const host = await hostOf(ctx.db, Number(instance.host_id));
  const down = hostState(host, ctx.now(), ctx.config.compute.service_down_time * 1000) === 'down';
  if (down) {
    ctx.log.warn({ server: uuid, host: host.hostname }, 'host is down: local delete');
    return 'release';
  }
  const agent = agentOf(host, ctx.config);
  const gen = Number(instance.generation);
  const ignoreMissing = (err: unknown) => {
    if (!(err instanceof NotFound)) throw err;
  };
  await agent.destroy(uuid, gen).catch(ignoreMissing);
  await agent.undefine(uuid, gen).catch(ignoreMissing);
  const p = instancePaths(storeMount(host, ctx.config), uuid);
  await agent.purge(uuid, [p.disk, p.configDrive, p.consoleLog]);
  return 'release';
}

async function release(ctx: Ctx): Promise<string> {
  const uuid = ctx.task.serverUuid;
  const server = await loadServer(ctx.db, uuid);
  const now = ctx.now();
  await releaseServerPorts(ctx.db, uuid, givenPorts(server), now);
  await releaseClaim(ctx.db, uuid);
  await ctx.db('server_group_members').where({ server_uuid: uuid }).delete();
  await updateServer(
    ctx.db,
    uuid,
    {
      vm_state: 'deleted',
      task_state: null,
      power_state: POWER.nostate,
      host_id: null,
      terminated_at: now,
      deleted_at: now,
    },
    now,
  );
  await finishEvent(ctx.db, ctx.payload.actionId, EVENT, 'Success', now);
  return 'done';
}

async function fail(ctx: Ctx, err: Error): Promise<void> {
  const now = ctx.now();
  await finishEvent(ctx.db, ctx.payload.actionId, EVENT, 'Error', now, err.stack ?? err.message);
  await setFault(ctx.db, ctx.task.serverUuid, faultOf(err, now), now);
  await updateServer(ctx.db, ctx.task.serverUuid, { vm_state: 'error', task_state: null }, now);
}

export const deleteTask: TaskDefinition<DeletePayload> = {
  kind: DELETE_TASK,
  steps: { wait, domain, release },
  fail,
};
