/**
 * `GET /servers/detail` with 1,000 servers: a real API process (SQLite and MariaDB) with fake-driver agents
 * (test/support/compute.ts), the servers made through the API in batch creates of 50; then latency p50/p99
 * of /servers/detail (all 1,000 in one page), /servers/detail?limit=100 and /servers, and requests/s with 1 and
 * 8 concurrent clients. Figures only, never pass/fail.
 *
 *   node dist/bench/servers-detail.js [--servers 1000] [--requests 40] [--db sqlite,mariadb]
 */
import { parseArgs } from 'node:util';
import { startComputeCloud, until } from '../test/support/compute.js';
import type { Backend } from '../test/support/databases.js';
import { percentile as pct } from './support/stats.js';

async function run(backend: Backend, servers: number, requests: number): Promise<void> {
  const cloud = await startComputeCloud(backend, {
    hosts: 4,
    size: { vcpus: 4096, memoryMb: 4_000_000, diskGb: 100_000 },
    overrides: {
      'compute.quota_instances': -1,
      'compute.quota_cores': -1,
      'compute.quota_ram': -1,
      'api.max_limit': 1000,
    },
  });
  try {
    const http = cloud.api.http;
    const t0 = Date.now();
    for (let made = 0; made < servers; made += 50) {
      const res = await http
        .post('/compute/v2.1/servers')
        .set('X-Auth-Token', cloud.admin)
        .send({
          server: {
            name: `b${made}`,
            imageRef: cloud.imageId,
            flavorRef: cloud.flavors.tiny,
            networks: 'none',
            min_count: 50,
            max_count: 50,
          },
        })
        .set('X-OpenStack-Nova-API-Version', '2.37');
      if (res.status !== 202) throw new Error(`create: ${res.status} ${res.text}`);
    }
    const db = cloud.api.service.deps.db;
    await until(
      'all servers ACTIVE',
      async () =>
        Number((await db('servers').where({ vm_state: 'active' }).count({ n: '*' }))[0].n) >= servers,
      600_000,
    );
    console.log(
      `[${backend}] ${servers} servers created and ACTIVE (fake driver) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    for (const path of [
      '/compute/v2.1/servers/detail',
      '/compute/v2.1/servers/detail?limit=100',
      '/compute/v2.1/servers',
    ]) {
      const times: number[] = [];
      for (let i = 0; i < requests; i++) {
        const s = process.hrtime.bigint();
        const res = await http.get(path).set('X-Auth-Token', cloud.admin);
        if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
        times.push(Number(process.hrtime.bigint() - s) / 1e6);
      }
      times.sort((a, b) => a - b);
      const n = (await http.get(path).set('X-Auth-Token', cloud.admin)).body.servers.length;
      console.log(
        `[${backend}] GET ${path.replace('/compute/v2.1', '')} (${n} items): p50 ${pct(times, 50).toFixed(1)} ms, p99 ${pct(times, 99).toFixed(1)} ms`,
      );
    }
    for (const clients of [1, 8]) {
      let done = 0;
      const end = Date.now() + 5000;
      const started = Date.now();
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (Date.now() < end) {
            await http.get('/compute/v2.1/servers/detail').set('X-Auth-Token', cloud.admin);
            done++;
          }
        }),
      );
      console.log(
        `[${backend}] /servers/detail with ${clients} client(s): ${(done / ((Date.now() - started) / 1000)).toFixed(1)} req/s`,
      );
    }
  } finally {
    await cloud.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      servers: { type: 'string', default: '1000' },
      requests: { type: 'string', default: '40' },
      db: { type: 'string', default: 'sqlite,mariadb' },
    },
  });
  for (const b of String(values.db).split(',') as Backend[])
    await run(b, Number(values.servers), Number(values.requests));
  process.exit(0);
}

void main();
