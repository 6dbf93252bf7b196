/** os-getConsoleOutput (Nova's console_output.py): the tail of the serial console log, read by the agent. */
import { Conflict } from '../../../common/errors.js';
import type { JsonSchema } from '../../../common/validation.js';
import { agentOf, hostOf } from '../../tasks/server-state.js';
import type { ActionHandler } from './types.js';

const schema: JsonSchema = {
  type: 'object',
  properties: {
    // Nova accepts an integer, a string of digits, or null; -1 means everything
    length: { type: ['integer', 'string', 'null'], pattern: '^-?[0-9]+$', minimum: -1 },
  },
  additionalProperties: false,
};

export const consoleActions: ActionHandler[] = [
  {
    name: 'os-getConsoleOutput',
    schema,
    policy: 'os-console-output',
    errors: [404, 409, 501],
    async run(c) {
      const raw = (c.body as { length?: number | string | null }).length;
      const length = raw === undefined || raw === null ? undefined : Number(raw);
      if (c.server.hostId === null || c.server.vmState === 'building')
        throw new Conflict(`Instance ${c.server.uuid} is not ready`);
      if (length === 0) return { status: 200, body: { output: '' } };
      const host = await hostOf(c.db, c.server.hostId);
      const { output } = await agentOf(host, c.config).consoleLog(
        c.server.uuid,
        length === undefined || length < 0 ? undefined : length,
      );
      return { status: 200, body: { output } };
    },
  },
];
