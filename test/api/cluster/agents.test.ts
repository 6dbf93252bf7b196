import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { AgentClient } from '../../../src/cluster/agent-client.js';
import { getHost } from '../../../src/cluster/hosts/service.js';
import { placeInstance } from '../../../src/cluster/instances/service.js';
import { Agent } from '../../../host-agent/agent.js';
import { loadAgentConfig } from '../../../host-agent/config.js';
import { FakeCluster, FakeDriver } from '../../../host-agent/driver/fake.js';
import type { DomainSpec } from '../../../host-agent/driver/types.js';
import type { LeaseIo } from '../../../host-agent/leases/keeper.js';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';
import { insertServer } from '../../support/server-fixtures.js';

const SECRET = 'enroll-me-please';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(50);
  }
}

function spec(uuid: string, store: string, disk = `${store}/instances/${uuid}/disk`): DomainSpec {
  return {
    uuid,
    name: `instance-${uuid.slice(0, 8)}`,
    vcpus: 1,
    memoryMb: 256,
    disks: [
      {
        target: 'vda',
        path: disk,
        format: 'qcow2',
        backingPath: `${store}/images/tiny.qcow2`,
        backingFormat: 'qcow2',
      },
    ],
    nics: [{ mac: 'fa:16:3e:00:00:01', bridge: 'br0' }],
    consoleLog: `${store}/instances/${uuid}/console.log`,
  };
}

for (const backend of testBackends()) {
  describe(`host agents join, report and obey [${backend}]`, () => {
    let api: TestApi;
    let admin: string;
    const store = mkdtempSync(join(tmpdir(), 'kvmstack-store-'));
    const cluster = new FakeCluster();
    const drivers = { a: new FakeDriver('fake-a', cluster), b: new FakeDriver('fake-b', cluster) };
    const agents: Record<string, Agent> = {};
    const stateDirs = {
      a: mkdtempSync(join(tmpdir(), 'kvmstack-agent-a-')),
      b: mkdtempSync(join(tmpdir(), 'kvmstack-agent-b-')),
    };

    const config = (name: 'a' | 'b' | 'c', stateDir: string, extra: Record<string, string | number> = {}) =>
      loadAgentConfig({
        env: {},
        overrides: {
          'agent.api_url': api.url,
          'agent.enrollment_secret': SECRET,
          'agent.hostname': `fake-${name}`,
          'agent.host_ip': '127.0.0.1',
          'agent.rpc_port': 0,
          'agent.state_dir': stateDir,
          'agent.driver': 'fake',
          'agent.heartbeat_interval': 0.1,
          'agent.lease_interval': 0.1,
          'agent.reconcile_interval': 3600,
          ...extra,
        },
      });
    const withStore = (cfg: ReturnType<typeof config>) => ({
      ...cfg,
      stores: [{ name: 'shared', type: 'dir' as const, source: '', mount: store, options: '' }],
    });
    const clientFor = async (name: string) => new AgentClient(await getHost(api.service.deps.db, name), 5000);

    before(async () => {
      api = await startTestApi(backend, { overrides: { 'cluster.enrollment_secret': SECRET } });
      admin = await api.adminToken();
      for (const n of ['a', 'b'] as const) {
        agents[n] = new Agent(withStore(config(n, stateDirs[n])), {
          driver: drivers[n],
          log: pino({ level: 'silent' }),
        });
        await agents[n].start();
      }
    });
    after(async () => {
      for (const a of Object.values(agents)) await a.stop().catch(() => undefined);
      await api.close();
    });

    it('agents enroll by themselves and report inventory and leases as enabled hosts', async () => {
      await until('both hosts report', async () => {
        const res = await api.http.get('/kvmstack/v1/hosts').set('X-Auth-Token', admin);
        return (
          res.body.hosts.length === 2 &&
          res.body.hosts.every((h: { lease_counter: number | null }) => h.lease_counter !== null)
        );
      });
      const res = await api.http.get('/kvmstack/v1/hosts').set('X-Auth-Token', admin);
      assert.deepEqual(
        res.body.hosts.map((h: { hostname: string }) => h.hostname),
        ['fake-a', 'fake-b'],
      );
      for (const h of res.body.hosts) {
        assert.equal(h.enabled, true);
        assert.equal(h.inventory.vcpus, 16);
        assert.ok(h.last_report_age_s < 2);
        assert.deepEqual(
          h.stores.map((s: { state: string }) => s.state),
          ['ok'],
        );
        assert.ok(h.stores[0].total_gb > 0 && h.stores[0].free_gb >= 0, 'the shared store is measured');
      }
      // non-admins see nothing of the cluster
      const p = await api.createProject('plain');
      const u = await api.createUser('plainuser', 'pw');
      await api.grant(p.id, u.id, 'member');
      const member = await api.tokenFor(u.id, 'pw', p.id);
      await api.http.get('/kvmstack/v1/hosts').set('X-Auth-Token', member).expect(403);
    });

    it("each host sees the other's lease advance (the bypass report)", async () => {
      await until('a sees b and b sees a', async () => {
        const res = await api.http.get('/kvmstack/v1/leases').set('X-Auth-Token', admin);
        return res.body.observations.length === 2;
      });
      const first = (await api.http.get('/kvmstack/v1/leases').set('X-Auth-Token', admin)).body.observations;
      await sleep(500);
      const later = (await api.http.get('/kvmstack/v1/leases').set('X-Auth-Token', admin)).body.observations;
      for (const o of later) {
        const before = first.find((x: { observer: string }) => x.observer === o.observer);
        assert.ok(o.counter > before.counter, `${o.observer} sees ${o.subject} renewing`);
      }
    });

    it('RPC: define and start at a generation; stale generations, bad specs, strangers and unknown domains change nothing', async () => {
      const a = await clientFor('fake-a');
      const hostA = await getHost(api.service.deps.db, 'fake-a');
      const uuid = '11111111-1111-4111-8111-111111111111';
      await a.define(spec(uuid, store), 2, hostA.uuid);
      const running = await a.start(uuid, 2);
      assert.equal(running.state, 'running');
      assert.equal(running.generation, 2);
      await assert.rejects(a.destroy(uuid, 1), /stale generation 1/);
      assert.equal((await a.status(uuid)).state, 'running', 'nothing changed');

      const url = `${hostA.rpcUrl}/v1/domains/${uuid}/destroy`;
      const noAuth = await fetch(url, { method: 'POST', body: JSON.stringify({ generation: 2 }) });
      assert.equal(noAuth.status, 401);
      const wrong = await fetch(url, {
        method: 'POST',
        headers: { Authorization: 'Bearer nope' },
        body: JSON.stringify({ generation: 2 }),
      });
      assert.equal(wrong.status, 401);
      assert.equal((await a.status(uuid)).state, 'running');

      const post = (path: string, body: unknown) =>
        fetch(`${hostA.rpcUrl}${path}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${hostA.rpcSecret}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
      const bad = [
        { generation: 3, owner: hostA.uuid, spec: { ...spec(uuid, store), disks: [] } },
        {
          generation: 3,
          owner: hostA.uuid,
          spec: { ...spec(uuid, store), nics: [{ mac: 'not-a-mac', bridge: 'br0' }] },
        },
        { generation: 3, owner: hostA.uuid, spec: { ...spec(uuid, store), consoleLog: 'relative/path' } },
        { generation: 3, owner: hostA.uuid, spec: { ...spec(uuid, store), name: 'a name; rm -rf /' } },
        { generation: 0, owner: hostA.uuid, spec: spec(uuid, store) },
        { generation: 3, owner: 'some-other-host', spec: spec(uuid, store) },
        { generation: 3, owner: hostA.uuid, spec: spec('22222222-2222-4222-8222-222222222222', store) },
      ];
      for (const body of bad) {
        const res = await post(`/v1/domains/${uuid}/define`, body);
        assert.equal(res.status, 400, JSON.stringify(body).slice(0, 120));
        assert.equal(((await res.json()) as { error: { code: number } }).error.code, 400);
      }
      const garbage = await fetch(`${hostA.rpcUrl}/v1/domains/${uuid}/start`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${hostA.rpcSecret}`, 'Content-Type': 'application/json' },
        body: '{"generation":',
      });
      assert.equal(garbage.status, 400);
      assert.equal(
        (await post('/v1/domains/33333333-3333-4333-8333-333333333333/start', { generation: 1 })).status,
        404,
      );
      assert.equal((await post('/v1/domains/not-a-uuid/start', { generation: 1 })).status, 400);
      assert.equal(drivers.a.specOf(uuid)?.disks.length, 1, 'the domain kept its definition');
    });

    it('a second start of the same disk on another host is refused (disk locks)', async () => {
      const b = await clientFor('fake-b');
      const hostB = await getHost(api.service.deps.db, 'fake-b');
      const twin = '44444444-4444-4444-8444-444444444444';
      await b.define(
        spec(twin, store, `${store}/instances/11111111-1111-4111-8111-111111111111/disk`),
        1,
        hostB.uuid,
      );
      await assert.rejects(b.start(twin, 1), /write" lock/);
      assert.equal((await b.status(twin)).state, 'shutoff');
      await b.undefine(twin, 1);
    });

    it('live migration moves the domain to the peer at the next generation; the old generation is then refused', async () => {
      const uuid = '11111111-1111-4111-8111-111111111111';
      const a = await clientFor('fake-a');
      const b = await clientFor('fake-b');
      const hostB = await getHost(api.service.deps.db, 'fake-b');
      await a.migrate(uuid, 2, {
        uri: 'qemu+tcp://fake-b/system',
        migrateUri: 'tcp://fake-b',
        owner: hostB.uuid,
      });
      const there = await b.status(uuid);
      assert.deepEqual([there.state, there.generation, there.owner], ['running', 3, hostB.uuid]);
      await assert.rejects(a.status(uuid), /not defined on this host/);
      await assert.rejects(
        a.define(spec(uuid, store), 2, (await getHost(api.service.deps.db, 'fake-a')).uuid),
        /stale generation 2/,
      );
      await assert.rejects(b.destroy(uuid, 2), /stale generation/);
      assert.equal((await b.status(uuid)).state, 'running');
    });

    it('reconcile: a stale copy owned elsewhere is destroyed (disk untouched); an owned VM that is missing is defined', async () => {
      const db = api.service.deps.db;
      const hostA = await getHost(db, 'fake-a');
      const hostB = await getHost(db, 'fake-b');
      const stale = '55555555-5555-4555-8555-555555555555';
      const missing = '66666666-6666-4666-8666-666666666666';
      const a = await clientFor('fake-a');
      await a.define(spec(stale, store), 1, hostA.uuid);
      await a.start(stale, 1);
      // Meanwhile the database moved `stale` to B at generation 2 (an evacuation A did not hear of).
      await placeInstance(db, spec(stale, store), hostB.id, Date.now());
      await db('instances').where({ uuid: stale }).update({ generation: 2 });
      await placeInstance(db, spec(missing, store), hostA.id, Date.now());
      const actions = await agents.a.reconcile();
      assert.deepEqual(actions.map((x) => [x.kind, x.uuid]).sort(), [
        ['define', missing],
        ['destroy-and-undefine', stale],
      ]);
      assert.equal(await drivers.a.getDomain(stale), null);
      assert.equal((await drivers.a.getDomain(missing))?.state, 'shutoff', 'defined, not started');
      await assert.rejects(a.start(stale, 1), /not defined/);
      // A second pass finds nothing to do.
      assert.deepEqual(await agents.a.reconcile(), []);
    });

    it('reconcile: a domain whose server was deleted while the host was away is removed, files too', async () => {
      const db = api.service.deps.db;
      const hostA = await getHost(db, 'fake-a');
      // the server's row is the tombstone of Nova's local delete: deleted, no placement any more
      const gone = await insertServer(db, { projectId: 'p-gone' });
      await db('servers').where({ uuid: gone }).update({ vm_state: 'deleted', deleted_at: Date.now() });
      const a = await clientFor('fake-a');
      const s = spec(gone, store);
      await a.define(s, 1, hostA.uuid);
      await a.start(gone, 1);
      mkdirSync(dirname(s.consoleLog), { recursive: true });
      writeFileSync(s.consoleLog, 'boot\n');
      const actions = await agents.a.reconcile();
      assert.deepEqual(
        actions.map((x) => [x.kind, x.uuid]),
        [['remove-deleted', gone]],
      );
      assert.equal(await drivers.a.getDomain(gone), null);
      assert.equal(existsSync(s.consoleLog), false, 'its files under instances/ are removed');
      assert.deepEqual(await agents.a.reconcile(), []);
    });

    it('restarting an agent loses and duplicates nothing', async () => {
      const before = (await api.http.get('/kvmstack/v1/hosts').set('X-Auth-Token', admin)).body.hosts;
      const domainsBefore = await drivers.a.listDomains();
      await agents.a.stop();
      drivers.a = new FakeDriver('fake-a', cluster);
      for (const d of domainsBefore)
        await drivers.a.define(spec(d.uuid, store), { generation: d.generation ?? 1, owner: d.owner ?? '' });
      agents.a = new Agent(withStore(config('a', stateDirs.a)), {
        driver: drivers.a,
        log: pino({ level: 'silent' }),
      });
      await agents.a.start();
      const after = (await api.http.get('/kvmstack/v1/hosts').set('X-Auth-Token', admin)).body.hosts;
      assert.deepEqual(
        after.map((h: { id: string }) => h.id),
        before.map((h: { id: string }) => h.id),
        'same hosts, same ids',
      );
      assert.deepEqual(
        (await drivers.a.listDomains()).map((d) => d.uuid).sort(),
        domainsBefore.map((d) => d.uuid).sort(),
      );
      // the generation book survived: generation 2 of the migrated VM is still refused here
      const a = await clientFor('fake-a');
      await assert.rejects(
        a.define(
          spec('11111111-1111-4111-8111-111111111111', store),
          2,
          (await getHost(api.service.deps.db, 'fake-a')).uuid,
        ),
        /stale generation/,
      );
    });

    it("an agent that stops (a dead host) stops advancing in its peer's report", async () => {
      await agents.b.stop();
      await sleep(300);
      const obs = async () =>
        (await api.http.get('/kvmstack/v1/leases').set('X-Auth-Token', admin)).body.observations.find(
          (o: { subject: string }) => o.subject === 'fake-b',
        );
      const first = await obs();
      await sleep(600);
      const later = await obs();
      assert.equal(later.counter, first.counter, "B's counter is frozen");
      assert.ok(later.reportedAt > first.reportedAt, 'A keeps reporting');
      // changed_at is "now - ms ago" at each report: equal up to the report's own latency
      assert.ok(
        Math.abs(later.changedAt - first.changedAt) < 250,
        `${later.changedAt} vs ${first.changedAt}`,
      );
    });

    it('an agent whose store stops taking writes fences its domains within self_fence_after', async () => {
      let broken = false;
      const failing: LeaseIo = {
        write: async () => {
          if (broken) throw new Error('EIO: store gone');
        },
        readAll: async () => [],
      };
      const driver = new FakeDriver('fake-c', cluster);
      const c = new Agent(
        withStore(
          config('c', mkdtempSync(join(tmpdir(), 'kvmstack-agent-c-')), { 'agent.self_fence_after': 1 }),
        ),
        {
          driver,
          log: pino({ level: 'silent' }),
          leaseIo: failing,
        },
      );
      agents.c = c;
      await c.start();
      const client = await clientFor('fake-c');
      const hostC = await getHost(api.service.deps.db, 'fake-c');
      const uuid = '77777777-7777-4777-8777-777777777777';
      await client.define(spec(uuid, store), 1, hostC.uuid);
      await client.start(uuid, 1);
      broken = true;
      const t0 = Date.now();
      await until(
        'the domain is fenced',
        async () => (await driver.getDomain(uuid))?.state === 'shutoff',
        4000,
      );
      const took = Date.now() - t0;
      assert.ok(took >= 800 && took < 2500, `fenced after ${took} ms (self_fence_after = 1 s)`);
      const host = (await api.http.get(`/kvmstack/v1/hosts/${hostC.uuid}`).set('X-Auth-Token', admin)).body
        .host;
      await until(
        'the report says fenced',
        async () =>
          (await api.http.get(`/kvmstack/v1/hosts/${hostC.uuid}`).set('X-Auth-Token', admin)).body.host
            .inventory.fenced === true,
      );
      assert.ok(host);
    });

    it('enrollment needs the secret; a revoked host is refused at once; a stranger cannot report', async () => {
      const enroll = (body: Record<string, unknown>) =>
        api.http.post('/kvmstack/v1/hosts/enroll').send({
          hostname: 'x',
          host_uuid: '88888888-8888-4888-8888-888888888888',
          host_ip: '127.0.0.1',
          rpc_url: 'http://127.0.0.1:1',
          ...body,
        });
      assert.equal((await enroll({ enrollment_secret: 'wrong' })).status, 401);
      assert.equal((await enroll({ enrollment_secret: SECRET, rpc_url: 'file:///etc/passwd' })).status, 400);
      const other = await enroll({ enrollment_secret: SECRET, hostname: 'fake-a' });
      assert.equal(other.status, 409, 'another machine cannot take an enrolled name');
      const hostC = await getHost(api.service.deps.db, 'fake-c');
      await api.http.post(`/kvmstack/v1/hosts/${hostC.uuid}/revoke`).set('X-Auth-Token', admin).expect(200);
      const again = await enroll({
        enrollment_secret: SECRET,
        hostname: 'fake-c',
        host_uuid: hostC.hostUuid,
      });
      assert.equal(again.status, 403);
      const report = await api.http
        .post(`/kvmstack/v1/hosts/${hostC.uuid}/report`)
        .set('Authorization', 'Bearer not-a-credential')
        .send({ inventory: {}, domains: [], stores: [], lease_counter: 1, peers: [] });
      assert.equal(report.status, 401);
    });
  });
}
