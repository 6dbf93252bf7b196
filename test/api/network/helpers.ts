import assert from 'node:assert/strict';
import type { Response } from 'supertest';
import { openDatabase } from '../../../src/db/connection.js';
import type { TestApi } from '../../support/api.js';

export const N = '/networking/v2.0';

/** Admin, a member of project A, a member of project B and a reader of project A. */
export interface NeutronUsers {
  admin: string;
  a: string;
  b: string;
  reader: string;
  projectA: string;
  projectB: string;
}

export async function neutronUsers(api: TestApi, tag: string): Promise<NeutronUsers> {
  const pa = await api.createProject(`pa-${tag}`);
  const pb = await api.createProject(`pb-${tag}`);
  const ua = await api.createUser(`ua-${tag}`, 'pw-a-secret');
  const ub = await api.createUser(`ub-${tag}`, 'pw-b-secret');
  const ur = await api.createUser(`ur-${tag}`, 'pw-r-secret');
  await api.grant(pa.id, ua.id, 'member');
  await api.grant(pb.id, ub.id, 'member');
  await api.grant(pa.id, ur.id, 'reader');
  return {
    admin: await api.adminToken(),
    a: await api.tokenFor(ua.id, 'pw-a-secret', pa.id),
    b: await api.tokenFor(ub.id, 'pw-b-secret', pb.id),
    reader: await api.tokenFor(ur.id, 'pw-r-secret', pa.id),
    projectA: pa.id,
    projectB: pb.id,
  };
}

/** A small client: call(token, 'post', '/networks', body). */
export function client(api: TestApi) {
  return (token: string, method: 'get' | 'post' | 'put' | 'delete', path: string, body?: unknown) => {
    const r = api.http[method](`${N}${path}`).set('X-Auth-Token', token);
    return body === undefined ? r : r.send(body as object);
  };
}

/** The response is Neutron's error body with this status and type. */
export function assertNeutronError(res: Response, status: number, type: string, message?: RegExp): void {
  assert.equal(
    res.status,
    status,
    `expected ${status} ${type}, got ${res.status} ${JSON.stringify(res.body)}`,
  );
  assert.equal(res.body?.NeutronError?.type, type, JSON.stringify(res.body));
  assert.equal(typeof res.body.NeutronError.message, 'string');
  assert.equal(res.body.NeutronError.detail, '');
  if (message) assert.match(res.body.NeutronError.message, message);
}

/** Direct database access for checking that refused requests left nothing behind. */
export function openDb(api: TestApi) {
  return openDatabase(api.databaseUrl, 2);
}

export async function count(
  db: ReturnType<typeof openDatabase>,
  table: string,
  where: Record<string, unknown> = {},
) {
  const row = (await db(table).where(where).count({ n: '*' }).first()) as { n: number | string };
  return Number(row.n);
}
