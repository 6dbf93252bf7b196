/** Server group bodies as Nova's server_groups.py _format_server_group builds them. */
import type { Microversion } from '../../common/microversion.js';
import type { ServerGroup } from './service.js';

export function serverGroupView(g: ServerGroup, mv: Microversion): Record<string, unknown> {
  const body: Record<string, unknown> = { id: g.uuid, name: g.name };
  if (mv.atLeast('2.64')) {
    body.policy = g.policy; // 2.64: one policy and its rules
    body.rules = g.rules;
  } else {
    body.policies = [g.policy];
    body.metadata = {}; // always empty; gone at 2.64
  }
  body.members = g.members;
  if (mv.atLeast('2.13')) {
    body.project_id = g.projectId; // 2.13
    body.user_id = g.userId;
  }
  return body;
}
