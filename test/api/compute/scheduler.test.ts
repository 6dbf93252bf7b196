/**
 * scheduleAndClaim / releaseClaim on both databases, against hosts rows as agents leave them: the claim is one
 * transaction (instances row + servers.host_id/availability_zone), idempotent, and never overcommits a host
 * under concurrent callers (on MariaDB the calls really run in parallel over a pool of connections); hard
 * server-group policies hold under concurrency too; zones, forced hosts, disabled hosts, aggregate placement
 * policies and usage from instances without a servers row.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Knex } from 'knex';
import { loadConfig } from '../../../src/common/config/load.js';
import type { Config } from '../../../src/common/config/options.js';
import { openDatabase } from '../../../src/db/connection.js';
import { migrateLatest } from '../../../src/db/migrate.js';
import {
  NoValidHost,
  releaseClaim,
  scheduleAndClaim,
  type ScheduleRequest,
} from '../../../src/scheduler/index.js';
import { createTestDatabase, testBackends, type TestDatabase } from '../../support/databases.js';
import { insertServer } from '../../support/server-fixtures.js';

const config = (over: Record<string, string | number> = {}): Config =>
  loadConfig({ env: {}, file: undefined, overrides: over });

let hostSeq = 0;

interface HostOpts {
  vcpus?: number;
  memoryMb?: number;
  localDiskGb?: number;
  zone?: string;
  enabled?: boolean;
  lastReportAt?: number | null;
}

async function addHost(db: Knex, name: string, o: HostOpts = {}): Promise<number> {
  const now = Date.now();
  const n = ++hostSeq;
  const [id] = await db('hosts').insert({
    uuid: randomUUID(),
    hostname: name,
    host_uuid: randomUUID(),
    host_ip: '127.0.0.1',
    rpc_url: `http://127.0.0.1:${9000 + n}`,
    rpc_secret: 'x',
    credential_hash: `hash-${n}-${name}`,
    availability_zone: o.zone ?? 'nova',
    enabled: o.enabled ?? true,
    forced_down: false,
    inventory: JSON.stringify({
      vcpus: o.vcpus ?? 4,
      memoryMb: o.memoryMb ?? 8704,
      localDiskGb: o.localDiskGb ?? 100,
      localDiskFreeGb: 90,
      virtType: 'kvm',
    }),
    domains: '[]',
    stores: '[]',
    last_report_at: o.lastReportAt === undefined ? now : o.lastReportAt,
    created_at: now,
    updated_at: now,
  });
  if (typeof id === 'number') return id;
  return Number((await db('hosts').where({ hostname: name }).first('id')).id);
}

/** A servers row as the create API leaves it (building, no host). */
const addServer = (db: Knex, size: { vcpus: number; memoryMb: number; rootGb: number }): Promise<string> =>
  insertServer(db, {
    projectId: 'p1',
    userId: 'u1',
    vmState: 'building',
    taskState: 'scheduling',
    launchedAt: null,
    size,
  });

async function addGroup(db: Knex, policy: string, rules: Record<string, unknown> = {}): Promise<string> {
  const uuid = randomUUID();
  await db('server_groups').insert({
    uuid,
    project_id: 'p1',
    user_id: 'u1',
    name: policy,
    policy,
    rules: JSON.stringify(rules),
    created_at: Date.now(),
  });
  return uuid;
}

const request = (serverUuid: string, over: Partial<ScheduleRequest> = {}): ScheduleRequest => ({
  serverUuid,
  projectId: 'p1',
  vcpus: 1,
  memoryMb: 512,
  rootGb: 1,
  availabilityZone: null,
  forcedHost: null,
  groupUuid: null,
  imageProperties: {},
  ...over,
});

async function perHost(db: Knex): Promise<Map<number, number>> {
  const rows = await db('instances').groupBy('host_id').select('host_id').count({ n: '*' });
  return new Map((rows as Record<string, unknown>[]).map((r) => [Number(r.host_id), Number(r.n)]));
}

for (const backend of testBackends()) {
  describe(`scheduler: scheduleAndClaim [${backend}]`, () => {
    let database: TestDatabase;
    let db: Knex;
    const cfg = config();

    before(async () => {
      database = await createTestDatabase(backend);
      db = openDatabase(database.url);
      await migrateLatest(db);
    });
    after(async () => {
      await db.destroy();
      await database.drop();
    });
    beforeEach(async () => {
      for (const t of [
        'server_group_members',
        'server_groups',
        'instances',
        'servers',
        'aggregates',
        'hosts',
      ])
        await db(t).delete();
    });

    it('claims a host in one go: instances row with the placeholder spec, servers.host_id and zone', async () => {
      const a = await addHost(db, 'cmp-a', { zone: 'az1' });
      const uuid = await addServer(db, { vcpus: 2, memoryMb: 1024, rootGb: 5 });
      const now = Date.now();
      const placed = await scheduleAndClaim(
        db,
        cfg,
        request(uuid, { vcpus: 2, memoryMb: 1024, rootGb: 5 }),
        now,
      );
      assert.deepEqual(placed, { hostId: a, hostname: 'cmp-a', zone: 'az1' });
      const inst = await db('instances').where({ uuid }).first();
      assert.equal(Number(inst.host_id), a);
      assert.equal(Number(inst.generation), 1);
      assert.equal(inst.desired_power, 'running');
      assert.equal(Number(inst.created_at), now);
      assert.deepEqual(JSON.parse(inst.spec), {
        uuid,
        name: '',
        vcpus: 2,
        memoryMb: 1024,
        disks: [{ target: 'vda', path: '', format: 'qcow2', sizeGb: 5 }],
        nics: [],
        consoleLog: '',
      });
      const server = await db('servers').where({ uuid }).first();
      assert.equal(Number(server.host_id), a);
      assert.equal(server.availability_zone, 'az1');
    });

    it('is idempotent: a second call returns the same claim without a new one', async () => {
      await addHost(db, 'cmp-a');
      await addHost(db, 'cmp-b');
      const uuid = await addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 1 });
      const first = await scheduleAndClaim(db, cfg, request(uuid), Date.now());
      for (let i = 0; i < 3; i++)
        assert.deepEqual(await scheduleAndClaim(db, cfg, request(uuid), Date.now()), first);
      assert.equal((await db('instances')).length, 1);
      // even when racing itself (a task step run twice by two processes)
      const other = await addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 1 });
      const both = await Promise.all(
        [0, 1, 2].map(() => scheduleAndClaim(db, cfg, request(other), Date.now())),
      );
      assert.deepEqual(both[1], both[0]);
      assert.deepEqual(both[2], both[0]);
      assert.equal((await db('instances')).length, 2);
    });

    it('releaseClaim frees the room for the next server', async () => {
      const a = await addHost(db, 'tiny', { memoryMb: 1536 }); // 1024 MB usable
      const s1 = await addServer(db, { vcpus: 1, memoryMb: 1024, rootGb: 1 });
      const s2 = await addServer(db, { vcpus: 1, memoryMb: 1024, rootGb: 1 });
      await scheduleAndClaim(db, cfg, request(s1, { memoryMb: 1024 }), Date.now());
      await assert.rejects(
        scheduleAndClaim(db, cfg, request(s2, { memoryMb: 1024 }), Date.now()),
        NoValidHost,
      );
      await releaseClaim(db, s1);
      await releaseClaim(db, s1); // twice is harmless
      assert.equal((await scheduleAndClaim(db, cfg, request(s2, { memoryMb: 1024 }), Date.now())).hostId, a);
    });

    it("NoValidHost carries Nova's message and leaves nothing behind", async () => {
      await addHost(db, 'off', { enabled: false });
      await addHost(db, 'gone', { lastReportAt: Date.now() - 61_000 }); // service_down_time 60 s
      const uuid = await addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 1 });
      const err = await scheduleAndClaim(db, cfg, request(uuid), Date.now()).then(
        () => assert.fail('scheduled on a disabled or down host'),
        (e: unknown) => e as NoValidHost,
      );
      assert.ok(err instanceof NoValidHost);
      assert.equal(err.message, 'No valid host was found. There are not enough hosts available.');
      assert.equal(err.filter, 'ComputeFilter');
      assert.equal((await db('instances')).length, 0);
      assert.equal((await db('servers').where({ uuid }).first()).host_id, null);
    });

    for (const policy of ['performance', 'progressive']) {
      it(`23 concurrent claims on 2 hosts that fit 10 each (${policy}): 10 + 10 placed, 3 NoValidHost`, async () => {
        const c = config({ 'scheduler.placement_policy': policy });
        // 512 MB reserved + 10 x 512 MB; 4 CPUs x 4 = 16 vCPUs: RAM is the limit
        const a = await addHost(db, 'small-a', { memoryMb: 5632 });
        const b = await addHost(db, 'small-b', { memoryMb: 5632 });
        const uuids = await Promise.all(
          Array.from({ length: 23 }, () => addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 1 })),
        );
        // all in one burst: on MariaDB they run in parallel transactions over the connection pool
        const results = await Promise.allSettled(
          uuids.map((u) => scheduleAndClaim(db, c, request(u), Date.now())),
        );
        const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.equal(rejected.length, 3, rejected.map((r) => String(r.reason)).join('; '));
        for (const r of rejected) assert.ok(r.reason instanceof NoValidHost, String(r.reason));
        const counts = await perHost(db);
        assert.equal(counts.get(a), 10);
        assert.equal(counts.get(b), 10);
        assert.equal((await db('instances')).length, 20);
        // servers rows agree with the claims
        const placed = await db('servers').whereNotNull('host_id').count({ n: '*' });
        assert.equal(Number(placed[0].n), 20);
      });
    }

    it('anti-affinity group of 3 on 3 hosts (claimed concurrently): 3 distinct hosts; a 4th member fails', async () => {
      for (const n of ['aa-1', 'aa-2', 'aa-3']) await addHost(db, n);
      const group = await addGroup(db, 'anti-affinity');
      const members = await Promise.all(
        [0, 1, 2, 3].map(() => addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 1 })),
      );
      await db('server_group_members').insert(members.map((m) => ({ group_uuid: group, server_uuid: m })));
      const placed = await Promise.all(
        members
          .slice(0, 3)
          .map((m) => scheduleAndClaim(db, cfg, request(m, { groupUuid: group }), Date.now())),
      );
      assert.equal(new Set(placed.map((p) => p.hostId)).size, 3);
      await assert.rejects(
        scheduleAndClaim(db, cfg, request(members[3], { groupUuid: group }), Date.now()),
        (e: unknown) => e instanceof NoValidHost && e.filter === 'ServerGroupAntiAffinityFilter',
      );
      // a member that leaves frees its host for the 4th
      await releaseClaim(db, members[0]);
      const fourth = await scheduleAndClaim(db, cfg, request(members[3], { groupUuid: group }), Date.now());
      assert.equal(fourth.hostId, placed[0].hostId);
    });

    it('anti-affinity with max_server_per_host 2 (2.64) puts at most 2 members on a host', async () => {
      for (const n of ['m-1', 'm-2']) await addHost(db, n);
      const group = await addGroup(db, 'anti-affinity', { max_server_per_host: 2 });
      const members = await Promise.all(
        [0, 1, 2, 3, 4].map(() => addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 1 })),
      );
      await db('server_group_members').insert(members.map((m) => ({ group_uuid: group, server_uuid: m })));
      const results = await Promise.allSettled(
        members.map((m) => scheduleAndClaim(db, cfg, request(m, { groupUuid: group }), Date.now())),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 4);
      assert.deepEqual([...(await perHost(db)).values()], [2, 2]);
    });

    it('affinity: every member follows the first, even under concurrency', async () => {
      for (const n of ['af-1', 'af-2', 'af-3']) await addHost(db, n);
      const group = await addGroup(db, 'affinity');
      const members = await Promise.all(
        [0, 1, 2, 3].map(() => addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 1 })),
      );
      await db('server_group_members').insert(members.map((m) => ({ group_uuid: group, server_uuid: m })));
      const placed = await Promise.all(
        members.map((m) => scheduleAndClaim(db, cfg, request(m, { groupUuid: group }), Date.now())),
      );
      assert.equal(new Set(placed.map((p) => p.hostId)).size, 1);
    });

    it('zones, forced hosts and ignoreHosts narrow the choice', async () => {
      const a = await addHost(db, 'z-a', { zone: 'az1' });
      const b = await addHost(db, 'z-b', { zone: 'az2' });
      const c = await addHost(db, 'z-c', { zone: 'az2', enabled: false });
      const s = async () => addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 1 });
      assert.equal(
        (await scheduleAndClaim(db, cfg, request(await s(), { availabilityZone: 'az2' }), Date.now())).hostId,
        b,
      );
      assert.equal(
        (await scheduleAndClaim(db, cfg, request(await s(), { availabilityZone: 'az1' }), Date.now())).hostId,
        a,
      );
      await assert.rejects(
        scheduleAndClaim(db, cfg, request(await s(), { availabilityZone: 'az3' }), Date.now()),
        NoValidHost,
      );
      // an admin may force a disabled host
      const forced = await scheduleAndClaim(db, cfg, request(await s(), { forcedHost: 'z-c' }), Date.now());
      assert.deepEqual(forced, { hostId: c, hostname: 'z-c', zone: 'az2' });
      assert.equal(
        (await scheduleAndClaim(db, cfg, request(await s(), { ignoreHosts: [b] }), Date.now())).hostId,
        a,
      );
      await assert.rejects(
        scheduleAndClaim(db, cfg, request(await s(), { ignoreHosts: [a, b] }), Date.now()),
        NoValidHost,
      );
    });

    it('usage counts servers columns, and the spec of instances without a servers row', async () => {
      const a = await addHost(db, 'u-a', { memoryMb: 4608 }); // 4096 MB usable
      const b = await addHost(db, 'u-b', { memoryMb: 4608 });
      // placed by another path (no servers row): 3 GB on a, from its spec
      await db('instances').insert({
        uuid: randomUUID(),
        host_id: a,
        generation: 1,
        desired_power: 'running',
        spec: JSON.stringify({ vcpus: 1, memoryMb: 3072, disks: [{ sizeGb: 50 }, { sizeGb: 20 }] }),
        created_at: 1,
        updated_at: 1,
      });
      // a server row's columns win over its (stale) spec: 2 GB on b
      const big = await addServer(db, { vcpus: 1, memoryMb: 2048, rootGb: 1 });
      await db('instances').insert({
        uuid: big,
        host_id: b,
        generation: 1,
        desired_power: 'running',
        spec: JSON.stringify({ vcpus: 1, memoryMb: 1 }),
        created_at: 1,
        updated_at: 1,
      });
      // performance: b has more free RAM (2048 vs 1024)
      const s1 = await addServer(db, { vcpus: 1, memoryMb: 1024, rootGb: 1 });
      assert.equal((await scheduleAndClaim(db, cfg, request(s1, { memoryMb: 1024 }), Date.now())).hostId, b);
      // disk from the spec's disks: a has 70 of 100 GB claimed
      const s2 = await addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 31 });
      await assert.rejects(
        scheduleAndClaim(db, cfg, request(s2, { memoryMb: 512, rootGb: 31, forcedHost: 'u-a' }), Date.now()),
        NoValidHost,
      );
      const s3 = await addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 30 });
      const p3 = await scheduleAndClaim(
        db,
        cfg,
        request(s3, { memoryMb: 512, rootGb: 30, forcedHost: 'u-a' }),
        Date.now(),
      );
      assert.equal(p3.hostId, a);
    });

    it('placement policy: performance spreads, progressive stacks, an aggregate overrides the cluster', async () => {
      const ids = [];
      for (const n of ['p-1', 'p-2', 'p-3']) ids.push(await addHost(db, n));
      const boot = async (c: Config, n: number) => {
        const out: number[] = [];
        for (let i = 0; i < n; i++) {
          const u = await addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 1 });
          out.push((await scheduleAndClaim(db, c, request(u), Date.now())).hostId);
        }
        return out;
      };
      const spread = await boot(cfg, 6);
      assert.deepEqual([...new Set(spread)].sort(), [...ids].sort());
      assert.deepEqual(
        ids.map((id) => spread.filter((x) => x === id).length),
        [2, 2, 2],
      );
      await db('instances').delete();
      const stack = await boot(config({ 'scheduler.placement_policy': 'progressive' }), 6);
      assert.deepEqual(stack, Array(6).fill(ids[0]));
      await db('instances').delete();
      // an aggregate of p-2 and p-3 with progressive; p-1 keeps the cluster's performance. In the aggregate's
      // zone the request stacks.
      const now = Date.now();
      await db('aggregates').insert({ uuid: randomUUID(), name: 'stack', created_at: now, updated_at: null });
      const agg = Number((await db('aggregates').where({ name: 'stack' }).first('id')).id);
      await db('aggregate_hosts').insert([
        { aggregate_id: agg, host_id: ids[1] },
        { aggregate_id: agg, host_id: ids[2] },
      ]);
      await db('aggregate_metadata').insert([
        { aggregate_id: agg, key: 'placement_policy', value: 'progressive' },
        { aggregate_id: agg, key: 'availability_zone', value: 'az-stack' },
      ]);
      await db('hosts').whereIn('id', [ids[1], ids[2]]).update({ availability_zone: 'az-stack' });
      const inZone: number[] = [];
      for (let i = 0; i < 4; i++) {
        const u = await addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 1 });
        inZone.push(
          (await scheduleAndClaim(db, cfg, request(u, { availabilityZone: 'az-stack' }), now)).hostId,
        );
      }
      assert.deepEqual(inZone, Array(4).fill(ids[1]));
      // a second aggregate with a higher id and another policy does not change p-2's
      await db('aggregates').insert({
        uuid: randomUUID(),
        name: 'spread',
        created_at: now,
        updated_at: null,
      });
      const agg2 = Number((await db('aggregates').where({ name: 'spread' }).first('id')).id);
      assert.ok(agg2 > agg);
      await db('aggregate_hosts').insert({ aggregate_id: agg2, host_id: ids[1] });
      await db('aggregate_metadata').insert({
        aggregate_id: agg2,
        key: 'placement_policy',
        value: 'performance',
      });
      const u = await addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 1 });
      assert.equal(
        (await scheduleAndClaim(db, cfg, request(u, { availabilityZone: 'az-stack' }), now)).hostId,
        ids[1],
      );
    });

    it('image properties: an arm image finds no x86_64 host', async () => {
      await addHost(db, 'x86');
      const u = await addServer(db, { vcpus: 1, memoryMb: 512, rootGb: 1 });
      await assert.rejects(
        scheduleAndClaim(
          db,
          cfg,
          request(u, { imageProperties: { hw_architecture: 'aarch64' } }),
          Date.now(),
        ),
        (e: unknown) => e instanceof NoValidHost && e.filter === 'ImagePropertiesFilter',
      );
      const placed = await scheduleAndClaim(
        db,
        cfg,
        request(u, { imageProperties: { architecture: 'x86_64', img_hv_type: 'kvm' } }),
        Date.now(),
      );
      assert.equal(placed.hostname, 'x86');
    });
  });
}
