import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Response } from 'superagent';
import type { TestApi } from '../../support/api.js';

export const JSON_PATCH = 'application/openstack-images-v2.1-json-patch';
export const JSON_PATCH_D4 = 'application/openstack-images-v2.0-json-patch';

/** A project with a member user (and a reader), and their tokens. */
export interface Tenant {
  projectId: string;
  member: string;
  reader: string;
}

export async function tenant(api: TestApi, name: string): Promise<Tenant> {
  const project = await api.createProject(name);
  const pw = `${name}-pw-secret`;
  const m = await api.createUser(`${name}-member`, pw);
  const r = await api.createUser(`${name}-reader`, pw);
  await api.grant(project.id, m.id, 'member');
  await api.grant(project.id, r.id, 'reader');
  return {
    projectId: project.id,
    member: await api.tokenFor(m.id, pw, project.id),
    reader: await api.tokenFor(r.id, pw, project.id),
  };
}

export async function createImage(
  api: TestApi,
  token: string,
  body: Record<string, unknown> = {},
): Promise<Record<string, unknown> & { id: string }> {
  const res = await api.http
    .post('/image/v2/images')
    .set('X-Auth-Token', token)
    .send({ name: 'img', disk_format: 'raw', container_format: 'bare', ...body });
  if (res.status !== 201) throw new Error(`create image: ${res.status} ${res.text}`);
  return res.body;
}

export function upload(api: TestApi, token: string, id: string, data: Buffer) {
  return api.http
    .put(`/image/v2/images/${id}/file`)
    .set('X-Auth-Token', token)
    .set('Content-Type', 'application/octet-stream')
    .send(data);
}

/** A small qcow2 made by qemu-img, optionally with a backing file. */
export function qcow2(sizeArg = '16M', backing?: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'kvmstack-qcow2-'));
  const file = join(dir, 'img.qcow2');
  const args = ['create', '-q', '-f', 'qcow2'];
  if (backing) args.push('-F', 'raw', '-b', backing);
  args.push(file);
  if (!backing) args.push(sizeArg);
  execFileSync('qemu-img', args);
  return readFileSync(file);
}

/** Binary response bodies as Buffers (supertest parses only text and JSON). */
export function binary(res: Response, cb: (err: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
}
