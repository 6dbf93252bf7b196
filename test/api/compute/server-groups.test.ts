/**
 * Nova server groups: create per microversion (policies ≤ 2.63 with the soft ones from 2.15, policy + rules
 * from 2.64), the bodies (2.1, 2.13, 2.64), members (servers not deleted), list with all_projects and
 * limit/offset, other projects (403 as Nova's policy), bad input, the server_groups quota under concurrency,
 * and the functions the servers code calls (getGroupForBoot, addGroupMembers with its member quota).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuthContext } from '../../../src/common/context.js';
import { BadRequest, OverQuota } from '../../../src/common/errors.js';
import { addGroupMembers, getGroupForBoot } from '../../../src/compute/server-groups/service.js';
import { assertFault, golden } from '../../support/compute.js';
import { testBackends } from '../../support/databases.js';
import { insertServer, startSubresourceCloud, type SubresourceCloud } from '../../support/server-fixtures.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

for (const backend of testBackends()) {
  describe(`compute server groups [${backend}]`, () => {
    let c: SubresourceCloud;
    const create = (body: unknown, mv = '2.1', token?: string) =>
      c.nova('post', '/os-server-groups', mv, token ?? c.member).send(body as object);
    const auth = (projectId: string, roles = ['member']): AuthContext =>
      ({ userId: c.memberId, projectId, roles: roles.map((name) => ({ id: name, name })) }) as AuthContext;

    before(async () => {
      c = await startSubresourceCloud(backend);
    });
    after(async () => {
      await c.api.close();
    });

    it('creates with policies (2.1, 2.15) and policy + rules (2.64), with Nova’s bodies', async () => {
      const r1 = await create({ server_group: { name: 'web', policies: ['anti-affinity'] } });
      assert.equal(r1.status, 200, r1.text);
      assert.match(r1.body.server_group.id, UUID);
      assert.deepEqual(r1.body, {
        server_group: {
          id: r1.body.server_group.id,
          name: 'web',
          policies: ['anti-affinity'],
          members: [],
          metadata: {},
        },
      });
      golden('server-group-create@2.1', r1.body);
      const r13 = await c.nova('get', `/os-server-groups/${r1.body.server_group.id}`, '2.13').expect(200);
      assert.equal(r13.body.server_group.project_id, c.projectA);
      assert.equal(r13.body.server_group.user_id, c.memberId);
      golden('server-group-show@2.13', r13.body);
      assertFault(
        await create({ server_group: { name: 'soft', policies: ['soft-affinity'] } }, '2.14'),
        400,
        'badRequest',
        /policies/,
      );
      const soft = await create(
        { server_group: { name: 'soft', policies: ['soft-affinity'] } },
        '2.15',
      ).expect(200);
      assert.deepEqual(soft.body.server_group.policies, ['soft-affinity']);
      const r64 = await create(
        { server_group: { name: 'db', policy: 'anti-affinity', rules: { max_server_per_host: 3 } } },
        '2.64',
      ).expect(200);
      assert.deepEqual(r64.body, {
        server_group: {
          id: r64.body.server_group.id,
          name: 'db',
          policy: 'anti-affinity',
          rules: { max_server_per_host: 3 },
          members: [],
          project_id: c.projectA,
          user_id: c.memberId,
        },
      });
      golden('server-group-create@2.64', r64.body);
      // a 2.64 group read at 2.1 shows its policy as the one-item list
      const old = await c.nova('get', `/os-server-groups/${r64.body.server_group.id}`).expect(200);
      assert.deepEqual(old.body.server_group.policies, ['anti-affinity']);
      const str = await create(
        { server_group: { name: 'str', policy: 'anti-affinity', rules: { max_server_per_host: '2' } } },
        '2.64',
      ).expect(200);
      assert.deepEqual(str.body.server_group.rules, { max_server_per_host: 2 });
      const aff = await create({ server_group: { name: 'aff', policy: 'affinity' } }, '2.64').expect(200);
      assert.deepEqual(aff.body.server_group.rules, {});
      for (const g of [r1, soft, r64, str, aff])
        await c.nova('delete', `/os-server-groups/${g.body.server_group.id}`).expect(204);
    });

    it('refuses bad input with 400 and creates nothing', async () => {
      const bad: [unknown, string, RegExp][] = [
        [{ server_group: { name: 'x', policies: ['bogus'] } }, '2.1', /policies/],
        [{ server_group: { name: 'x', policies: ['affinity', 'anti-affinity'] } }, '2.1', /policies/],
        [{ server_group: { name: 'x', policies: [] } }, '2.1', /policies/],
        [{ server_group: { name: 'x' } }, '2.1', /'policies' is a required property/],
        [{ server_group: { policies: ['affinity'] } }, '2.1', /'name' is a required property/],
        [{ server_group: { name: ' x', policies: ['affinity'] } }, '2.1', /name/],
        [{ server_group: { name: 'x'.repeat(256), policies: ['affinity'] } }, '2.1', /name/],
        [{ server_group: { name: 'x', policies: ['affinity'], extra: 1 } }, '2.1', /'extra' was unexpected/],
        [
          { server_group: { name: 'x', policies: ['affinity'] } },
          '2.64',
          /'policy' is a required property|'policies' was unexpected/,
        ],
        [
          { server_group: { name: 'x', policy: 'affinity', rules: { max_server_per_host: 2 } } },
          '2.64',
          /^Only anti-affinity policy supports rules\.$/,
        ],
        [
          { server_group: { name: 'x', policy: 'anti-affinity', rules: { max_server_per_host: 0 } } },
          '2.64',
          /max_server_per_host/,
        ],
        [
          { server_group: { name: 'x', policy: 'anti-affinity', rules: { max_server_per_host: '0' } } },
          '2.64',
          /max_server_per_host/,
        ],
        [
          { server_group: { name: 'x', policy: 'anti-affinity', rules: { max_server_per_host: 'a' } } },
          '2.64',
          /max_server_per_host/,
        ],
        [
          { server_group: { name: 'x', policy: 'anti-affinity', rules: { other: 1 } } },
          '2.64',
          /'other' was unexpected/,
        ],
        [{ name: 'x' }, '2.1', /server_group/],
      ];
      for (const [body, mv, msg] of bad) assertFault(await create(body, mv), 400, 'badRequest', msg);
      const list = await c.nova('get', '/os-server-groups').expect(200);
      assert.deepEqual(list.body.server_groups, []);
    });

    it('shows members whose servers are not deleted; other projects get 403, unknown ids 404', async () => {
      const g = (await create({ server_group: { name: 'm', policies: ['affinity'] } }).expect(200)).body
        .server_group;
      const live = await insertServer(c.db, { projectId: c.projectA, userId: c.memberId });
      const gone = await insertServer(c.db, {
        projectId: c.projectA,
        userId: c.memberId,
        deletedAt: Date.now(),
      });
      await c.db('server_group_members').insert([
        { group_uuid: g.id, server_uuid: live },
        { group_uuid: g.id, server_uuid: gone },
      ]);
      const shown = await c.nova('get', `/os-server-groups/${g.id}`, '2.1', c.reader).expect(200);
      assert.deepEqual(shown.body.server_group.members, [live]);
      const listed = await c.nova('get', '/os-server-groups', '2.64', c.reader).expect(200);
      assert.deepEqual(
        listed.body.server_groups.map((x: { members: string[] }) => x.members),
        [[live]],
      );
      assertFault(
        await c.nova('get', `/os-server-groups/${g.id}`, '2.1', c.other),
        403,
        'forbidden',
        /os_compute_api:os-server-groups:show/,
      );
      assertFault(
        await c.nova('delete', `/os-server-groups/${g.id}`, '2.1', c.other),
        403,
        'forbidden',
        /os-server-groups:delete/,
      );
      assertFault(await c.nova('delete', `/os-server-groups/${g.id}`, '2.1', c.reader), 403, 'forbidden');
      assertFault(
        await create({ server_group: { name: 'r', policies: ['affinity'] } }, '2.1', c.reader),
        403,
        'forbidden',
        /os-server-groups:create/,
      );
      const missing = '00000000-0000-4000-8000-000000000000';
      assertFault(
        await c.nova('get', `/os-server-groups/${missing}`),
        404,
        'itemNotFound',
        new RegExp(`^Instance group ${missing} could not be found\\.$`),
      );
      assertFault(await c.nova('delete', `/os-server-groups/${missing}`), 404, 'itemNotFound');
      // the group goes with its memberships; the servers stay
      await c.nova('delete', `/os-server-groups/${g.id}`).expect(204);
      assertFault(await c.nova('get', `/os-server-groups/${g.id}`), 404, 'itemNotFound');
      assert.equal((await c.db('server_group_members').where({ group_uuid: g.id })).length, 0);
      assert.ok(await c.db('servers').where({ uuid: live }).first());
    });

    it('lists the own project’s groups; all_projects for admins only; limit and offset', async () => {
      const ids: string[] = [];
      for (const n of ['a1', 'a2', 'a3']) {
        ids.push(
          (await create({ server_group: { name: n, policies: ['affinity'] } }).expect(200)).body.server_group
            .id,
        );
        await new Promise((r) => setTimeout(r, 5)); // distinct creation times: the list is oldest first
      }
      const theirs = (
        await create({ server_group: { name: 'b1', policies: ['affinity'] } }, '2.1', c.other).expect(200)
      ).body.server_group.id;
      const names = (res: { body: { server_groups: { name: string }[] } }) =>
        res.body.server_groups.map((g) => g.name);
      assert.deepEqual(names(await c.nova('get', '/os-server-groups').expect(200)), ['a1', 'a2', 'a3']);
      // all_projects is ignored for others, as Nova
      assert.deepEqual(names(await c.nova('get', '/os-server-groups?all_projects=True').expect(200)), [
        'a1',
        'a2',
        'a3',
      ]);
      assert.deepEqual(names(await c.nova('get', '/os-server-groups', '2.1', c.other).expect(200)), ['b1']);
      const all = await c.nova('get', '/os-server-groups?all_projects=True', '2.13', c.admin).expect(200);
      assert.deepEqual(names(all), ['a1', 'a2', 'a3', 'b1']);
      assert.equal(all.body.server_groups[3].project_id, c.projectB);
      const mine = await c.nova('get', '/os-server-groups', '2.1', c.admin).expect(200);
      assert.deepEqual(names(mine), [], 'without all_projects an admin sees its own project');
      assert.deepEqual(names(await c.nova('get', '/os-server-groups?limit=2').expect(200)), ['a1', 'a2']);
      assert.deepEqual(names(await c.nova('get', '/os-server-groups?limit=2&offset=2').expect(200)), ['a3']);
      assert.deepEqual(names(await c.nova('get', '/os-server-groups?limit=0&offset=1').expect(200)), [
        'a2',
        'a3',
      ]);
      assert.deepEqual(names(await c.nova('get', '/os-server-groups?offset=9').expect(200)), []);
      assertFault(
        await c.nova('get', '/os-server-groups?limit=-1'),
        400,
        'badRequest',
        /query parameters limit/,
      );
      assertFault(
        await c.nova('get', '/os-server-groups?offset=x'),
        400,
        'badRequest',
        /query parameters offset/,
      );
      await c.nova('get', '/os-server-groups?foo=1', '2.74').expect(200);
      assertFault(
        await c.nova('get', '/os-server-groups?foo=1', '2.75'),
        400,
        'badRequest',
        /'foo' was unexpected/,
      );
      for (const id of ids) await c.nova('delete', `/os-server-groups/${id}`).expect(204);
      await c.nova('delete', `/os-server-groups/${theirs}`, '2.1', c.admin).expect(204);
    });

    it('enforces quota_server_groups: 5 racing creates with a quota of 3 leave exactly 3', async () => {
      await c
        .nova('put', `/os-quota-sets/${c.projectA}`, '2.1', c.admin)
        .send({ quota_set: { server_groups: 3 } })
        .expect(200);
      const res = await Promise.all(
        [1, 2, 3, 4, 5].map((i) => create({ server_group: { name: `q${i}`, policies: ['affinity'] } })),
      );
      const statuses = res.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 200, 200, 403, 403], res.map((r) => r.text).join('\n'));
      for (const r of res.filter((x) => x.status === 403))
        assertFault(r, 403, 'forbidden', /^Quota exceeded, too many server groups\.$/);
      assert.equal((await c.db('server_groups').where({ project_id: c.projectA })).length, 3);
      const list = await c.nova('get', '/os-server-groups').expect(200);
      assert.equal(list.body.server_groups.length, 3);
      // a delete frees a slot
      await c.nova('delete', `/os-server-groups/${list.body.server_groups[0].id}`).expect(204);
      await create({ server_group: { name: 'again', policies: ['affinity'] } }).expect(200);
      assertFault(await create({ server_group: { name: 'over', policies: ['affinity'] } }), 403, 'forbidden');
      await c.db('server_groups').where({ project_id: c.projectA }).delete();
      await c.nova('delete', `/os-quota-sets/${c.projectA}`, '2.1', c.admin).expect(202);
    });

    it('getGroupForBoot and addGroupMembers: 400 for another project’s group, the member quota', async () => {
      const g = (
        await create({ server_group: { name: 'boot', policies: ['anti-affinity'] } }, '2.1').expect(200)
      ).body.server_group;
      const found = await getGroupForBoot(c.db, auth(c.projectA), g.id);
      assert.deepEqual(found, { uuid: g.id, policy: 'anti-affinity', rules: {} });
      await assert.rejects(
        getGroupForBoot(c.db, auth(c.projectB), g.id),
        (err: unknown) =>
          err instanceof BadRequest && err.message === `Instance group ${g.id} could not be found.`,
      );
      assert.equal((await getGroupForBoot(c.db, auth(c.projectB, ['admin']), g.id)).uuid, g.id);
      const missing = '00000000-0000-4000-8000-000000000001';
      await assert.rejects(getGroupForBoot(c.db, auth(c.projectA), missing), BadRequest);

      const cfg = c.api.service.deps.config;
      await c
        .nova('put', `/os-quota-sets/${c.projectA}`, '2.1', c.admin)
        .send({ quota_set: { server_group_members: 2 } })
        .expect(200);
      const vm = () => insertServer(c.db, { projectId: c.projectA, userId: c.memberId });
      const [a, b, d] = [await vm(), await vm(), await vm()];
      await c.db.transaction((trx) => addGroupMembers(trx, cfg, g.id, [a]));
      await assert.rejects(
        c.db.transaction((trx) => addGroupMembers(trx, cfg, g.id, [b, d])),
        (err: unknown) =>
          err instanceof OverQuota &&
          err.status === 403 &&
          err.message === 'Quota exceeded, too many servers in group',
      );
      assert.equal(
        (await c.db('server_group_members').where({ group_uuid: g.id })).length,
        1,
        'nothing half-added',
      );
      await c.db.transaction((trx) => addGroupMembers(trx, cfg, g.id, [b]));
      // a deleted member frees its slot
      await c.db('servers').where({ uuid: a }).update({ deleted_at: Date.now() });
      await c.db.transaction((trx) => addGroupMembers(trx, cfg, g.id, [d]));
      const shown = await c.nova('get', `/os-server-groups/${g.id}`).expect(200);
      assert.deepEqual([...shown.body.server_group.members].sort(), [b, d].sort());
      // two racing boots into a full-but-one group: exactly one gets the slot
      await c
        .nova('put', `/os-quota-sets/${c.projectA}`, '2.1', c.admin)
        .send({ quota_set: { server_group_members: 3 } })
        .expect(200);
      const [e, f] = [await vm(), await vm()];
      const results = await Promise.allSettled(
        [e, f].map((s) => c.db.transaction((trx) => addGroupMembers(trx, cfg, g.id, [s]))),
      );
      assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      await assert.rejects(
        c.db.transaction((trx) => addGroupMembers(trx, cfg, missing, [e])),
        BadRequest,
      );
    });
  });
}
