/** os-start, os-stop, reboot, pause/unpause, suspend/resume: Nova's allowed states and task states. */
import type { JsonSchema } from '../../../common/validation.js';
import { POWER_TASK, type PowerAction, type PowerPayload } from '../../tasks/power.js';
import type { ActionHandler } from './types.js';
import { beginAction, type Transition } from './transition.js';

const NONE = [null];
const REBOOTING = ['rebooting', 'reboot_pending', 'reboot_started'];
const REBOOTING_HARD = ['rebooting_hard', 'reboot_pending_hard', 'reboot_started_hard'];

const TRANSITIONS: Record<PowerAction, Transition> = {
  start: { action: 'start', vmStates: ['stopped'], taskStates: NONE, taskState: 'powering-on' },
  stop: {
    action: 'stop',
    vmStates: ['active', 'paused', 'suspended', 'rescued', 'error'],
    taskStates: NONE,
    taskState: 'powering-off',
  },
  'reboot-soft': {
    action: 'reboot',
    vmStates: ['active'],
    taskStates: [null, ...REBOOTING],
    taskState: 'rebooting',
  },
  'reboot-hard': {
    action: 'reboot',
    vmStates: ['active', 'stopped', 'paused', 'suspended', 'error'],
    taskStates: [null, ...REBOOTING, ...REBOOTING_HARD],
    taskState: 'rebooting_hard',
  },
  pause: { action: 'pause', vmStates: ['active'], taskStates: NONE, taskState: 'pausing' },
  unpause: { action: 'unpause', vmStates: ['paused'], taskStates: NONE, taskState: 'unpausing' },
  suspend: { action: 'suspend', vmStates: ['active'], taskStates: NONE, taskState: 'suspending' },
  resume: { action: 'resume', vmStates: ['suspended'], taskStates: NONE, taskState: 'resuming' },
};

// Nova has no schema for these: clients send null or {} (Tempest sends {})
const nullBody: JsonSchema = { type: ['null', 'object'] };
const rebootBody: JsonSchema = {
  type: 'object',
  properties: { type: { type: 'string', enum: ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft'] } },
  required: ['type'],
  additionalProperties: false,
};

function powerHandler(
  name: string,
  schema: JsonSchema,
  pick: (body: unknown) => PowerAction,
  policy: string,
): ActionHandler {
  return {
    name,
    schema,
    policy,
    errors: [404, 409],
    async run(c) {
      const action = pick(c.body);
      const taskId = await beginAction<PowerPayload>(
        c.db,
        c.server,
        c.auth,
        TRANSITIONS[action],
        { kind: POWER_TASK, payload: (actionId) => ({ actionId, action }) },
        c.requestId,
        c.now(),
      );
      c.kick([taskId]);
      return { status: 202 };
    },
  };
}

const fixed = (a: PowerAction) => () => a;

export const powerActions: ActionHandler[] = [
  powerHandler('os-start', nullBody, fixed('start'), 'servers:start'),
  powerHandler('os-stop', nullBody, fixed('stop'), 'servers:stop'),
  powerHandler(
    'reboot',
    rebootBody,
    (b) => ((b as { type: string }).type.toUpperCase() === 'HARD' ? 'reboot-hard' : 'reboot-soft'),
    'servers:reboot',
  ),
  powerHandler('pause', nullBody, fixed('pause'), 'os-pause-server:pause'),
  powerHandler('unpause', nullBody, fixed('unpause'), 'os-pause-server:unpause'),
  powerHandler('suspend', nullBody, fixed('suspend'), 'os-suspend-server:suspend'),
  powerHandler('resume', nullBody, fixed('resume'), 'os-suspend-server:resume'),
];
