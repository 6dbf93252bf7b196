/**
 * Nova flavors: CRUD by microversion (swap "" vs 0, description, extra_specs), listing filters and paging,
 * extra specs, private flavors and their access list, and Nova's errors for bad input.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Response } from 'supertest';
import { openDatabase } from '../../../src/db/connection.js';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';

const SAMPLES = join(process.cwd(), 'test/samples/compute');

/** Golden bodies: written once when missing (then reviewed), compared afterwards; uuids and port masked. */
function golden(name: string, body: unknown): void {
  const masked = JSON.parse(
    JSON.stringify(body)
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
      .replace(/\b[0-9a-f]{32}\b/g, '<hexid>')
      .replace(/http:\/\/127\.0\.0\.1:\d+/g, 'http://<host>'),
  );
  const file = join(SAMPLES, `${name}.json`);
  if (!existsSync(file)) {
    mkdirSync(SAMPLES, { recursive: true });
    writeFileSync(file, `${JSON.stringify(masked, null, 2)}\n`);
  }
  assert.deepEqual(masked, JSON.parse(readFileSync(file, 'utf8')), `golden ${name}`);
}

/** The response is Nova's fault body with this status and fault name. */
function assertFault(res: Response, status: number, fault: string, message?: RegExp): void {
  assert.equal(
    res.status,
    status,
    `expected ${status} ${fault}, got ${res.status} ${JSON.stringify(res.body)}`,
  );
  assert.equal(res.body?.[fault]?.code, status, JSON.stringify(res.body));
  if (message) assert.match(res.body[fault].message, message);
}

const TINY = { name: 'm1.tiny', id: '1', ram: 512, vcpus: 1, disk: 1 };

for (const backend of testBackends()) {
  describe(`compute flavors [${backend}]`, () => {
    let api: TestApi;
    let admin: string;
    let member: string;
    let other: string;
    let projectA: string;
    let projectB: string;

    const nova = (method: 'get' | 'put' | 'post' | 'delete', path: string, mv = '2.1', token = admin) =>
      api.http[method](`/compute/v2.1${path}`)
        .set('X-Auth-Token', token)
        .set('OpenStack-API-Version', `compute ${mv}`);
    const create = async (flavor: Record<string, unknown>, mv = '2.1') => {
      const res = await nova('post', '/flavors', mv).send({ flavor });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.flavor;
    };
    const flavorCount = async () => {
      const db = openDatabase(api.databaseUrl, 1);
      try {
        const row = (await db('flavors').count({ n: '*' }).first()) as { n: number | string };
        return Number(row.n);
      } finally {
        await db.destroy();
      }
    };

    before(async () => {
      api = await startTestApi(backend);
      admin = await api.adminToken();
      const pa = await api.createProject('fa');
      const pb = await api.createProject('fb');
      const ua = await api.createUser('ufa', 'pw-fa-secret');
      const ub = await api.createUser('ufb', 'pw-fb-secret');
      await api.grant(pa.id, ua.id, 'member');
      await api.grant(pb.id, ub.id, 'member');
      projectA = pa.id;
      projectB = pb.id;
      member = await api.tokenFor(ua.id, 'pw-fa-secret', pa.id);
      other = await api.tokenFor(ub.id, 'pw-fb-secret', pb.id);
    });
    after(() => api.close());

    it('creates a flavor and shows it in the 2.1, 2.55, 2.61 and 2.75 shapes', async () => {
      const f = await create(TINY);
      assert.equal(f.id, '1');
      assert.equal(f.swap, '');
      assert.equal(f.rxtx_factor, 1);
      assert.equal('description' in f, false);
      golden('flavor-create@2.1', { flavor: f });
      await nova('post', '/flavors/1/os-extra_specs')
        .send({ extra_specs: { 'hw:cpu_policy': 'shared' } })
        .expect(200);
      const at = async (mv: string) => (await nova('get', '/flavors/1', mv).expect(200)).body;
      golden('flavor-show@2.1', await at('2.1'));
      const s55 = await at('2.55');
      assert.equal(s55.flavor.description, null);
      assert.equal('extra_specs' in s55.flavor, false);
      golden('flavor-show@2.55', s55);
      const s61 = await at('2.61');
      assert.deepEqual(s61.flavor.extra_specs, { 'hw:cpu_policy': 'shared' });
      golden('flavor-show@2.61', s61);
      const s75 = await at('2.75');
      assert.equal(s75.flavor.swap, 0);
      golden('flavor-show@2.75', s75);
      // a member sees extra specs too (os-flavor-extra-specs:index is a project-reader rule in Nova)
      assert.deepEqual(
        (await nova('get', '/flavors/1', '2.61', member).expect(200)).body.flavor.extra_specs,
        {
          'hw:cpu_policy': 'shared',
        },
      );
      // the microversion is echoed; beyond the maximum is 406
      const res = await nova('get', '/flavors/1', '2.79').expect(200);
      assert.equal(res.headers['openstack-api-version'], 'compute 2.79');
      assertFault(await nova('get', '/flavors/1', '2.80'), 406, 'HTTPNotAcceptable', /not supported/);
    });

    it('generates a UUID id when none, null or "auto" is given, and accepts digit strings and numbers', async () => {
      for (const [i, id] of [undefined, null, 'auto'].entries()) {
        const f = await create({
          name: `gen-${i}`,
          ram: '64',
          vcpus: '1',
          disk: '0',
          ...(id === undefined ? {} : { id }),
        });
        assert.match(f.id, /^[0-9a-f-]{36}$/);
        assert.equal(f.ram, 64);
      }
      const n = await create({
        name: 'numeric-id',
        id: 42,
        ram: 64,
        vcpus: 1,
        disk: 0,
        swap: 128,
        rxtx_factor: 2.5,
      });
      assert.equal(n.id, '42');
      assert.equal(n.swap, 128);
      assert.equal(n.rxtx_factor, 2.5);
      const d = await create(
        { name: 'described', ram: 64, vcpus: 1, disk: 0, description: 'small one' },
        '2.55',
      );
      assert.equal(d.description, 'small one');
      golden('flavor-create@2.55', { flavor: { ...d, id: '<id>', links: [] } });
    });

    it('refuses bad input with 400, duplicates with 409, non-admins with 403, and leaves nothing behind', async () => {
      const before = await flavorCount();
      const bad: Record<string, unknown>[] = [
        { ...TINY, name: 'neg', id: 'neg', ram: -1 },
        { ...TINY, name: 'zero', id: 'zero', ram: 0 },
        { ...TINY, name: 'zero-cpu', id: 'zc', vcpus: 0 },
        { ...TINY, name: 'big', id: 'big', ram: 2147483648 },
        { ...TINY, name: 'strram', id: 'strram', ram: '12a' },
        { ...TINY, name: 'badid', id: 'bad/id' },
        { ...TINY, name: 'spaceid', id: ' lead' },
        { ...TINY, name: ' lead', id: 'lead' },
        { ...TINY, name: '', id: 'empty' },
        { ...TINY, name: 'rx', id: 'rx', rxtx_factor: 0 },
        { ...TINY, name: 'eph', id: 'eph', 'OS-FLV-EXT-DATA:ephemeral': -1 },
        { ...TINY, name: 'pub', id: 'pub', 'os-flavor-access:is_public': 'maybe' },
        { ...TINY, name: 'extra', id: 'extra', colour: 'red' },
        { name: 'noram', vcpus: 1, disk: 1 },
      ];
      for (const flavor of bad) {
        const res = await nova('post', '/flavors').send({ flavor });
        assertFault(res, 400, 'badRequest');
      }
      // description only exists from 2.55
      assertFault(
        await nova('post', '/flavors').send({ flavor: { ...TINY, name: 'd', id: 'd', description: 'x' } }),
        400,
        'badRequest',
      );
      assertFault(
        await nova('post', '/flavors').send({ flavor: { ...TINY, name: 'other name' } }),
        409,
        'conflictingRequest',
        /Flavor with ID 1 already exists/,
      );
      assertFault(
        await nova('post', '/flavors').send({ flavor: { ...TINY, id: '77' } }),
        409,
        'conflictingRequest',
        /Flavor with name m1.tiny already exists/,
      );
      assertFault(
        await nova('post', '/flavors', '2.1', member).send({ flavor: { ...TINY, name: 'mine', id: 'mine' } }),
        403,
        'forbidden',
        /os-flavor-manage:create/,
      );
      assert.equal(await flavorCount(), before);
    });

    it('lists public flavors, filters, sorts and pages with flavors_links', async () => {
      for (const [i, ram] of [128, 256, 1024].entries()) {
        await create({ name: `list-${i}`, id: `list-${i}`, ram, vcpus: 1, disk: i * 10 });
      }
      const brief = (await nova('get', '/flavors').expect(200)).body;
      const item = brief.flavors.find((f: { id: string }) => f.id === 'list-0');
      assert.deepEqual(Object.keys(item).sort(), ['id', 'links', 'name']);
      assert.deepEqual(
        Object.keys((await nova('get', '/flavors', '2.55').expect(200)).body.flavors[0]).sort(),
        ['description', 'id', 'links', 'name'],
      );
      const ids = (b: { flavors: { id: string }[] }) => b.flavors.map((f) => f.id);
      const big = (await nova('get', '/flavors/detail?minRam=256&minDisk=10').expect(200)).body;
      assert.deepEqual(
        ids(big).filter((id: string) => id.startsWith('list-')),
        ['list-1', 'list-2'],
      );
      assert.ok(big.flavors.every((f: { ram: number; disk: number }) => f.ram >= 256 && f.disk >= 10));
      const byRam = ids((await nova('get', '/flavors?sort_key=memory_mb&sort_dir=desc').expect(200)).body);
      assert.ok(
        byRam.indexOf('list-2') < byRam.indexOf('list-1') &&
          byRam.indexOf('list-1') < byRam.indexOf('list-0'),
      );
      // paging: two at a time until no next link, every flavor exactly once
      const all = ids((await nova('get', '/flavors').expect(200)).body);
      const seen: string[] = [];
      let url = '/flavors?limit=2';
      for (let i = 0; i < 20 && url; i++) {
        const page = (await nova('get', url).expect(200)).body;
        seen.push(...ids(page));
        const next = page.flavors_links?.find((l: { rel: string }) => l.rel === 'next')?.href as
          string | undefined;
        url = next ? next.slice(next.indexOf('/flavors')) : '';
      }
      assert.deepEqual(seen, all);
      assertFault(await nova('get', '/flavors?marker=nope'), 400, 'badRequest', /marker \[nope\] not found/);
      assertFault(await nova('get', '/flavors?minRam=abc'), 400, 'badRequest', /Invalid minRam filter/);
      assertFault(await nova('get', '/flavors?sort_key=colour'), 400, 'badRequest');
      assertFault(await nova('get', '/flavors?sort_dir=up'), 400, 'badRequest');
      assertFault(
        await nova('get', '/flavors?is_public=perhaps'),
        400,
        'badRequest',
        /Invalid is_public filter/,
      );
      assertFault(await nova('get', '/flavors?limit=-1'), 400, 'badRequest');
      // unknown query parameters are ignored before 2.75 and refused from 2.75
      await nova('get', '/flavors?colour=red', '2.74').expect(200);
      assertFault(await nova('get', '/flavors?colour=red', '2.75'), 400, 'badRequest');
    });

    it('hides a private flavor from projects without access, and shares it through the access list', async () => {
      const p = await create({
        name: 'secret',
        id: 'secret',
        ram: 64,
        vcpus: 1,
        disk: 0,
        'os-flavor-access:is_public': false,
      });
      assert.equal(p['os-flavor-access:is_public'], false);
      const has = async (token: string, q = '') =>
        ((await nova('get', `/flavors${q}`, '2.1', token).expect(200)).body.flavors as { id: string }[]).some(
          (f) => f.id === 'secret',
        );
      assert.equal(await has(member), false);
      assertFault(
        await nova('get', '/flavors/secret', '2.1', member),
        404,
        'itemNotFound',
        /Flavor secret could not be found/,
      );
      assert.equal(await has(admin), false, 'admin default listing: public (and shared) only');
      assert.equal(await has(admin, '?is_public=None'), true);
      assert.equal(await has(admin, '?is_public=false'), true);
      assert.equal(await has(admin, '?is_public=true'), false);
      // access list
      assert.deepEqual((await nova('get', '/flavors/secret/os-flavor-access').expect(200)).body, {
        flavor_access: [],
      });
      const added = await nova('post', '/flavors/secret/action')
        .send({ addTenantAccess: { tenant: projectA } })
        .expect(200);
      assert.deepEqual(added.body, { flavor_access: [{ flavor_id: 'secret', tenant_id: projectA }] });
      golden('flavor-access-add@2.1', added.body);
      assertFault(
        await nova('post', '/flavors/secret/action').send({ addTenantAccess: { tenant: projectA } }),
        409,
        'conflictingRequest',
        /already exists/,
      );
      assertFault(
        await nova('post', '/flavors/secret/action').send({ addTenantAccess: { tenant: 'nosuchproject' } }),
        400,
        'badRequest',
        /not a valid project/,
      );
      assertFault(
        await nova('post', '/flavors/secret/action', '2.1', member).send({
          addTenantAccess: { tenant: projectA },
        }),
        403,
        'forbidden',
      );
      assert.equal(await has(member), true);
      await nova('get', '/flavors/secret', '2.1', member).expect(200);
      assert.equal(await has(other), false);
      assertFault(await nova('get', '/flavors/secret', '2.1', other), 404, 'itemNotFound');
      assertFault(await nova('get', '/flavors/secret/os-extra_specs', '2.1', other), 404, 'itemNotFound');
      assertFault(await nova('get', '/flavors/secret/os-flavor-access', '2.1', member), 403, 'forbidden');
      await nova('post', '/flavors/secret/action')
        .send({ removeTenantAccess: { tenant: projectA } })
        .expect(200);
      assertFault(
        await nova('post', '/flavors/secret/action').send({ removeTenantAccess: { tenant: projectB } }),
        404,
        'itemNotFound',
        /Flavor access not found/,
      );
      assert.equal(await has(member), false);
      // public flavors have no access list
      assertFault(
        await nova('get', '/flavors/1/os-flavor-access'),
        404,
        'itemNotFound',
        /Access list not available for public flavors/,
      );
      assertFault(
        await nova('post', '/flavors/1/action', '2.7').send({ addTenantAccess: { tenant: projectA } }),
        409,
        'conflictingRequest',
        /public flavor/,
      );
      // before 2.7 Nova adds the row to no effect, and the flavor stays public
      const legacy = await nova('post', '/flavors/1/action', '2.6').send({
        addTenantAccess: { tenant: projectB },
      });
      assert.equal(legacy.status, 200, JSON.stringify(legacy.body));
      assert.equal(
        (await nova('get', '/flavors/1', '2.1', other).expect(200)).body.flavor['os-flavor-access:is_public'],
        true,
      );
      assertFault(
        await nova('post', '/flavors/nope/action').send({ addTenantAccess: { tenant: 'nosuchproject' } }),
        404,
        'itemNotFound',
      );
      assertFault(
        await nova('post', '/flavors/secret/action').send({ shareWith: { tenant: projectA } }),
        400,
        'badRequest',
      );
    });

    it('manages extra specs', async () => {
      await create({ name: 'specs', id: 'specs', ram: 64, vcpus: 1, disk: 0 });
      const set = await nova('post', '/flavors/specs/os-extra_specs')
        .send({ extra_specs: { 'hw:mem_page_size': 'large', 'quota:cpu_shares': 512 } })
        .expect(200);
      assert.deepEqual(set.body, { extra_specs: { 'hw:mem_page_size': 'large', 'quota:cpu_shares': '512' } });
      assert.deepEqual(
        (await nova('get', '/flavors/specs/os-extra_specs', '2.1', member).expect(200)).body.extra_specs,
        {
          'hw:mem_page_size': 'large',
          'quota:cpu_shares': '512',
        },
      );
      assert.deepEqual(
        (await nova('get', '/flavors/specs/os-extra_specs/hw:mem_page_size').expect(200)).body,
        { 'hw:mem_page_size': 'large' },
      );
      assert.deepEqual(
        (
          await nova('put', '/flavors/specs/os-extra_specs/hw:mem_page_size')
            .send({ 'hw:mem_page_size': 'small' })
            .expect(200)
        ).body,
        {
          'hw:mem_page_size': 'small',
        },
      );
      assertFault(
        await nova('put', '/flavors/specs/os-extra_specs/hw:mem_page_size').send({ 'hw:other': 'x' }),
        400,
        'badRequest',
        /mismatch/,
      );
      assertFault(
        await nova('put', '/flavors/specs/os-extra_specs/a').send({ a: '1', b: '2' }),
        400,
        'badRequest',
      );
      assertFault(
        await nova('post', '/flavors/specs/os-extra_specs').send({ extra_specs: { 'bad/key': 'x' } }),
        400,
        'badRequest',
      );
      assertFault(
        await nova('post', '/flavors/specs/os-extra_specs').send({ extra_specs: { k: 'x'.repeat(256) } }),
        400,
        'badRequest',
      );
      assertFault(
        await nova('post', '/flavors/specs/os-extra_specs', '2.1', member).send({ extra_specs: { a: 'b' } }),
        403,
        'forbidden',
      );
      await nova('delete', '/flavors/specs/os-extra_specs/hw:mem_page_size').expect(200);
      assertFault(
        await nova('delete', '/flavors/specs/os-extra_specs/hw:mem_page_size'),
        404,
        'itemNotFound',
        /has no extra specs with key hw:mem_page_size/,
      );
      assertFault(await nova('get', '/flavors/specs/os-extra_specs/hw:mem_page_size'), 404, 'itemNotFound');
      assertFault(
        await nova('get', '/flavors/nope/os-extra_specs'),
        404,
        'itemNotFound',
        /Flavor nope could not be found/,
      );
    });

    it('updates the description from 2.55 and deletes with 202', async () => {
      await create({ name: 'upd', id: 'upd', ram: 64, vcpus: 1, disk: 0 });
      assertFault(
        await nova('put', '/flavors/upd', '2.54').send({ flavor: { description: 'x' } }),
        400,
        'badRequest',
      );
      const res = await nova('put', '/flavors/upd', '2.55')
        .send({ flavor: { description: 'updated' } })
        .expect(200);
      assert.equal(res.body.flavor.description, 'updated');
      assertFault(
        await nova('put', '/flavors/upd', '2.55').send({ flavor: { name: 'renamed' } }),
        400,
        'badRequest',
      );
      assertFault(
        await nova('put', '/flavors/nope', '2.55').send({ flavor: { description: 'x' } }),
        404,
        'itemNotFound',
      );
      assertFault(await nova('delete', '/flavors/upd', '2.1', member), 403, 'forbidden');
      await nova('delete', '/flavors/upd').expect(202);
      assertFault(await nova('delete', '/flavors/upd'), 404, 'itemNotFound');
      assertFault(await nova('get', '/flavors/upd'), 404, 'itemNotFound');
      // the name and id can be used again
      await create({ name: 'upd', id: 'upd', ram: 64, vcpus: 1, disk: 0 });
    });

    it('settles concurrent creates of one name with one 200 and 409s', async () => {
      const results = await Promise.all(
        [0, 1, 2, 3].map((i) =>
          nova('post', '/flavors').send({
            flavor: { name: 'race', id: `race-${i}`, ram: 64, vcpus: 1, disk: 0 },
          }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.status).sort(),
        [200, 409, 409, 409],
        JSON.stringify(results.map((r) => r.body)),
      );
    });
  });
}
