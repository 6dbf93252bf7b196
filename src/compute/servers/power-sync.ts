/**
 * Nova's _sync_power_states, driven by the agents' reports instead of a periodic task: the power_state of
 * every idle server on the reporting host follows what libvirt says, and an ACTIVE server whose guest shut
 * itself down becomes SHUTOFF (as Nova's sync stops it). Servers with an action in flight are left to their
 * task, which sets the final state itself, and so are servers changed in the last SETTLE_MS: a report the
 * agent gathered before an action finished must not undo that action's result.
 */
import type { Knex } from 'knex';
import { POWER } from './model.js';

const SETTLE_MS = 10_000;

const POWER_OF: Record<string, number> = {
  running: POWER.running,
  paused: POWER.paused,
  shutdown: POWER.shutdown,
  shutoff: POWER.shutdown,
  crashed: POWER.crashed,
  suspended: POWER.shutdown,
  nostate: POWER.nostate,
};

export async function syncPowerStates(
  db: Knex,
  hostId: number,
  domains: Record<string, unknown>[],
  now: number,
): Promise<void> {
  const reported = new Map(domains.map((d) => [String(d.uuid), String(d.state)]));
  const servers = await db('servers')
    .where({ host_id: hostId })
    .whereNull('deleted_at')
    .whereNull('task_state')
    .where('updated_at', '<', now - SETTLE_MS)
    .whereIn('vm_state', ['active', 'stopped', 'paused', 'suspended'])
    .select('uuid', 'vm_state', 'power_state', 'updated_at');
  for (const s of servers) {
    const state = reported.get(String(s.uuid));
    if (state === undefined) continue; // not (yet) defined there: the reconcile defines it, nothing to sync
    const power = POWER_OF[state] ?? POWER.nostate;
    const fields: Record<string, unknown> = {};
    if (Number(s.power_state) !== power) fields.power_state = power;
    if (s.vm_state === 'active' && (state === 'shutoff' || state === 'shutdown' || state === 'crashed'))
      fields.vm_state = 'stopped';
    if (Object.keys(fields).length === 0) continue;
    // conditional on the row still being idle: an action that began since the read wins
    await db('servers')
      .where({ uuid: s.uuid, vm_state: s.vm_state, updated_at: s.updated_at })
      .whereNull('task_state')
      .update({ ...fields, updated_at: now });
  }
}
