/**
 * Scheduler decision time with a large simulated cluster: N hosts (default 1,000, up, 16 CPUs / 64 GB / 500 GB
 * each, spread over 4 zones by aggregates, a quarter of them with an aggregate placement_policy), already
 * running M servers each (default 10, servers + instances rows), on SQLite and on MariaDB. Prints:
 *  - scheduleAndClaim p50/p99/max per decision (filters, weighers, the locks and the claim's writes), serial;
 *  - the same with C concurrent callers (MariaDB only: SQLite has one connection per process);
 *  - pure filter + weigh time over N in-memory hosts (no database).
 * Figures only, never pass/fail.
 *
 *   node dist/bench/scheduler.js [--hosts 1000] [--per-host 10] [--decisions 200] [--concurrency 8] [--db sqlite,mariadb]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Knex } from 'knex';
import { loadConfig } from '../src/common/config/load.js';
import { openDatabase } from '../src/db/connection.js';
import { migrateLatest } from '../src/db/migrate.js';
import { filterHosts, type HostCandidate, type RequestSpec } from '../src/scheduler/filters.js';
import { allocationOf, scheduleAndClaim } from '../src/scheduler/index.js';
import { weighHosts } from '../src/scheduler/weighers.js';
import { createTestDatabase, type Backend } from '../test/support/databases.js';
import { percentile as pct } from './support/stats.js';

const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '1000' },
    'per-host': { type: 'string', default: '10' },
    decisions: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '8' },
    db: { type: 'string', default: 'sqlite,mariadb' },
  },
});
const HOSTS = Number(args.hosts);
const PER_HOST = Number(args['per-host']);
const DECISIONS = Number(args.decisions);
const CONCURRENCY = Number(args.concurrency);
const ZONES = ['az1', 'az2', 'az3', 'az4'];
const config = loadConfig({ env: {}, file: undefined, overrides: {} });

const fmt = (ms: number) => `${ms.toFixed(2)} ms`;
function summary(label: string, samples: number[]): void {
  const s = [...samples].sort((a, b) => a - b);
  console.log(
    `  ${label.padEnd(46)} n=${String(s.length).padEnd(5)} p50 ${fmt(pct(s, 50))}  p99 ${fmt(pct(s, 99))}  max ${fmt(s[s.length - 1])}`,
  );
}

function serverRow(uuid: string, now: number, hostId: number | null): Record<string, unknown> {
  return {
    uuid,
    project_id: 'bench',
    user_id: 'bench',
    name: 'vm',
    hostname: 'vm',
    description: null,
    image_id: '',
    flavor: '{}',
    vcpus: 2,
    memory_mb: 2048,
    root_gb: 20,
    key_name: null,
    key_data: null,
    user_data: null,
    config_drive: false,
    availability_zone: null,
    vm_state: hostId === null ? 'building' : 'active',
    task_state: null,
    power_state: 1,
    progress: 0,
    host_id: hostId,
    locked: false,
    locked_by: null,
    locked_reason: null,
    reservation_id: 'r-bench',
    launch_index: 0,
    access_ip_v4: null,
    access_ip_v6: null,
    request: '{}',
    fault: null,
    launched_at: null,
    terminated_at: null,
    created_at: now,
    updated_at: now,
    deleted_at: null,
  };
}

async function populate(db: Knex, now: number): Promise<void> {
  const hosts = Array.from({ length: HOSTS }, (_, i) => ({
    uuid: randomUUID(),
    hostname: `bench-${String(i + 1).padStart(5, '0')}`,
    host_uuid: randomUUID(),
    host_ip: '10.0.0.1',
    rpc_url: 'http://10.0.0.1:8775',
    rpc_secret: 'x',
    credential_hash: `bench-${i}`,
    availability_zone: ZONES[i % ZONES.length],
    enabled: true,
    forced_down: false,
    inventory: JSON.stringify({ vcpus: 16, memoryMb: 65536, localDiskGb: 500, virtType: 'kvm' }),
    domains: '[]',
    stores: '[]',
    last_report_at: now,
    created_at: now,
    updated_at: now,
  }));
  await db.batchInsert('hosts', hosts, 200);
  const ids = (await db('hosts').orderBy('id').select('id')).map((r) => Number(r.id));
  for (const [i, zone] of ZONES.entries()) {
    await db('aggregates').insert({ uuid: randomUUID(), name: zone, created_at: now, updated_at: null });
    const agg = Number((await db('aggregates').where({ name: zone }).first('id')).id);
    await db('aggregate_metadata').insert({ aggregate_id: agg, key: 'availability_zone', value: zone });
    if (i === 0)
      await db('aggregate_metadata').insert({
        aggregate_id: agg,
        key: 'placement_policy',
        value: 'progressive',
      });
    await db.batchInsert(
      'aggregate_hosts',
      ids.filter((_, j) => j % ZONES.length === i).map((host_id) => ({ aggregate_id: agg, host_id })),
      500,
    );
  }
  const servers: Record<string, unknown>[] = [];
  const instances: Record<string, unknown>[] = [];
  for (const hostId of ids) {
    for (let k = 0; k < PER_HOST; k++) {
      const uuid = randomUUID();
      servers.push(serverRow(uuid, now, hostId));
      instances.push({
        uuid,
        host_id: hostId,
        generation: 1,
        desired_power: 'running',
        spec: JSON.stringify({ uuid, vcpus: 2, memoryMb: 2048, disks: [{ sizeGb: 20 }] }),
        created_at: now,
        updated_at: now,
      });
    }
  }
  await db.batchInsert('servers', servers, 250);
  await db.batchInsert('instances', instances, 500);
}

async function newServers(db: Knex, n: number, now: number): Promise<string[]> {
  const uuids = Array.from({ length: n }, () => randomUUID());
  await db.batchInsert(
    'servers',
    uuids.map((u) => serverRow(u, now, null)),
    250,
  );
  return uuids;
}

const request = (serverUuid: string, zone: string | null) => ({
  serverUuid,
  projectId: 'bench',
  vcpus: 2,
  memoryMb: 2048,
  rootGb: 20,
  availabilityZone: zone,
  forcedHost: null,
  groupUuid: null,
  imageProperties: {},
});

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function benchDatabase(backend: Backend): Promise<void> {
  const database = await createTestDatabase(backend);
  const db = openDatabase(database.url, 16);
  try {
    await migrateLatest(db);
    const now = Date.now();
    const t0 = Date.now();
    await populate(db, now);
    console.log(
      `${backend}: ${HOSTS} hosts, ${HOSTS * PER_HOST} placed servers (populated in ${Date.now() - t0} ms)`,
    );

    const anyZone: number[] = [];
    for (const u of await newServers(db, DECISIONS, now))
      anyZone.push(await timed(() => scheduleAndClaim(db, config, request(u, null), now)));
    summary('scheduleAndClaim, any zone (1000 candidates)', anyZone);

    const inZone: number[] = [];
    for (const [i, u] of (await newServers(db, DECISIONS, now)).entries())
      inZone.push(await timed(() => scheduleAndClaim(db, config, request(u, ZONES[i % ZONES.length]), now)));
    summary(`scheduleAndClaim, one zone (${HOSTS / ZONES.length} candidates)`, inZone);

    if (backend === 'mariadb') {
      for (const zoned of [false, true]) {
        const uuids = await newServers(db, DECISIONS, now);
        const lat: number[] = [];
        let next = 0;
        const t = Date.now();
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async (_, worker) => {
            while (next < uuids.length) {
              const u = uuids[next++];
              const zone = zoned ? ZONES[worker % ZONES.length] : null;
              lat.push(await timed(() => scheduleAndClaim(db, config, request(u, zone), now)));
            }
          }),
        );
        const secs = (Date.now() - t) / 1000;
        summary(`${CONCURRENCY} concurrent callers, ${zoned ? 'one zone each' : 'any zone'}`, lat);
        console.log(`  ${''.padEnd(46)} throughput ${(uuids.length / secs).toFixed(0)} decisions/s`);
      }
    }
  } finally {
    await db.destroy();
    await database.drop();
  }
}

function benchPure(): void {
  const now = Date.now();
  const hosts: HostCandidate[] = Array.from({ length: HOSTS }, (_, i) => ({
    id: i + 1,
    hostname: `bench-${i + 1}`,
    zone: ZONES[i % ZONES.length],
    enabled: i % 50 !== 0,
    forcedDown: false,
    revokedAt: null,
    lastReportAt: now,
    inventory: { vcpus: 16, memoryMb: 65536, localDiskGb: 500, virtType: 'kvm' },
    used: { vcpus: (i % 17) * 2, memoryMb: (i % 17) * 2048, diskGb: (i % 17) * 20, instances: i % 17 },
    groupMembers: 0,
    policy: i % 4 === 0 ? 'progressive' : 'performance',
  }));
  const spec: RequestSpec = {
    vcpus: 2,
    memoryMb: 2048,
    rootGb: 20,
    availabilityZone: null,
    forcedHost: null,
    group: null,
    imageProperties: { hw_architecture: 'x86_64' },
    ignoreHosts: [],
  };
  const allocation = allocationOf(config);
  const lastChosen = new Map<number, number>();
  const samples: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t = process.hrtime.bigint();
    const passed = filterHosts(hosts, spec, { now, serviceDownTimeMs: 60_000, allocation });
    const [best] = weighHosts(passed.hosts, { allocation, groupPolicy: null, lastChosen });
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
    lastChosen.set(best.id, i);
  }
  console.log(`pure (no database): ${HOSTS} hosts`);
  summary('filter + weigh', samples.slice(200)); // after JIT warm-up
}

benchPure();
for (const backend of String(args.db).split(',') as Backend[]) await benchDatabase(backend);
