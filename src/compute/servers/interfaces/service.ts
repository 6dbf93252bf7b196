/**
 * A server's interface attachments (Nova's attach_interfaces.py over Neutron's ports of the server). The
 * device tag (2.70) is the one the create request gave: a port request's tag goes to that port, a network
 * request's to the first port the server has on that network not claimed by another request, in the order
 * the boot task made them (Nova keeps it per VIF; we derive it from the stored request).
 */
import type { Knex } from 'knex';
import { NotFound } from '../../../common/errors.js';
import { serverPorts, type ServerPort } from '../ips/service.js';
import type { ServerRow } from '../model.js';

export interface Attachment {
  port: ServerPort;
  tag: string | null;
}

function tagsByPort(server: ServerRow, ports: ServerPort[]): Map<string, string | null> {
  const tags = new Map<string, string | null>(ports.map((p) => [p.id, null]));
  const requests = server.request.networks ?? [];
  const given = new Set(requests.map((r) => r.port).filter((p): p is string => !!p));
  for (const r of requests) if (r.port && tags.has(r.port)) tags.set(r.port, r.tag ?? null);
  const free = ports.filter((p) => !given.has(p.id));
  for (const r of requests) {
    if (r.port || !r.uuid) continue;
    const i = free.findIndex((p) => p.networkId === r.uuid);
    if (i < 0) continue;
    tags.set(free[i].id, r.tag ?? null);
    free.splice(i, 1);
  }
  return tags;
}

export async function listAttachments(db: Knex, server: ServerRow): Promise<Attachment[]> {
  const ports = await serverPorts(db, { serverUuids: [server.uuid] });
  const tags = tagsByPort(server, ports);
  return ports.map((port) => ({ port, tag: tags.get(port.id) ?? null }));
}

/**
 * One attachment. A port the caller may not see is Nova's PortNotFound (Neutron hides it); a port of
 * another device is "does not have a port".
 */
export async function getAttachment(
  db: Knex,
  server: ServerRow,
  portId: string,
  caller: { projectId: string | null; admin: boolean },
): Promise<Attachment> {
  const [port] = await serverPorts(db, { portIds: [portId] });
  if (!port || (!caller.admin && port.projectId !== caller.projectId))
    throw new NotFound(`Port id ${portId} could not be found.`);
  if (port.serverUuid !== server.uuid)
    throw new NotFound(`Instance ${server.uuid} does not have a port with id ${portId}`);
  return (await listAttachments(db, server)).find((a) => a.port.id === portId) as Attachment;
}
