import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Knex } from 'knex';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';
import { assertNeutronError, client, count, neutronUsers, openDb, type NeutronUsers } from './helpers.js';

for (const backend of testBackends()) {
  describe(`Neutron lists, tags and quotas [${backend}]`, () => {
    let api: TestApi;
    let u: NeutronUsers;
    let db: Knex;
    let call: ReturnType<typeof client>;
    const ids: Record<string, string> = {};
    before(async () => {
      api = await startTestApi(backend);
      u = await neutronUsers(api, 'lst');
      db = openDb(api);
      call = client(api);
      for (const [name, extra] of [
        ['alpha', { admin_state_up: false }],
        ['bravo', {}],
        ['charlie', { mtu: 1400 }],
        ['delta', {}],
        ['echo', {}],
      ] as const) {
        const r = await call(u.a, 'post', '/networks', { network: { name, ...extra } });
        assert.equal(r.status, 201);
        ids[name] = r.body.network.id;
      }
    });
    after(async () => {
      await db.destroy();
      await api.close();
    });

    const names = (body: { networks: { name: string }[] }) => body.networks.map((n) => n.name);

    it('filters: repeated keys OR, booleans, integers, unknown keys ignored', async () => {
      const r = await call(u.a, 'get', '/networks?name=alpha&name=charlie&sort_key=name&sort_dir=asc');
      assert.deepEqual(names(r.body), ['alpha', 'charlie']);
      for (const v of ['False', 'false', '0'])
        assert.deepEqual(names((await call(u.a, 'get', `/networks?admin_state_up=${v}`)).body), ['alpha']);
      assertNeutronError(await call(u.a, 'get', '/networks?admin_state_up=maybe'), 400, 'HTTPBadRequest');
      assert.deepEqual(names((await call(u.a, 'get', '/networks?mtu=1400')).body), ['charlie']);
      assert.equal((await call(u.a, 'get', '/networks?bogus=1')).body.networks.length, 5);
      assert.equal((await call(u.a, 'get', `/networks?id=${ids.bravo}&name=bravo`)).body.networks.length, 1);
      assert.equal((await call(u.a, 'get', `/networks?id=${ids.bravo}&name=alpha`)).body.networks.length, 0);
    });

    it('fields= returns only the asked attributes (list and show)', async () => {
      const r = await call(u.a, 'get', '/networks?fields=name&fields=mtu&name=charlie');
      assert.deepEqual(r.body.networks, [{ name: 'charlie', mtu: 1400 }]);
      const s = await call(u.a, 'get', `/networks/${ids.alpha}?fields=id`);
      assert.deepEqual(s.body.network, { id: ids.alpha });
    });

    it('sorting and paging with next/previous links', async () => {
      const desc = await call(u.a, 'get', '/networks?sort_key=name&sort_dir=desc');
      assert.deepEqual(names(desc.body), ['echo', 'delta', 'charlie', 'bravo', 'alpha']);
      assertNeutronError(await call(u.a, 'get', '/networks?sort_key=name'), 400, 'HTTPBadRequest');
      assertNeutronError(
        await call(u.a, 'get', '/networks?sort_key=bogus&sort_dir=asc'),
        400,
        'HTTPBadRequest',
      );
      assertNeutronError(await call(u.a, 'get', '/networks?limit=-1'), 400, 'BadRequest');
      const p1 = await call(u.a, 'get', '/networks?sort_key=name&sort_dir=asc&limit=2');
      assert.deepEqual(names(p1.body), ['alpha', 'bravo']);
      const next = p1.body.networks_links.find((l: { rel: string }) => l.rel === 'next');
      assert.ok(next, JSON.stringify(p1.body.networks_links));
      const nextUrl = new URL(next.href);
      assert.equal(nextUrl.searchParams.get('marker'), ids.bravo);
      const p2 = await api.http.get(nextUrl.pathname + nextUrl.search).set('X-Auth-Token', u.a);
      assert.deepEqual(names(p2.body), ['charlie', 'delta']);
      const p3 = await call(u.a, 'get', `/networks?sort_key=name&sort_dir=asc&limit=2&marker=${ids.delta}`);
      assert.deepEqual(names(p3.body), ['echo']);
      assert.ok(
        !p3.body.networks_links.some((l: { rel: string }) => l.rel === 'next'),
        'last page has no next link',
      );
      const prev = await call(
        u.a,
        'get',
        `/networks?sort_key=name&sort_dir=asc&limit=2&marker=${ids.delta}&page_reverse=True`,
      );
      assert.deepEqual(names(prev.body), ['bravo', 'charlie']);
      assertNeutronError(await call(u.a, 'get', '/networks?limit=2&marker=nope'), 404, 'NetworkNotFound');
      assert.ok(!('networks_links' in (await call(u.a, 'get', '/networks')).body));
    });

    it('tags API and tag filters; tag changes bump the revision', async () => {
      const base = `/networks/${ids.alpha}/tags`;
      const put = await call(u.a, 'put', base, { tags: ['red', 'blue'] });
      assert.equal(put.status, 200);
      assert.deepEqual(put.body.tags, ['blue', 'red']);
      assert.equal((await call(u.a, 'put', `${base}/green`)).status, 201);
      assert.equal((await call(u.a, 'get', `${base}/green`)).status, 204);
      assertNeutronError(await call(u.a, 'get', `${base}/nope`), 404, 'TagNotFound');
      await call(u.a, 'put', `/networks/${ids.bravo}/tags`, { tags: ['red'] }).expect(200);
      assert.deepEqual((await call(u.a, 'get', base)).body.tags, ['blue', 'green', 'red']);
      const net = (await call(u.a, 'get', `/networks/${ids.alpha}`)).body.network;
      assert.deepEqual(net.tags, ['blue', 'green', 'red']);
      assert.equal(net.revision_number, 2);
      const q = async (qs: string) =>
        names((await call(u.a, 'get', `/networks?sort_key=name&sort_dir=asc&${qs}`)).body);
      assert.deepEqual(await q('tags=red,blue'), ['alpha']);
      assert.deepEqual(await q('tags-any=red,blue'), ['alpha', 'bravo']);
      assert.deepEqual(await q('not-tags=red,blue'), ['bravo', 'charlie', 'delta', 'echo']);
      assert.deepEqual(await q('not-tags-any=red'), ['charlie', 'delta', 'echo']);
      assert.equal((await call(u.a, 'delete', `${base}/green`)).status, 204);
      assertNeutronError(await call(u.a, 'delete', `${base}/green`), 404, 'TagNotFound');
      assertNeutronError(await call(u.b, 'get', base), 404, 'NetworkNotFound');
      assertNeutronError(await call(u.b, 'put', base, { tags: ['x'] }), 404, 'NetworkNotFound');
      assertNeutronError(await call(u.a, 'put', base, { tags: 'x' }), 400, 'InvalidInput');
      assertNeutronError(await call(u.a, 'put', base, { tags: ['a', 'a'] }), 400, 'InvalidInput');
      assertNeutronError(
        await call(u.a, 'put', base, { tags: Array.from({ length: 51 }, (_, i) => `t${i}`) }),
        400,
        'BadRequest',
      );
      assert.deepEqual(
        (await call(u.a, 'get', base)).body.tags,
        ['blue', 'red'],
        'refused changes leave the tags',
      );
      assert.equal((await call(u.a, 'delete', base)).status, 204);
      assert.equal(await count(db, 'neutron_tags', { resource_id: ids.alpha }), 0);
      const tagged = await call(u.a, 'post', '/networks', { network: { name: 'tagged', tags: ['x', 'y'] } });
      assert.deepEqual(tagged.body.network.tags, ['x', 'y']);
      await call(u.a, 'delete', `/networks/${tagged.body.network.id}`).expect(204);
      assert.equal(await count(db, 'neutron_tags', { resource_id: tagged.body.network.id }), 0);
    });

    it('quotas: defaults, details, admin-only updates, 409 OverQuota on create', async () => {
      const own = await call(u.b, 'get', `/quotas/${u.projectB}`);
      assert.deepEqual(own.body.quota, {
        network: 100,
        subnet: 100,
        port: 500,
        router: 10,
        floatingip: 50,
        security_group: 10,
        security_group_rule: 100,
      });
      assertNeutronError(await call(u.b, 'get', `/quotas/${u.projectA}`), 403, 'HTTPForbidden');
      assertNeutronError(
        await call(u.b, 'put', `/quotas/${u.projectB}`, { quota: { network: 1 } }),
        403,
        'HTTPForbidden',
      );
      assertNeutronError(
        await call(u.admin, 'put', `/quotas/${u.projectB}`, { quota: { network: -2 } }),
        400,
        'HTTPBadRequest',
      );
      assertNeutronError(
        await call(u.admin, 'put', `/quotas/${u.projectB}`, { quota: { widgets: 1 } }),
        400,
        'HTTPBadRequest',
      );
      const set = await call(u.admin, 'put', `/quotas/${u.projectB}`, { quota: { network: 2, subnet: '7' } });
      assert.equal(set.status, 200);
      assert.equal(set.body.quota.network, 2);
      assert.equal(set.body.quota.subnet, 7);
      const made = await Promise.all(
        [0, 1, 2, 3].map(() => call(u.b, 'post', '/networks', { network: { name: 'q' } })),
      );
      assert.equal(made.filter((r) => r.status === 201).length, 2, JSON.stringify(made.map((r) => r.status)));
      for (const r of made.filter((x) => x.status !== 201))
        assertNeutronError(r, 409, 'OverQuota', /Quota exceeded for resources: \['network'\]/);
      assert.equal(await count(db, 'networks', { project_id: u.projectB }), 2);
      const details = await call(u.b, 'get', `/quotas/${u.projectB}/details`);
      assert.deepEqual(details.body.quota.network, { limit: 2, used: 2, reserved: 0 });
      assert.equal((await call(u.b, 'get', `/quotas/${u.projectB}/default`)).body.quota.network, 100);
      const list = await call(u.admin, 'get', '/quotas');
      assert.deepEqual(
        list.body.quotas.map((q: { project_id: string }) => q.project_id),
        [u.projectB],
      );
      assert.equal((await call(u.admin, 'delete', `/quotas/${u.projectB}`)).status, 204);
      assert.equal((await call(u.b, 'get', `/quotas/${u.projectB}`)).body.quota.network, 100);
    });
  });
}
