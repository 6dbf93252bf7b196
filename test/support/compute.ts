/**
 * A compute cloud for route tests: a real API process (SQLite or MariaDB) with in-process host agents on the
 * fake hypervisor driver, a shared store directory, a small qcow2 image in Glance, flavors and a network. The
 * fake driver stands in for libvirt only here; the lab tests boot the same flows on real QEMU guests.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Response } from 'superagent';
import { Agent } from '../../host-agent/agent.js';
import { loadAgentConfig } from '../../host-agent/config.js';
import { FakeCluster, FakeDriver } from '../../host-agent/driver/fake.js';
import { startTestApi, type TestApi, type TestApiOptions } from './api.js';
import type { Backend } from './databases.js';

const SECRET = 'compute-enroll-secret';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(50);
  }
}

const SAMPLES = join(process.cwd(), 'test/samples/compute');

/** Golden bodies: written once when missing (then reviewed), compared afterwards; ids, hosts and times masked. */
export function golden(name: string, body: unknown): void {
  const masked = JSON.parse(
    JSON.stringify(body)
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
      .replace(/\b[0-9a-f]{56}\b/g, '<hostid>')
      .replace(/\b[0-9a-f]{32}\b/g, '<hexid>')
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?/g, '<time>')
      .replace(/http:\/\/127\.0\.0\.1:\d+/g, 'http://<host>')
      .replace(/"adminPass":"[^"]*"/g, '"adminPass":"<password>"')
      .replace(/"(OS-EXT-SRV-ATTR:reservation_id|reservation_id)":"r-[0-9a-z]+"/g, '"$1":"<reservation>"')
      .replace(/fa:16:3e(:[0-9a-f]{2}){3}/g, '<mac>')
      .replace(/10\.\d+\.\d+\.\d+/g, '<ip>'),
  );
  const file = join(SAMPLES, `${name}.json`);
  if (!existsSync(file)) {
    mkdirSync(SAMPLES, { recursive: true });
    writeFileSync(file, `${JSON.stringify(masked, null, 2)}\n`);
  }
  assert.deepEqual(masked, JSON.parse(readFileSync(file, 'utf8')), `golden ${name}`);
}

/** The response is Nova's fault body with this status and fault name (and message, when given). */
export function assertFault(res: Response, status: number, fault: string, message?: RegExp): void {
  assert.equal(res.status, status, `expected ${status} ${fault}, got ${res.status} ${res.text}`);
  const body = res.body as Record<string, { code: number; message: string }>;
  assert.deepEqual(Object.keys(body), [fault], res.text);
  assert.equal(body[fault].code, status);
  if (message) assert.match(body[fault].message, message);
}

export interface ComputeCloud {
  api: TestApi;
  admin: string;
  store: string;
  drivers: FakeDriver[];
  agents: Agent[];
  imageId: string;
  /** Flavors: tiny (1 vCPU, 256 MiB, 1 GiB) and big (more disk than the image allows). */
  flavors: { tiny: string; small: string };
  networkId: string;
  networkName: string;
  close(): Promise<void>;
}

export interface ComputeCloudOptions {
  hosts?: number;
  /** Host size for the fake driver. */
  size?: { vcpus: number; memoryMb: number; diskGb: number };
  overrides?: TestApiOptions['overrides'];
  /** Makes each host's fake driver (e.g. a slower one, for tests of interrupted work). */
  driver?: (name: string, cluster: FakeCluster) => FakeDriver;
}

/** A small qcow2 (64 MiB virtual) made by qemu-img. */
export function tinyQcow2(): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'kvmstack-qcow2-'));
  const file = join(dir, 'tiny.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '64M']);
  return readFileSync(file);
}

export async function startComputeCloud(
  backend: Backend,
  o: ComputeCloudOptions = {},
): Promise<ComputeCloud> {
  const store = mkdtempSync(join(tmpdir(), 'kvmstack-store-'));
  const api = await startTestApi(backend, {
    overrides: {
      'cluster.enrollment_secret': SECRET,
      'image.store_dir': store,
      'image.store_name': 'shared',
      'compute.shutdown_timeout': 1,
      ...o.overrides,
    },
  });
  const admin = await api.adminToken();
  const cluster = new FakeCluster();
  const drivers: FakeDriver[] = [];
  const agents: Agent[] = [];
  for (let i = 0; i < (o.hosts ?? 2); i++) {
    const name = `fake-${String.fromCharCode(97 + i)}`;
    const driver = o.driver ? o.driver(name, cluster) : new FakeDriver(name, cluster, o.size);
    const cfg = loadAgentConfig({
      env: {},
      overrides: {
        'agent.api_url': api.url,
        'agent.enrollment_secret': SECRET,
        'agent.hostname': name,
        'agent.host_ip': `127.0.0.${i + 10}`,
        'agent.rpc_port': 0,
        'agent.state_dir': mkdtempSync(join(tmpdir(), `kvmstack-agent-${name}-`)),
        'agent.driver': 'fake',
        'agent.heartbeat_interval': 0.2,
        'agent.lease_interval': 1,
        'agent.reconcile_interval': 3600,
      },
    });
    const agent = new Agent(
      { ...cfg, stores: [{ name: 'shared', type: 'dir', source: '', mount: store, options: '' }] },
      { driver, log: pino({ level: 'silent' }) },
    );
    await agent.start();
    drivers.push(driver);
    agents.push(agent);
  }
  await until('every host reports its store', async () => {
    const rows = await api.service.deps.db('hosts').whereNotNull('last_report_at').select('stores');
    return rows.length === drivers.length && rows.every((r) => String(r.stores).includes('shared'));
  });

  const http = api.http;
  const img = await http
    .post('/image/v2/images')
    .set('X-Auth-Token', admin)
    .send({ name: 'tiny', disk_format: 'qcow2', container_format: 'bare', visibility: 'public' });
  assert.equal(img.status, 201, img.text);
  const put = await http
    .put(`/image/v2/images/${img.body.id}/file`)
    .set('X-Auth-Token', admin)
    .set('Content-Type', 'application/octet-stream')
    .send(tinyQcow2());
  assert.equal(put.status, 204, put.text);
  const flavors: Record<string, string> = {};
  for (const [name, ram, vcpus, disk] of [
    ['tiny', 256, 1, 1],
    ['small', 512, 2, 2],
  ] as const) {
    const f = await http
      .post('/compute/v2.1/flavors')
      .set('X-Auth-Token', admin)
      .send({ flavor: { name, ram, vcpus, disk } });
    assert.equal(f.status, 200, f.text);
    flavors[name] = f.body.flavor.id;
  }
  const net = await http
    .post('/networking/v2.0/networks')
    .set('X-Auth-Token', admin)
    .send({ network: { name: 'public-net', shared: true } });
  assert.equal(net.status, 201, net.text);
  const sub = await http
    .post('/networking/v2.0/subnets')
    .set('X-Auth-Token', admin)
    .send({ subnet: { network_id: net.body.network.id, cidr: '10.60.0.0/24', ip_version: 4 } });
  assert.equal(sub.status, 201, sub.text);

  return {
    api,
    admin,
    store,
    drivers,
    agents,
    imageId: img.body.id,
    flavors: { tiny: flavors.tiny, small: flavors.small },
    networkId: net.body.network.id,
    networkName: 'public-net',
    async close() {
      for (const a of agents) await a.stop().catch(() => undefined);
      await api.close();
    },
  };
}

/** Polls GET /servers/{id} until `status` (or ERROR, which fails unless expected). */
export async function waitForStatus(
  cloud: ComputeCloud,
  token: string,
  id: string,
  status: string,
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> = {};
  const diagnose = async (err: Error) => {
    const tasks = await cloud.api.service.deps.db('tasks').where({ server_uuid: id });
    throw new Error(`${err.message}; last: ${JSON.stringify(last)}; tasks: ${JSON.stringify(tasks)}`);
  };
  await until(
    `server ${id} ${status}`,
    async () => {
      const res = await cloud.api.http.get(`/compute/v2.1/servers/${id}`).set('X-Auth-Token', token);
      if (res.status === 404 && status === 'DELETED') return true;
      last = res.body.server ?? {};
      if (last.status === 'ERROR' && status !== 'ERROR' && status !== 'DELETED')
        throw new Error(`server ${id} went ERROR: ${JSON.stringify(last.fault)}`);
      return last.status === status && last['OS-EXT-STS:task_state'] === null;
    },
    timeoutMs,
  ).catch(diagnose);
  return last;
}

/** Boots one server on the cloud's network as `token` (POST /servers, then ACTIVE); returns its id. */
export async function bootServer(cloud: ComputeCloud, token: string, name = 'vm'): Promise<string> {
  const res = await cloud.api.http
    .post('/compute/v2.1/servers')
    .set('X-Auth-Token', token)
    .send({
      server: {
        name,
        imageRef: cloud.imageId,
        flavorRef: cloud.flavors.tiny,
        networks: [{ uuid: cloud.networkId }],
      },
    });
  assert.equal(res.status, 202, res.text);
  const id = res.body.server.id as string;
  await waitForStatus(cloud, token, id, 'ACTIVE');
  return id;
}
