/**
 * addSecurityGroup / removeSecurityGroup (Nova's security_groups.py SecurityGroupActionController): the group
 * goes onto or off every port of the server at once; no task, no state check, 202.
 */
import type { JsonSchema } from '../../../common/validation.js';
import { changeServerSecurityGroup } from '../../../network/compute-ports.js';
import type { ActionHandler } from './types.js';

const schema: JsonSchema = {
  type: 'object',
  properties: { name: { type: 'string', minLength: 1, pattern: '\\S' } },
  required: ['name'],
};

const groupAction = (name: string, change: 'add' | 'remove'): ActionHandler => ({
  name,
  schema,
  policy: `os-security-groups:${change}`,
  errors: [400, 404, 409],
  async run(c) {
    const group = (c.body as { name: string }).name;
    await changeServerSecurityGroup(c.db, c.server, group, change, c.now());
    return { status: 202 };
  },
});

export const securityGroupActions: ActionHandler[] = [
  groupAction('addSecurityGroup', 'add'),
  groupAction('removeSecurityGroup', 'remove'),
];
