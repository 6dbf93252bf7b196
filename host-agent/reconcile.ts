import type { DomainSpec, DomainStatus } from './driver/types.js';

/** The API's answer to "what should this host run?" (src/cluster/instances/service.ts ReconcileAnswer). */
export interface DesiredState {
  owned: { uuid: string; generation: number; desired_power: 'running' | 'stopped'; spec: DomainSpec }[];
  /** deleted: the server was deleted while this host could not be reached (Nova's local delete). */
  others: { uuid: string; owner: string | null; generation: number | null; deleted?: boolean }[];
}

export type ReconcileAction =
  | { kind: 'define'; uuid: string; generation: number; spec: DomainSpec; why: string }
  | { kind: 'destroy-and-undefine'; uuid: string; why: string }
  | { kind: 'remove-deleted'; uuid: string; why: string }
  | { kind: 'report'; uuid: string; why: string };

/**
 * What to do to bring this host towards the database's desired state (design §4). Conservative on purpose:
 * - a VM this host owns but lacks (or holds at an older generation) is defined, not started: power changes
 *   are the API's decisions, made through commands;
 * - a local domain that another host now owns, or that this host holds at an older generation than the
 *   database, is destroyed and undefined — it is a stale copy (e.g. the VM was evacuated while this host was
 *   cut off). Its disks are never touched;
 * - a domain whose server was deleted while this host was down or cut off (the API's local delete keeps the
 *   server row as a tombstone) is destroyed, undefined and its instance files removed: its port is gone and
 *   its address may already be another VM's;
 * - a kvmstack domain the database does not know is left alone and reported (the database may have been
 *   restored: `kvmstack recover` decides, not the agent); domains without kvmstack metadata are not ours.
 */
export function planReconcile(
  local: DomainStatus[],
  desired: DesiredState,
  selfId: string,
): ReconcileAction[] {
  const actions: ReconcileAction[] = [];
  const localByUuid = new Map(local.map((d) => [d.uuid, d]));
  for (const want of desired.owned) {
    const have = localByUuid.get(want.uuid);
    if (!have) {
      actions.push({
        kind: 'define',
        uuid: want.uuid,
        generation: want.generation,
        spec: want.spec,
        why: 'owned here but not defined',
      });
    } else if (have.generation !== null && have.generation < want.generation) {
      actions.push({
        kind: 'define',
        uuid: want.uuid,
        generation: want.generation,
        spec: want.spec,
        why: `defined at generation ${have.generation}, database has ${want.generation}`,
      });
    } else if (have.generation !== null && have.generation > want.generation) {
      actions.push({
        kind: 'report',
        uuid: want.uuid,
        why: `defined at generation ${have.generation}, newer than the database's ${want.generation}`,
      });
    }
  }
  const owned = new Set(desired.owned.map((o) => o.uuid));
  const verdicts = new Map(desired.others.map((o) => [o.uuid, o]));
  for (const d of local) {
    if (owned.has(d.uuid) || d.generation === null) continue;
    const verdict = verdicts.get(d.uuid);
    if (verdict?.deleted) {
      actions.push({
        kind: 'remove-deleted',
        uuid: d.uuid,
        why: 'its server was deleted while this host was away',
      });
    } else if (!verdict || verdict.owner === null) {
      actions.push({ kind: 'report', uuid: d.uuid, why: 'not in the database' });
    } else if (verdict.owner !== selfId) {
      actions.push({
        kind: 'destroy-and-undefine',
        uuid: d.uuid,
        why: `owned by host ${verdict.owner} at generation ${verdict.generation}`,
      });
    }
  }
  return actions;
}
