/**
 * Rows for the server sub-resource tests (metadata, tags, ips, instance actions, interfaces): servers,
 * networks, subnets and ports inserted directly, every NOT NULL column filled, so those APIs are tested
 * without booting anything.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { startTestApi, type TestApi } from './api.js';
import type { Backend } from './databases.js';

export interface SubresourceCloud {
  api: TestApi;
  db: Knex;
  admin: string;
  /** alice: member of project A. */
  member: string;
  memberId: string;
  /** rita: reader of project A. */
  reader: string;
  /** bob: member of project B. */
  other: string;
  projectA: string;
  projectB: string;
  /** A request to the compute API at a microversion with a token. */
  nova(
    method: 'get' | 'put' | 'post' | 'delete',
    path: string,
    mv?: string,
    token?: string,
  ): ReturnType<TestApi['http']['get']>;
}

export async function startSubresourceCloud(backend: Backend): Promise<SubresourceCloud> {
  const api = await startTestApi(backend);
  const db = api.service.deps.db;
  const a = await api.createProject('sub-a');
  const b = await api.createProject('sub-b');
  const user = async (name: string, project: string, role: string) => {
    const u = await api.createUser(name, `pw-${name}-secret`);
    await api.grant(project, u.id, role);
    return { id: u.id, token: await api.tokenFor(u.id, `pw-${name}-secret`, project) };
  };
  const alice = await user('alice', a.id, 'member');
  const rita = await user('rita', a.id, 'reader');
  const bob = await user('bob', b.id, 'member');
  const cloud: SubresourceCloud = {
    api,
    db,
    admin: await api.adminToken(),
    member: alice.token,
    memberId: alice.id,
    reader: rita.token,
    other: bob.token,
    projectA: a.id,
    projectB: b.id,
    nova: (method, path, mv = '2.1', token = cloud.member) =>
      api.http[method](`/compute/v2.1${path}`)
        .set('X-Auth-Token', token)
        .set('OpenStack-API-Version', `compute ${mv}`),
  };
  return cloud;
}

export interface ServerFixture {
  projectId: string;
  userId?: string;
  name?: string;
  vmState?: string;
  taskState?: string | null;
  locked?: boolean;
  launchedAt?: number | null;
  deletedAt?: number | null;
  networks?: { uuid?: string; port?: string; tag?: string }[];
  /** The flavor's size the row records (default 1 vCPU, 512 MiB, 1 GB). */
  size?: { vcpus: number; memoryMb: number; rootGb: number };
  now?: number;
}

export async function insertServer(db: Knex, f: ServerFixture): Promise<string> {
  const uuid = randomUUID();
  const now = f.now ?? Date.now();
  await db('servers').insert({
    uuid,
    project_id: f.projectId,
    user_id: f.userId ?? 'u',
    name: f.name ?? 'vm',
    hostname: f.name ?? 'vm',
    description: null,
    image_id: randomUUID(),
    flavor: JSON.stringify({ id: '1', name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1, ephemeral: 0, swap: 0 }),
    vcpus: f.size?.vcpus ?? 1,
    memory_mb: f.size?.memoryMb ?? 512,
    root_gb: f.size?.rootGb ?? 1,
    key_name: null,
    key_data: null,
    user_data: null,
    config_drive: false,
    availability_zone: null,
    vm_state: f.vmState ?? 'active',
    task_state: f.taskState ?? null,
    power_state: 1,
    progress: 0,
    host_id: null,
    locked: f.locked ?? false,
    locked_by: f.locked ? 'owner' : null,
    locked_reason: null,
    reservation_id: 'r-fixture',
    launch_index: 0,
    access_ip_v4: null,
    access_ip_v6: null,
    request: JSON.stringify({
      networks: f.networks ?? [],
      securityGroups: [],
      schedulerHints: {},
      forcedHost: null,
      adminPass: null,
    }),
    fault: null,
    launched_at: f.launchedAt === undefined ? now : f.launchedAt,
    terminated_at: null,
    created_at: now,
    updated_at: now,
    deleted_at: f.deletedAt ?? null,
  });
  return uuid;
}

let segment = 100;

/** A VLAN network with one /24 subnet. */
export async function insertNetwork(
  db: Knex,
  projectId: string,
  name: string,
  cidr: string,
): Promise<{ networkId: string; subnetId: string }> {
  const networkId = randomUUID();
  const subnetId = randomUUID();
  const now = Date.now();
  const seg = segment++;
  const std = { description: '', revision_number: 0, created_at: now, updated_at: now };
  await db('networks').insert({
    id: networkId,
    project_id: projectId,
    name,
    mtu: 1500,
    availability_zone_hints: '[]',
    network_type: 'vlan',
    physical_network: 'physnet1',
    segmentation_id: seg,
    segment_key: seg,
    ...std,
  });
  await db('subnets').insert({
    id: subnetId,
    project_id: projectId,
    network_id: networkId,
    name: `${name}-subnet`,
    ip_version: 4,
    cidr,
    gateway_ip: null,
    ...std,
  });
  return { networkId, subnetId };
}

const ipInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);

export async function insertPort(
  db: Knex,
  p: {
    projectId: string;
    networkId: string;
    subnetId: string;
    deviceId: string;
    ips: string[];
    mac: string;
    createdAt: number;
    status?: string;
  },
): Promise<string> {
  const id = randomUUID();
  await db('ports').insert({
    id,
    project_id: p.projectId,
    network_id: p.networkId,
    name: '',
    mac_address: p.mac,
    status: p.status ?? 'ACTIVE',
    device_id: p.deviceId,
    device_owner: p.deviceId ? 'compute:nova' : '',
    binding_profile: '{}',
    description: '',
    revision_number: 0,
    created_at: p.createdAt,
    updated_at: p.createdAt,
  });
  for (const ip of p.ips)
    await db('ip_allocations').insert({
      port_id: id,
      subnet_id: p.subnetId,
      network_id: p.networkId,
      ip_address: ip,
      ip_int: ipInt(ip),
    });
  return id;
}
