/**
 * Nova's host-facing admin APIs over enrolled hosts: os-services (old and 2.53 forms), os-hypervisors,
 * os-availability-zone and os-aggregates, on a fake clock so a host that stops reporting turns down.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';

const SECRET = 'compute-hosts-secret';
const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const SAMPLES = join(process.cwd(), 'test/samples/compute');
const INVENTORY = {
  vcpus: 8,
  memoryMb: 16384,
  cpuModel: 'Skylake-Client-IBRS',
  hypervisorType: 'QEMU',
  hypervisorVersion: 7002000,
  virtType: 'kvm',
  localDiskGb: 100,
  localDiskFreeGb: 60,
};

/** Golden bodies: written once when missing (then reviewed), compared afterwards; ids and uuids masked. */
function golden(name: string, body: unknown): void {
  const masked = JSON.parse(
    JSON.stringify(body).replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>'),
  );
  const file = join(SAMPLES, `${name}.json`);
  if (!existsSync(file)) {
    mkdirSync(SAMPLES, { recursive: true });
    writeFileSync(file, `${JSON.stringify(masked, null, 2)}\n`);
  }
  assert.deepEqual(masked, JSON.parse(readFileSync(file, 'utf8')), `golden ${name}`);
}

for (const backend of testBackends()) {
  describe(`compute services, hypervisors, zones and aggregates [${backend}]`, () => {
    let api: TestApi;
    let admin: string;
    let reader: string;
    let now = T0;
    const hosts: Record<string, { uuid: string; credential: string }> = {};

    const nova = (method: 'get' | 'put' | 'post' | 'delete', path: string, mv = '2.1', token = admin) =>
      api.http[method](`/compute/v2.1${path}`)
        .set('X-Auth-Token', token)
        .set('OpenStack-API-Version', `compute ${mv}`);
    const report = async (name: string) => {
      const h = hosts[name];
      const res = await api.http
        .post(`/kvmstack/v1/hosts/${h.uuid}/report`)
        .set('Authorization', `Bearer ${h.credential}`)
        .send({ inventory: INVENTORY, domains: [], stores: [], lease_counter: 1, peers: [] });
      assert.equal(res.status < 300, true, JSON.stringify(res.body));
    };

    before(async () => {
      api = await startTestApi(backend, {
        overrides: { 'cluster.enrollment_secret': SECRET },
        now: () => now,
      });
      admin = await api.adminToken();
      const p = await api.createProject('p1');
      const u = await api.createUser('u1', 'pw-u1-secret');
      await api.grant(p.id, u.id, 'member');
      reader = await api.tokenFor(u.id, 'pw-u1-secret', p.id);
      for (const [i, name] of ['cmp1', 'cmp2'].entries()) {
        const res = await api.http.post('/kvmstack/v1/hosts/enroll').send({
          enrollment_secret: SECRET,
          hostname: name,
          host_uuid: `00000000-0000-4000-8000-00000000000${i}`,
          host_ip: `10.0.0.${i + 1}`,
          rpc_url: `http://10.0.0.${i + 1}:5100`,
          inventory: INVENTORY,
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        hosts[name] = { uuid: res.body.host.id, credential: res.body.credential };
        await report(name);
      }
    });
    after(async () => api?.close());

    it('lists one nova-compute per host, fields by microversion', async () => {
      const r21 = await nova('get', '/os-services');
      assert.equal(r21.status, 200);
      golden('service-list@2.1', r21.body);
      assert.equal(r21.body.services[0].updated_at, '2026-01-02T03:04:05.678000');
      assert.equal('forced_down' in r21.body.services[0], false);
      const r211 = await nova('get', '/os-services', '2.11');
      assert.equal(r211.body.services[0].forced_down, false);
      const r253 = await nova('get', '/os-services?host=cmp2&binary=nova-compute', '2.53');
      golden('service-list@2.53', r253.body);
      assert.equal(r253.body.services.length, 1);
      assert.equal(r253.body.services[0].id, hosts.cmp2.uuid);
      assert.deepEqual((await nova('get', '/os-services?binary=nova-scheduler')).body, { services: [] });
      assert.equal((await nova('get', '/os-services?bogus=1', '2.75')).status, 400);
      assert.equal((await nova('get', '/os-services?bogus=1', '2.74')).status, 200);
    });

    it('refuses non-admins with 403 on every admin route', async () => {
      for (const path of [
        '/os-services',
        '/os-hypervisors',
        '/os-hypervisors/detail',
        '/os-aggregates',
        '/os-availability-zone/detail',
      ]) {
        const res = await nova('get', path, '2.1', reader);
        assert.equal(res.status, 403, path);
        assert.match(res.body.forbidden.message, /os_compute_api:/);
      }
      assert.equal(
        (await nova('post', '/os-aggregates', '2.1', reader).send({ aggregate: { name: 'x' } })).status,
        403,
      );
      assert.equal((await nova('get', '/os-availability-zone', '2.1', reader)).status, 200);
    });

    it('disables, enables and forces down with the < 2.53 forms', async () => {
      let res = await nova('put', '/os-services/disable-log-reason', '2.13').send({
        host: 'cmp1',
        binary: 'nova-compute',
        disabled_reason: 'maint',
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body, {
        service: { host: 'cmp1', binary: 'nova-compute', status: 'disabled', disabled_reason: 'maint' },
      });
      let svc = (await nova('get', '/os-services?host=cmp1')).body.services[0];
      assert.equal(svc.status, 'disabled');
      assert.equal(svc.disabled_reason, 'maint');
      res = await nova('put', '/os-services/enable').send({ host: 'cmp1', binary: 'nova-compute' });
      assert.deepEqual(res.body, { service: { host: 'cmp1', binary: 'nova-compute', status: 'enabled' } });
      res = await nova('put', '/os-services/disable').send({ host: 'cmp1', binary: 'nova-compute' });
      assert.equal(res.body.service.status, 'disabled');
      assert.equal(
        (await nova('put', '/os-services/enable').send({ host: 'cmp1', binary: 'nova-compute' })).status,
        200,
      );
      res = await nova('put', '/os-services/force-down', '2.11').send({
        host: 'cmp1',
        binary: 'nova-compute',
        forced_down: 'yes',
      });
      assert.deepEqual(res.body, { service: { host: 'cmp1', binary: 'nova-compute', forced_down: true } });
      svc = (await nova('get', '/os-services?host=cmp1', '2.11')).body.services[0];
      assert.equal(svc.state, 'down');
      assert.equal(svc.forced_down, true);
      await nova('put', '/os-services/force-down', '2.11').send({
        host: 'cmp1',
        binary: 'nova-compute',
        forced_down: false,
      });
      assert.equal((await nova('get', '/os-services?host=cmp1')).body.services[0].state, 'up');
      // bad input
      assert.equal(
        (await nova('put', '/os-services/force-down', '2.10').send({ host: 'cmp1', binary: 'nova-compute' }))
          .status,
        404,
      );
      assert.equal(
        (await nova('put', '/os-services/force-down', '2.11').send({ host: 'cmp1', binary: 'nova-compute' }))
          .status,
        400,
      );
      assert.equal(
        (await nova('put', '/os-services/disable-log-reason').send({ host: 'cmp1', binary: 'nova-compute' }))
          .status,
        400,
      );
      assert.equal(
        (await nova('put', '/os-services/disable').send({ host: 'nohost', binary: 'nova-compute' })).status,
        404,
      );
      assert.equal(
        (await nova('put', '/os-services/disable').send({ host: 'cmp1', binary: 'nova-scheduler' })).status,
        400,
      );
      assert.equal((await nova('put', '/os-services/disable').send({ host: 'cmp1' })).status, 400);
      assert.equal(
        (await nova('put', '/os-services/frobnicate').send({ host: 'cmp1', binary: 'nova-compute' })).status,
        404,
      );
    });

    it('updates by UUID from 2.53 and answers the full service', async () => {
      const id = hosts.cmp2.uuid;
      let res = await nova('put', `/os-services/${id}`, '2.53').send({
        status: 'disabled',
        disabled_reason: 'R',
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.service.id, id);
      assert.equal(res.body.service.status, 'disabled');
      assert.equal(res.body.service.disabled_reason, 'R');
      assert.equal(res.body.service.forced_down, false);
      res = await nova('put', `/os-services/${id}`, '2.69').send({ forced_down: true });
      assert.equal(res.body.service.state, 'down');
      res = await nova('put', `/os-services/${id}`, '2.69').send({ status: 'enabled', forced_down: false });
      assert.equal(res.body.service.status, 'enabled');
      assert.equal(res.body.service.disabled_reason, null);
      assert.equal(res.body.service.state, 'up');
      for (const body of [
        {},
        { status: 'enabled', disabled_reason: 'x' },
        { status: 'off' },
        { host: 'cmp2' },
      ]) {
        assert.equal(
          (await nova('put', `/os-services/${id}`, '2.53').send(body)).status,
          400,
          JSON.stringify(body),
        );
      }
      assert.equal(
        (await nova('put', '/os-services/not-a-uuid', '2.53').send({ status: 'enabled' })).status,
        400,
      );
      assert.equal(
        (
          await nova('put', '/os-services/00000000-0000-4000-8000-0000000000ff', '2.53').send({
            status: 'enabled',
          })
        ).status,
        404,
      );
    });

    it('shows hypervisors with inventory figures, paging and the old search routes', async () => {
      let res = await nova('get', '/os-hypervisors');
      assert.deepEqual(
        res.body.hypervisors.map((h: { id: number }) => typeof h.id),
        ['number', 'number'],
      );
      res = await nova('get', '/os-hypervisors/detail');
      golden('hypervisor-detail@2.1', res.body);
      const d = res.body.hypervisors[0];
      assert.equal(typeof d.cpu_info, 'string');
      assert.equal(d.vcpus, 8);
      assert.equal(d.local_gb_used, 40);
      assert.equal(d.hypervisor_version, 7002000);
      res = await nova('get', '/os-hypervisors/detail', '2.53');
      golden('hypervisor-detail@2.53', res.body);
      assert.deepEqual(res.body.hypervisors[0].cpu_info, { model: 'Skylake-Client-IBRS' });
      res = await nova('get', '/os-hypervisors?limit=1', '2.33');
      assert.equal(res.body.hypervisors.length, 1);
      assert.match(res.body.hypervisors_links[0].href, /marker=\d+/);
      const marker = res.body.hypervisors[0].id;
      res = await nova('get', `/os-hypervisors?limit=1&marker=${marker}`, '2.33');
      assert.equal(res.body.hypervisors[0].hypervisor_hostname, 'cmp2');
      assert.equal(res.body.hypervisors_links, undefined);
      assert.equal((await nova('get', '/os-hypervisors?marker=999', '2.33')).status, 400);
      res = await nova('get', '/os-hypervisors?hypervisor_hostname_pattern=mp2&with_servers=true', '2.75');
      assert.deepEqual(
        res.body.hypervisors.map((h: { hypervisor_hostname: string }) => h.hypervisor_hostname),
        ['cmp2'],
      );
      assert.deepEqual(res.body.hypervisors[0].servers, []);
      assert.equal(
        (await nova('get', '/os-hypervisors?hypervisor_hostname_pattern=zzz', '2.53')).status,
        404,
      );
      assert.equal(
        (await nova('get', '/os-hypervisors?hypervisor_hostname_pattern=c&limit=1', '2.53')).status,
        400,
      );
      res = await nova('get', '/os-hypervisors/cmp/search');
      assert.equal(res.body.hypervisors.length, 2);
      assert.equal((await nova('get', '/os-hypervisors/cmp/search', '2.53')).status, 404);
      assert.equal((await nova('get', '/os-hypervisors/nope/servers')).status, 404);
      const id = (await nova('get', '/os-hypervisors')).body.hypervisors[0].id;
      assert.equal((await nova('get', `/os-hypervisors/${id}`)).body.hypervisor.hypervisor_hostname, 'cmp1');
      assert.equal((await nova('get', '/os-hypervisors/abc')).status, 404);
      assert.equal((await nova('get', '/os-hypervisors/abc', '2.53')).status, 400);
      assert.equal(
        (await nova('get', `/os-hypervisors/${hosts.cmp1.uuid}`, '2.53')).body.hypervisor.id,
        hosts.cmp1.uuid,
      );
      res = await nova('get', '/os-hypervisors/statistics');
      assert.deepEqual(res.body.hypervisor_statistics, {
        count: 2,
        vcpus: 16,
        memory_mb: 32768,
        local_gb: 200,
        vcpus_used: 0,
        memory_mb_used: 0,
        local_gb_used: 80,
        free_ram_mb: 32768,
        free_disk_gb: 120,
        current_workload: 0,
        running_vms: 0,
        disk_available_least: 120,
      });
    });

    it("answers a hypervisor's uptime from its agent's report, 501 when the agent reports none", async () => {
      const h = hosts.cmp1;
      const line = ' 17:37:14 up 2 days,  2:33,  0 users,  load average: 0.33, 0.36, 0.34';
      const sent = await api.http
        .post(`/kvmstack/v1/hosts/${h.uuid}/report`)
        .set('Authorization', `Bearer ${h.credential}`)
        .send({
          inventory: { ...INVENTORY, uptime: line },
          domains: [],
          stores: [],
          lease_counter: 2,
          peers: [],
        });
      assert.ok(sent.status < 300, JSON.stringify(sent.body));
      const up = await nova('get', `/os-hypervisors/${h.uuid}/uptime`, '2.53');
      assert.equal(up.status, 200, JSON.stringify(up.body));
      assert.equal(up.body.hypervisor.id, h.uuid);
      assert.equal(up.body.hypervisor.hypervisor_hostname, 'cmp1');
      assert.equal(up.body.hypervisor.uptime, line);
      await report('cmp1'); // back to an inventory without uptime
      const none = await nova('get', `/os-hypervisors/${h.uuid}/uptime`, '2.53');
      assert.equal(none.status, 501);
      assert.equal(none.body.notImplemented.message, 'Virt driver does not implement uptime function.');
      assert.equal((await nova('get', `/os-hypervisors/${h.uuid}/uptime`, '2.53', reader)).status, 403);
      assert.equal((await nova('get', '/os-hypervisors/not-a-uuid/uptime', '2.53')).status, 400);
      assert.equal((await nova('get', '/os-hypervisors/999/uptime', '2.1')).status, 404);
    });

    it('turns a host down when it stops reporting, and lists zones', async () => {
      now += 61_000;
      await report('cmp2');
      const svcs = (await nova('get', '/os-services')).body.services;
      assert.deepEqual(
        svcs.map((s: { state: string }) => s.state),
        ['down', 'up'],
      );
      const hyp = (await nova('get', '/os-hypervisors')).body.hypervisors;
      assert.deepEqual(
        hyp.map((s: { state: string }) => s.state),
        ['down', 'up'],
      );
      let res = await nova('get', '/os-availability-zone', '2.1', reader);
      assert.deepEqual(res.body, {
        availabilityZoneInfo: [{ zoneName: 'nova', zoneState: { available: true }, hosts: null }],
      });
      res = await nova('get', '/os-availability-zone/detail');
      assert.equal(res.body.availabilityZoneInfo[0].hosts.cmp1['nova-compute'].available, false);
      assert.equal(res.body.availabilityZoneInfo[0].hosts.cmp2['nova-compute'].available, true);
      await report('cmp1');
    });

    it('manages aggregates: zones move hosts, conflicts are refused', async () => {
      let res = await nova('post', '/os-aggregates', '2.41').send({
        aggregate: { name: 'agg1', availability_zone: 'z1' },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      golden('aggregate-create@2.41', { aggregate: { ...res.body.aggregate, id: '<id>' } });
      const a1 = res.body.aggregate.id;
      assert.equal((await nova('post', '/os-aggregates').send({ aggregate: { name: 'agg1' } })).status, 409);
      assert.equal((await nova('post', '/os-aggregates').send({ aggregate: { name: ' sp' } })).status, 400);
      assert.equal(
        (await nova('post', '/os-aggregates').send({ aggregate: { name: 'x', availability_zone: 'a:b' } }))
          .status,
        400,
      );
      const a2 = (
        await nova('post', '/os-aggregates').send({ aggregate: { name: 'agg2', availability_zone: 'z2' } })
      ).body.aggregate.id;
      res = await nova('post', `/os-aggregates/${a1}/action`).send({ add_host: { host: 'cmp1' } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.aggregate.hosts, ['cmp1']);
      assert.equal((await nova('get', '/os-services?host=cmp1')).body.services[0].zone, 'z1');
      assert.equal(
        (await nova('post', `/os-aggregates/${a1}/action`).send({ add_host: { host: 'cmp1' } })).status,
        409,
      );
      assert.equal(
        (await nova('post', `/os-aggregates/${a2}/action`).send({ add_host: { host: 'cmp1' } })).status,
        409,
      );
      assert.equal(
        (await nova('post', `/os-aggregates/${a1}/action`).send({ add_host: { host: 'ghost' } })).status,
        404,
      );
      assert.equal(
        (await nova('post', `/os-aggregates/999/action`).send({ add_host: { host: 'cmp1' } })).status,
        404,
      );
      // metadata: placement policy validated, null deletes, zone change moves the hosts
      res = await nova('post', `/os-aggregates/${a1}/action`).send({
        set_metadata: { metadata: { placement_policy: 'progressive', k: 'v' } },
      });
      assert.deepEqual(res.body.aggregate.metadata, {
        availability_zone: 'z1',
        k: 'v',
        placement_policy: 'progressive',
      });
      assert.equal(
        (
          await nova('post', `/os-aggregates/${a1}/action`).send({
            set_metadata: { metadata: { placement_policy: 'fast' } },
          })
        ).status,
        400,
      );
      res = await nova('post', `/os-aggregates/${a1}/action`).send({
        set_metadata: { metadata: { k: null, availability_zone: 'z3' } },
      });
      assert.deepEqual(res.body.aggregate.metadata, {
        availability_zone: 'z3',
        placement_policy: 'progressive',
      });
      assert.equal((await nova('get', '/os-services?host=cmp1')).body.services[0].zone, 'z3');
      // agg2 cannot take z3's host's zone away, either by its own zone or by a rename of zone
      assert.equal(
        (
          await nova('post', `/os-aggregates/${a1}/action`).send({
            set_metadata: { metadata: { availability_zone: null } },
          })
        ).status,
        400,
      );
      res = await nova('put', `/os-aggregates/${a1}`, '2.41').send({ aggregate: { name: 'agg1b' } });
      assert.equal(res.body.aggregate.name, 'agg1b');
      assert.equal(typeof res.body.aggregate.uuid, 'string');
      assert.equal(
        (await nova('put', `/os-aggregates/${a1}`).send({ aggregate: { name: 'agg2' } })).status,
        409,
      );
      assert.equal((await nova('put', `/os-aggregates/${a1}`).send({ aggregate: {} })).status, 400);
      assert.equal((await nova('put', `/os-aggregates/abc`).send({ aggregate: { name: 'q' } })).status, 400);
      res = await nova('get', '/os-availability-zone/detail');
      assert.deepEqual(
        res.body.availabilityZoneInfo.map((z: { zoneName: string }) => z.zoneName),
        ['nova', 'z3'],
      );
      assert.equal((await nova('delete', `/os-aggregates/${a1}`)).status, 400);
      assert.equal(
        (await nova('post', `/os-aggregates/${a1}/action`).send({ remove_host: { host: 'cmp2' } })).status,
        404,
      );
      res = await nova('post', `/os-aggregates/${a1}/action`).send({ remove_host: { host: 'cmp1' } });
      assert.deepEqual(res.body.aggregate.hosts, []);
      assert.equal((await nova('get', '/os-services?host=cmp1')).body.services[0].zone, 'nova');
      assert.equal((await nova('delete', `/os-aggregates/${a1}`)).status, 200);
      assert.equal((await nova('get', `/os-aggregates/${a1}`)).status, 404);
      assert.equal(
        (
          await nova('post', `/os-aggregates/${a2}/action`).send({
            add_host: { host: 'cmp1' },
            remove_host: { host: 'cmp1' },
          })
        ).status,
        400,
      );
      res = await nova('get', '/os-aggregates');
      assert.deepEqual(
        res.body.aggregates.map((a: { name: string }) => a.name),
        ['agg2'],
      );
    });

    it('deletes a service only while it hosts no instances', async () => {
      const id = (await nova('get', '/os-services?host=cmp2')).body.services[0].id;
      await api.service.deps.db('instances').insert({
        uuid: '11111111-1111-4111-8111-111111111111',
        host_id: id,
        generation: 1,
        desired_power: 'running',
        spec: JSON.stringify({ name: 'vm1', vcpus: 2, memoryMb: 512 }),
        created_at: now,
        updated_at: now,
      });
      const d = (await nova('get', `/os-hypervisors/${id}`)).body.hypervisor;
      assert.deepEqual(
        [d.vcpus_used, d.memory_mb_used, d.running_vms, d.free_ram_mb],
        [2, 512, 1, 16384 - 512],
      );
      const s = (await nova('get', '/os-hypervisors/cmp2/servers')).body.hypervisors[0];
      assert.deepEqual(s.servers, [{ name: 'vm1', uuid: '11111111-1111-4111-8111-111111111111' }]);
      assert.equal((await nova('delete', `/os-services/${id}`)).status, 409);
      await api.service.deps.db('instances').where({ host_id: id }).del();
      assert.equal((await nova('delete', '/os-services/abc')).status, 400);
      assert.equal((await nova('delete', `/os-services/${id}`, '2.53')).status, 400);
      assert.equal((await nova('delete', `/os-services/${id}`)).status, 204);
      assert.equal((await nova('delete', `/os-services/${id}`)).status, 404);
      assert.deepEqual(
        (await nova('get', '/os-services')).body.services.map((x: { host: string }) => x.host),
        ['cmp1'],
      );
    });
  });
}
