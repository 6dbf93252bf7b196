/**
 * Nova servers through the API on both databases, with in-process agents on the fake driver: create (single
 * and batch), the views per microversion (golden bodies), list filters and paging, power actions and their
 * state checks, lock, rebuild, createImage, console output, delete, and the errors Nova answers.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { testBackends } from '../../support/databases.js';
import {
  assertFault,
  golden,
  startComputeCloud,
  until,
  waitForStatus,
  type ComputeCloud,
} from '../../support/compute.js';
import { tenant, type Tenant } from '../image/support.js';

const MV = 'X-OpenStack-Nova-API-Version';

for (const backend of testBackends()) {
  describe(`servers [${backend}]`, () => {
    let cloud: ComputeCloud;
    let a: Tenant;
    let b: Tenant;
    let server: Record<string, unknown>;

    const http = () => cloud.api.http;
    const create = (token: string, body: Record<string, unknown>, mv = '2.1') =>
      http().post('/compute/v2.1/servers').set('X-Auth-Token', token).set(MV, mv).send(body);
    const action = (token: string, id: string, body: Record<string, unknown>, mv = '2.1') =>
      http().post(`/compute/v2.1/servers/${id}/action`).set('X-Auth-Token', token).set(MV, mv).send(body);
    const show = (token: string, id: string, mv = '2.1') =>
      http().get(`/compute/v2.1/servers/${id}`).set('X-Auth-Token', token).set(MV, mv);
    const basic = () => ({
      name: 'vm1',
      imageRef: cloud.imageId,
      flavorRef: cloud.flavors.tiny,
      networks: [{ uuid: cloud.networkId }],
    });

    before(async () => {
      cloud = await startComputeCloud(backend);
      a = await tenant(cloud.api, 'srv-a');
      b = await tenant(cloud.api, 'srv-b');
    });
    after(async () => {
      await cloud?.close();
    });

    it('create: 202 with the id, links and adminPass; BUILD → ACTIVE on a host with the port wired', async () => {
      const res = await create(a.member, { server: { ...basic(), metadata: { role: 'web' } } });
      assert.equal(res.status, 202, res.text);
      golden('server-create@2.1', res.body);
      assert.match(res.headers.location, /\/v2\.1\/servers\//);
      const id = res.body.server.id as string;
      const building = await show(a.member, id);
      assert.ok(['BUILD', 'ACTIVE'].includes(building.body.server.status));
      server = await waitForStatus(cloud, a.member, id, 'ACTIVE');
      assert.equal(server['OS-EXT-STS:power_state'], 1);
      assert.equal(server['OS-EXT-STS:vm_state'], 'active');
      assert.match(String(server['OS-SRV-USG:launched_at']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
      const addrs = server.addresses as Record<string, { addr: string; 'OS-EXT-IPS-MAC:mac_addr': string }[]>;
      assert.deepEqual(Object.keys(addrs), [cloud.networkName]);
      assert.match(addrs[cloud.networkName][0].addr, /^10\.60\.0\.\d+$/);
      assert.equal(server.metadata && (server.metadata as Record<string, string>).role, 'web');
      assert.ok(!('OS-EXT-SRV-ATTR:host' in server), 'host attributes are for admins');
      golden('server-show@2.1', { server });
      // the port is the server's, bound to its host
      const ports = await http()
        .get(`/networking/v2.0/ports?device_id=${id}`)
        .set('X-Auth-Token', cloud.admin);
      assert.equal(ports.body.ports.length, 1);
      const port = ports.body.ports[0];
      assert.equal(port.device_owner, 'compute:nova');
      const asAdmin = (await show(cloud.admin, id)).body.server;
      assert.equal(port['binding:host_id'], asAdmin['OS-EXT-SRV-ATTR:host']);
      assert.equal(addrs[cloud.networkName][0]['OS-EXT-IPS-MAC:mac_addr'], port.mac_address);
      // the domain on that host has the port's MAC and tap, an overlay on the image and a config drive
      const driver = cloud.drivers.find((d) => d.hostName === asAdmin['OS-EXT-SRV-ATTR:host']);
      assert.ok(driver);
      const domain = await driver.getDomain(id);
      assert.equal(domain?.state, 'running');
    });

    it('show per microversion: embedded flavor (2.47), tags, locked, description and more (2.79)', async () => {
      const id = server.id as string;
      const v247 = (await show(a.member, id, '2.47')).body.server;
      assert.deepEqual(Object.keys(v247.flavor).sort(), [
        'disk',
        'ephemeral',
        'extra_specs',
        'original_name',
        'ram',
        'swap',
        'vcpus',
      ]);
      const v279 = (await show(a.member, id, '2.79')).body.server;
      for (const k of [
        'locked',
        'description',
        'tags',
        'trusted_image_certificates',
        'server_groups',
        'locked_reason',
      ])
        assert.ok(k in v279, `${k} at 2.79`);
      golden('server-show@2.79', { server: v279 });
      const admin279 = (await show(cloud.admin, id, '2.79')).body.server;
      assert.equal(admin279.host_status, 'UP');
      for (const k of [
        'OS-EXT-SRV-ATTR:hostname',
        'OS-EXT-SRV-ATTR:reservation_id',
        'OS-EXT-SRV-ATTR:user_data',
      ])
        assert.ok(k in admin279, `${k} for admins at 2.3+`);
    });

    it('list and detail: filters (name regex, status, ip, image, flavor), paging with servers_links; other projects invisible', async () => {
      const list = await http().get('/compute/v2.1/servers').set('X-Auth-Token', a.member);
      assert.equal(list.status, 200);
      assert.deepEqual(Object.keys(list.body.servers[0]).sort(), ['id', 'links', 'name']);
      const q = async (query: string, token = a.member) =>
        (
          await http().get(`/compute/v2.1/servers/detail?${query}`).set('X-Auth-Token', token)
        ).body.servers.map((s: { id: string }) => s.id);
      assert.deepEqual(await q('name=^vm'), [server.id]);
      assert.deepEqual(await q('name=nomatch'), []);
      assert.deepEqual(await q('status=ACTIVE'), [server.id]);
      assert.deepEqual(await q('status=SHUTOFF'), []);
      const ip = Object.values(server.addresses as Record<string, { addr: string }[]>)[0][0].addr;
      assert.deepEqual(await q(`ip=${ip.replace(/\./g, '\\.')}$`), [server.id]);
      assert.deepEqual(await q(`image=${cloud.imageId}`), [server.id]);
      assert.deepEqual(await q(`flavor=${cloud.flavors.tiny}`), [server.id]);
      assert.deepEqual(await q(`flavor=${cloud.flavors.small}`), []);
      assert.deepEqual(await q('', b.member), [], "b sees none of a's servers");
      assertFault(await show(b.member, server.id as string), 404, 'itemNotFound');
      const unknown = await http().get('/compute/v2.1/servers?status=NOPE').set('X-Auth-Token', a.member);
      assert.deepEqual(unknown.body.servers, [], 'an unknown status lists nothing, as Nova');
      const badDate = await http()
        .get('/compute/v2.1/servers?changes-since=2011/01/01')
        .set('X-Auth-Token', a.member);
      assertFault(badDate, 400, 'badRequest');
      const since = await http()
        .get('/compute/v2.1/servers?changes-since=2011-01-01T00:00:00Z')
        .set('X-Auth-Token', a.member);
      assert.equal(since.status, 200);
      const allTenants = await http()
        .get('/compute/v2.1/servers?all_tenants=1')
        .set('X-Auth-Token', a.member);
      assertFault(allTenants, 403, 'forbidden');
      const sortBad = await http().get('/compute/v2.1/servers?sort_key=nope').set('X-Auth-Token', a.member);
      assertFault(sortBad, 400, 'badRequest');
      const second = await create(a.member, { server: { ...basic(), name: 'vm2' } });
      await waitForStatus(cloud, a.member, second.body.server.id, 'ACTIVE');
      const page = await http().get('/compute/v2.1/servers?limit=1').set('X-Auth-Token', a.member);
      assert.equal(page.body.servers.length, 1);
      assert.match(page.body.servers_links[0].href, /marker=/);
      const marker = new URL(page.body.servers_links[0].href).searchParams.get('marker');
      const next = await http()
        .get(`/compute/v2.1/servers?limit=1&marker=${marker}`)
        .set('X-Auth-Token', a.member);
      assert.equal(next.body.servers.length, 1);
      assert.notEqual(next.body.servers[0].id, page.body.servers[0].id);
      const badMarker = await http().get('/compute/v2.1/servers?marker=nope').set('X-Auth-Token', a.member);
      assertFault(badMarker, 400, 'badRequest', /marker \[nope\] not found/);
      const all = await http().get('/compute/v2.1/servers?all_tenants=1').set('X-Auth-Token', cloud.admin);
      assert.ok(all.body.servers.length >= 2);
      // as Nova (lp:1185290): tenant_id without all_tenants is ignored, the admin sees its own project only
      const ignored = await http()
        .get(`/compute/v2.1/servers/detail?tenant_id=${a.projectId}`)
        .set('X-Auth-Token', cloud.admin);
      const tenants = (r: { body: { servers: { tenant_id: string }[] } }) =>
        new Set(r.body.servers.map((x) => x.tenant_id));
      assert.ok(!tenants(ignored).has(a.projectId));
      const scoped = await http()
        .get(`/compute/v2.1/servers/detail?all_tenants=&tenant_id=${a.projectId}`)
        .set('X-Auth-Token', cloud.admin);
      assert.deepEqual([...tenants(scoped)], [a.projectId]);
      assert.ok(scoped.body.servers.length >= 2);
      await http()
        .delete(`/compute/v2.1/servers/${second.body.server.id}`)
        .set('X-Auth-Token', a.member)
        .expect(204);
      await waitForStatus(cloud, a.member, second.body.server.id, 'DELETED');
    });

    it('power actions move status as Nova; a state Nova refuses is 409', async () => {
      const id = server.id as string;
      assertFault(
        await action(a.member, id, { 'os-start': null }),
        409,
        'conflictingRequest',
        /Cannot 'start' instance .* while it is in vm_state active/,
      );
      assertFault(await action(a.member, id, { resume: null }), 409, 'conflictingRequest');
      assertFault(await action(a.member, id, { unpause: null }), 409, 'conflictingRequest');
      for (const [body, status] of [
        [{ 'os-stop': null }, 'SHUTOFF'],
        [{ 'os-start': null }, 'ACTIVE'],
        [{ reboot: { type: 'SOFT' } }, 'ACTIVE'],
        [{ reboot: { type: 'HARD' } }, 'ACTIVE'],
        [{ pause: null }, 'PAUSED'],
        [{ unpause: null }, 'ACTIVE'],
        [{ suspend: null }, 'SUSPENDED'],
        [{ resume: null }, 'ACTIVE'],
      ] as const) {
        const res = await action(a.member, id, body);
        assert.equal(res.status, 202, `${JSON.stringify(body)}: ${res.text}`);
        assert.equal(res.text, '', 'an empty 202, as Nova (clients parse any body as JSON)');
        await waitForStatus(cloud, a.member, id, status);
      }
      assertFault(await action(a.member, id, { reboot: { type: 'SIDEWAYS' } }), 400, 'badRequest');
      assertFault(await action(a.member, id, { fly: null }), 400, 'badRequest', /no such action/);
      assertFault(await action(a.reader, id, { 'os-stop': null }), 403, 'forbidden');
      assertFault(await action(b.member, id, { 'os-stop': null }), 404, 'itemNotFound');
      // two racing stops: one 202, one 409
      const [x, y] = await Promise.all([
        action(a.member, id, { 'os-stop': null }),
        action(a.member, id, { 'os-stop': null }),
      ]);
      assert.deepEqual([x.status, y.status].sort(), [202, 409]);
      await waitForStatus(cloud, a.member, id, 'SHUTOFF');
      await action(a.member, id, { 'os-start': null }).expect(202);
      await waitForStatus(cloud, a.member, id, 'ACTIVE');
      const events = await http()
        .get(`/compute/v2.1/servers/${id}/os-instance-actions`)
        .set('X-Auth-Token', a.member);
      const names = events.body.instanceActions.map((x: { action: string }) => x.action);
      for (const n of ['create', 'stop', 'start', 'reboot', 'pause', 'unpause', 'suspend', 'resume'])
        assert.ok(names.includes(n), `instance action ${n} recorded`);
    });

    it('lock: members get 409 on a locked server; 2.73 shows the reason; an admin lock is an admin unlock', async () => {
      const id = server.id as string;
      await action(a.member, id, { lock: { locked_reason: 'maintenance' } }, '2.73').expect(202);
      const locked = (await show(a.member, id, '2.73')).body.server;
      assert.equal(locked.locked, true);
      assert.equal(locked.locked_reason, 'maintenance');
      assertFault(await action(a.member, id, { 'os-stop': null }), 409, 'conflictingRequest', /is locked/);
      assertFault(
        await http().delete(`/compute/v2.1/servers/${id}`).set('X-Auth-Token', a.member),
        409,
        'conflictingRequest',
      );
      await action(a.member, id, { unlock: null }).expect(202);
      await action(cloud.admin, id, { lock: null }).expect(202);
      assertFault(await action(a.member, id, { unlock: null }), 403, 'forbidden');
      await action(cloud.admin, id, { unlock: null }).expect(202);
    });

    it('update: name and description (2.19); console output; changePassword is 409 without a guest agent', async () => {
      const id = server.id as string;
      const res = await http()
        .put(`/compute/v2.1/servers/${id}`)
        .set('X-Auth-Token', a.member)
        .set(MV, '2.19')
        .send({ server: { name: 'renamed', description: 'the web server' } });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.server.name, 'renamed');
      assert.equal(res.body.server.description, 'the web server');
      assert.ok(
        !('OS-EXT-STS:vm_state' in res.body.server),
        'before 2.75 the update answer has no extended attributes',
      );
      const v275 = await http()
        .put(`/compute/v2.1/servers/${id}`)
        .set('X-Auth-Token', a.member)
        .set(MV, '2.75')
        .send({ server: { name: 'renamed' } });
      assert.equal(v275.body.server['OS-EXT-STS:vm_state'], 'active', 'from 2.75 the full server');
      const bad = await http()
        .put(`/compute/v2.1/servers/${id}`)
        .set('X-Auth-Token', a.member)
        .send({ server: { description: 'only from 2.19' } });
      assertFault(bad, 400, 'badRequest');
      const out = await action(a.member, id, { 'os-getConsoleOutput': { length: 5 } });
      assert.equal(out.status, 200, out.text);
      // the fake guest's console log, tailed as Nova's _tail_log: 5 pieces of a split on newlines
      assert.equal(out.body.output.split('\n').length, 5, out.body.output);
      const all = await action(a.member, id, { 'os-getConsoleOutput': {} });
      assert.match(all.body.output, /fake kernel: boot step 1 of 8[\s\S]*login:/);
      assertFault(
        await action(a.member, id, { changePassword: { adminPass: 'x' } }),
        409,
        'conflictingRequest',
        /guest agent/,
      );
    });

    it('rebuild keeps the disk path and changes the image; createImage makes an active snapshot image (2.45 body)', async () => {
      const id = server.id as string;
      const res = await action(a.member, id, { rebuild: { imageRef: cloud.imageId, name: 'rebuilt' } });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.body.server.name, 'rebuilt');
      assert.ok(res.body.server.adminPass);
      await waitForStatus(cloud, a.member, id, 'ACTIVE');
      const snap = await action(
        a.member,
        id,
        { createImage: { name: 'snap1', metadata: { why: 'test' } } },
        '2.45',
      );
      assert.equal(snap.status, 202, snap.text);
      const imageId = snap.body.image_id as string;
      await until('snapshot image active', async () => {
        const img = await http().get(`/image/v2/images/${imageId}`).set('X-Auth-Token', a.member);
        if (img.body.status === 'active') {
          assert.equal(img.body.image_type, 'snapshot');
          assert.equal(img.body.instance_uuid, id);
          assert.equal(img.body.why, 'test');
          return true;
        }
        return false;
      });
      const old = await action(a.member, id, { createImage: { name: 'snap2' } }, '2.1');
      assert.equal(old.status, 202, old.text);
      assert.match(old.headers.location, /\/v2\/images\//);
      await waitForStatus(cloud, a.member, id, 'ACTIVE');
    });

    it('bad input: missing image or flavor, flavor too small, unknown network, bad user_data, extra keys → 400', async () => {
      const GiB3 = mkdtempSync(join(tmpdir(), 'kvmstack-big-'));
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(GiB3, 'big.qcow2'), '3G']);
      const img = await http()
        .post('/image/v2/images')
        .set('X-Auth-Token', a.member)
        .send({ name: 'big', disk_format: 'qcow2', container_format: 'bare' });
      await http()
        .put(`/image/v2/images/${img.body.id}/file`)
        .set('X-Auth-Token', a.member)
        .set('Content-Type', 'application/octet-stream')
        .send(readFileSync(join(GiB3, 'big.qcow2')))
        .expect(204);
      const before = (await cloud.api.service.deps.db('servers').count({ n: '*' }))[0].n;
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ ...basic(), imageRef: '00000000-0000-4000-8000-000000000000' }, /Image .* could not be found/],
        [{ ...basic(), flavorRef: 'nope' }, /Flavor nope could not be found/],
        [{ ...basic(), imageRef: img.body.id }, /Flavor's disk is too small/],
        [
          { ...basic(), networks: [{ uuid: '00000000-0000-4000-8000-000000000000' }] },
          /Network .* could not be found/,
        ],
        [{ ...basic(), user_data: 'not base64!' }, /./],
        [{ ...basic(), flavorRef: undefined }, /flavorRef/],
        [{ ...basic(), bogus: 1 }, /./],
        [{ ...basic(), min_count: 3, max_count: 2 }, /min_count/],
        [{ ...basic(), key_name: 'nokey' }, /Invalid key_name/],
        [{ ...basic(), availability_zone: 'mars' }, /availability zone/],
      ];
      for (const [body, msg] of cases)
        assertFault(await create(a.member, { server: body }), 400, 'badRequest', msg);
      assert.deepEqual(
        (await cloud.api.service.deps.db('servers').count({ n: '*' }))[0].n,
        before,
        'nothing written',
      );
      assertFault(await create(a.reader, { server: basic() }), 403, 'forbidden');
      const { networks: _n, ...noNetworks } = basic();
      void _n;
      assertFault(await create(a.member, { server: noNetworks }, '2.37'), 400, 'badRequest'); // required from 2.37
    });

    it('over quota: 403 overLimit and nothing created; batch create names and spreads servers', async () => {
      const before = (await cloud.api.service.deps.db('servers').whereNull('deleted_at').count({ n: '*' }))[0]
        .n;
      const over = await create(b.member, { server: { ...basic(), min_count: 11, max_count: 11 } });
      assertFault(over, 403, 'overLimit', /Quota exceeded for instances/);
      assert.deepEqual(
        (await cloud.api.service.deps.db('servers').whereNull('deleted_at').count({ n: '*' }))[0].n,
        before,
      );
      const res = await create(b.member, {
        server: { ...basic(), name: 'batch', min_count: 4, max_count: 4, return_reservation_id: true },
      });
      assert.equal(res.status, 202, res.text);
      assert.match(res.body.reservation_id, /^r-/);
      const list = await http()
        .get(`/compute/v2.1/servers/detail?all_tenants=1&reservation_id=${res.body.reservation_id}`)
        .set('X-Auth-Token', cloud.admin)
        .set(MV, '2.3');
      assert.deepEqual(list.body.servers.map((s: { name: string }) => s.name).sort(), [
        'batch-1',
        'batch-2',
        'batch-3',
        'batch-4',
      ]);
      for (const s of list.body.servers) await waitForStatus(cloud, b.member, s.id, 'ACTIVE');
      const placed = await http()
        .get(`/compute/v2.1/servers/detail?all_tenants=1&reservation_id=${res.body.reservation_id}`)
        .set('X-Auth-Token', cloud.admin);
      const hosts = placed.body.servers.map((s: Record<string, string>) => s['OS-EXT-SRV-ATTR:host']);
      assert.equal(new Set(hosts).size, 2, `performance spreads over both hosts: ${hosts}`);
      for (const s of placed.body.servers)
        await http().delete(`/compute/v2.1/servers/${s.id}`).set('X-Auth-Token', b.member).expect(204);
      for (const s of placed.body.servers) await waitForStatus(cloud, b.member, s.id, 'DELETED');
    });

    it('no valid host: ERROR with Nova fault; delete and forceDelete clean up domain, ports and claim', async () => {
      const huge = await http()
        .post('/compute/v2.1/flavors')
        .set('X-Auth-Token', cloud.admin)
        .send({ flavor: { name: 'huge', ram: 256, vcpus: 1, disk: 600 } }); // more disk than any fake host has
      const res = await create(cloud.admin, { server: { ...basic(), flavorRef: huge.body.flavor.id } });
      assert.equal(res.status, 202, res.text);
      const failed = await waitForStatus(cloud, cloud.admin, res.body.server.id, 'ERROR');
      const fault = failed.fault as { code: number; message: string };
      assert.equal(fault.code, 500);
      assert.match(fault.message, /No valid host was found/);
      const ports = await http()
        .get(`/networking/v2.0/ports?device_id=${res.body.server.id}`)
        .set('X-Auth-Token', cloud.admin);
      assert.equal(ports.body.ports.length, 0, 'no port left behind');
      await http()
        .delete(`/compute/v2.1/servers/${res.body.server.id}`)
        .set('X-Auth-Token', cloud.admin)
        .expect(204);
      await waitForStatus(cloud, cloud.admin, res.body.server.id, 'DELETED');

      const id = server.id as string;
      const asAdmin = (await show(cloud.admin, id)).body.server;
      const driver = cloud.drivers.find((d) => d.hostName === asAdmin['OS-EXT-SRV-ATTR:host']);
      await action(a.member, id, { forceDelete: null }).expect(202);
      await waitForStatus(cloud, a.member, id, 'DELETED');
      assert.equal(await driver?.getDomain(id), null, 'domain undefined');
      const left = await http()
        .get(`/networking/v2.0/ports?device_id=${id}`)
        .set('X-Auth-Token', cloud.admin);
      assert.equal(left.body.ports.length, 0);
      assert.equal(
        await cloud.api.service.deps.db('instances').where({ uuid: id }).first(),
        undefined,
        'claim released',
      );
      const deleted = await http()
        .get(`/compute/v2.1/servers/detail?deleted=true&all_tenants=1`)
        .set('X-Auth-Token', cloud.admin);
      assert.ok(
        deleted.body.servers.some(
          (s: { id: string; status: string }) => s.id === id && s.status === 'DELETED',
        ),
      );
    });
  });
}
