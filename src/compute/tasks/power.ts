/**
 * Power actions as tasks: start, stop, soft and hard reboot, pause/unpause, suspend/resume. The API has
 * already checked the state and set the task_state (in one conditional UPDATE, so two racing actions get one
 * 202 and one 409); the task drives the agent and sets the final vm_state and power_state. A failure puts the
 * server back where it was with task_state cleared, as Nova's @reverts_task_state, and records the event as
 * an error.
 */
import type { DomainStatus } from '../../../host-agent/driver/types.js';
import { POWER, type VmState } from '../servers/model.js';
import { finishEvent, startEvent } from '../servers/instance-actions/record.js';
import type { StepContext, TaskDefinition } from './runner.js';
import { agentOf, hostOf, isGoing, loadServer, updateServer } from './server-state.js';

export const POWER_TASK = 'power';

export type PowerAction =
  'start' | 'stop' | 'reboot-soft' | 'reboot-hard' | 'pause' | 'unpause' | 'suspend' | 'resume';

export interface PowerPayload {
  actionId: number;
  action: PowerAction;
}

type Ctx = StepContext<PowerPayload>;

/** Nova's compute-manager event of each action (what os-instance-actions shows). */
export const POWER_EVENTS: Record<PowerAction, string> = {
  start: 'compute_start_instance',
  stop: 'compute_stop_instance',
  'reboot-soft': 'compute_reboot_instance',
  'reboot-hard': 'compute_reboot_instance',
  pause: 'compute_pause_instance',
  unpause: 'compute_unpause_instance',
  suspend: 'compute_suspend_instance',
  resume: 'compute_resume_instance',
};

const RESULT: Record<PowerAction, { vmState: VmState; power: number; desired: 'running' | 'stopped' }> = {
  start: { vmState: 'active', power: POWER.running, desired: 'running' },
  stop: { vmState: 'stopped', power: POWER.shutdown, desired: 'stopped' },
  'reboot-soft': { vmState: 'active', power: POWER.running, desired: 'running' },
  'reboot-hard': { vmState: 'active', power: POWER.running, desired: 'running' },
  pause: { vmState: 'paused', power: POWER.paused, desired: 'running' },
  unpause: { vmState: 'active', power: POWER.running, desired: 'running' },
  suspend: { vmState: 'suspended', power: POWER.shutdown, desired: 'stopped' },
  resume: { vmState: 'active', power: POWER.running, desired: 'running' },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Agent = ReturnType<typeof agentOf>;

/**
 * Nova's clean shutdown: ask the guest (ACPI), wait up to [compute] shutdown_timeout for it to power off,
 * then pull the plug.
 */
async function cleanShutdown(ctx: Ctx, agent: Agent, uuid: string, gen: number): Promise<void> {
  const timeoutMs = ctx.config.compute.shutdown_timeout * 1000;
  if (timeoutMs > 0) {
    const first = await agent.shutdown(uuid, gen);
    let state: DomainStatus['state'] = first.state;
    const deadline = Date.now() + timeoutMs;
    while (state !== 'shutoff' && Date.now() < deadline) {
      await sleep(500);
      state = (await agent.status(uuid)).state;
    }
    if (state === 'shutoff') return;
  }
  await agent.destroy(uuid, gen);
}

async function run(ctx: Ctx): Promise<string> {
  const uuid = ctx.task.serverUuid;
  const server = await loadServer(ctx.db, uuid);
  if (isGoing(server) || !server) return 'done';
  const instance = await ctx.db('instances').where({ uuid }).first('host_id', 'generation');
  if (!instance?.host_id) throw new Error(`server ${uuid} has no host`);
  const host = await hostOf(ctx.db, Number(instance.host_id));
  const agent = agentOf(host, ctx.config);
  const gen = Number(instance.generation);
  const { action } = ctx.payload;
  await startEvent(ctx.db, ctx.payload.actionId, POWER_EVENTS[action], host.hostname, ctx.now());
  const result = RESULT[action];
  // The desired power first: an agent restart in the middle reconciles towards it.
  await ctx.db('instances').where({ uuid }).update({ desired_power: result.desired, updated_at: ctx.now() });
  switch (action) {
    case 'start':
      await agent.start(uuid, gen);
      break;
    case 'stop':
      await cleanShutdown(ctx, agent, uuid, gen);
      break;
    case 'reboot-soft':
      await updateServer(ctx.db, uuid, { task_state: 'reboot_started' }, ctx.now());
      await cleanShutdown(ctx, agent, uuid, gen);
      await agent.start(uuid, gen);
      break;
    case 'reboot-hard':
      await updateServer(ctx.db, uuid, { task_state: 'reboot_started_hard' }, ctx.now());
      await agent.destroy(uuid, gen);
      await agent.start(uuid, gen);
      break;
    case 'pause':
      await agent.pause(uuid, gen);
      break;
    case 'unpause':
      await agent.unpause(uuid, gen);
      break;
    case 'suspend':
      await agent.suspend(uuid, gen);
      break;
    case 'resume':
      await agent.resume(uuid, gen);
      break;
  }
  const now = ctx.now();
  await ctx
    .db('servers')
    .where({ uuid })
    .whereNot('task_state', 'deleting')
    .update({ vm_state: result.vmState, power_state: result.power, task_state: null, updated_at: now });
  await finishEvent(ctx.db, ctx.payload.actionId, POWER_EVENTS[action], 'Success', now);
  return 'done';
}

async function fail(ctx: Ctx, err: Error): Promise<void> {
  const now = ctx.now();
  await finishEvent(
    ctx.db,
    ctx.payload.actionId,
    POWER_EVENTS[ctx.payload.action],
    'Error',
    now,
    err.stack ?? err.message,
  );
  await ctx
    .db('servers')
    .where({ uuid: ctx.task.serverUuid })
    .whereNot('task_state', 'deleting')
    .update({ task_state: null, updated_at: now });
}

export const powerTask: TaskDefinition<PowerPayload> = { kind: POWER_TASK, steps: { run }, fail };
