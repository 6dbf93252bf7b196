/**
 * What every server task needs: the server's row, its state changes, its faults, the agent of its host and
 * the places of its files on the shared store.
 */
import type { Knex } from 'knex';
import { AgentClient } from '../../cluster/agent-client.js';
import { getHost, type Host } from '../../cluster/hosts/service.js';
import type { Config } from '../../common/config/options.js';
import { toJson } from '../../db/columns.js';
import { serverFromRow, type Fault, type ServerRow } from '../servers/model.js';

/** The server as the task sees it, deleted or not; null if its row is gone. */
export async function loadServer(db: Knex, uuid: string): Promise<ServerRow | null> {
  const row = await db('servers').where({ uuid }).first();
  return row ? serverFromRow(row) : null;
}

/** A server being deleted: every other task on it stops at its next step boundary and leaves it alone. */
export const isGoing = (s: ServerRow | null): boolean =>
  s === null || s.deletedAt !== null || s.taskState === 'deleting';

export async function updateServer(
  db: Knex,
  uuid: string,
  fields: Record<string, unknown>,
  now: number,
): Promise<void> {
  await db('servers')
    .where({ uuid })
    .update({ ...fields, updated_at: now });
}

export function faultOf(err: Error, now: number, code = 500): Fault {
  return {
    code,
    message: err.message.slice(0, 255),
    details: (err.stack ?? err.message).slice(0, 4000),
    created: now,
  };
}

export async function setFault(db: Knex, uuid: string, fault: Fault, now: number): Promise<void> {
  await updateServer(db, uuid, { fault: toJson(fault) }, now);
}

export async function hostOf(db: Knex, hostId: number): Promise<Host> {
  return getHost(db, String(hostId));
}

export function agentOf(host: Host, config: Config, timeoutMs?: number): AgentClient {
  return new AgentClient(host, timeoutMs ?? config.cluster.agent_timeout * 1000);
}

/**
 * Where the shared store that holds images is mounted on a host (its agent's [store NAME]); instance files
 * live on the same store, so every host that can boot the image can also run the VM after a move.
 */
export function storeMount(host: Host, config: Config): string {
  const name = config.image.store_name;
  const store = host.stores.find((s) => s.name === name) as { mount?: string; state?: string } | undefined;
  if (!store?.mount) throw new Error(`host ${host.hostname} does not mount the image store "${name}"`);
  if (store.state && store.state !== 'ok')
    throw new Error(`the image store "${name}" of host ${host.hostname} is ${store.state}`);
  return store.mount;
}

/** A server's files on the store: root disk overlay, config drive and serial console log. */
export function instancePaths(mount: string, uuid: string) {
  const dir = `${mount}/instances/${uuid}`;
  return {
    dir,
    disk: `${dir}/disk`,
    configDrive: `${dir}/config-drive-${uuid.toLowerCase()}.iso`,
    consoleLog: `${dir}/console.log`,
  };
}
