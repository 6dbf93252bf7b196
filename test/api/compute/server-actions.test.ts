/**
 * Nova instance actions: the recording API the tasks call (idempotent actions and events, 'Error' marking
 * the action), the list (newest first; 2.58 paging, updated_at and changes-since; 2.66 changes-before) and
 * the show (events for admins, for owners from 2.51 without traceback; host and hostId from 2.62), and the
 * actions of deleted servers from 2.21.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { novaHostId } from '../../../src/compute/servers/instance-actions/host-id.js';
import {
  finishEvent,
  recordAction,
  startEvent,
} from '../../../src/compute/servers/instance-actions/record.js';
import { assertFault, golden } from '../../support/compute.js';
import { testBackends } from '../../support/databases.js';
import { insertServer, startSubresourceCloud, type SubresourceCloud } from '../../support/server-fixtures.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '000');

for (const backend of testBackends()) {
  describe(`compute instance actions [${backend}]`, () => {
    let c: SubresourceCloud;
    let vm: string;

    before(async () => {
      c = await startSubresourceCloud(backend);
      vm = await insertServer(c.db, { projectId: c.projectA });
      const a = { serverUuid: vm, projectId: c.projectA, userId: c.memberId };
      const create = await recordAction(c.db, { ...a, requestId: 'req-create', action: 'create', now: T0 });
      await startEvent(c.db, create, 'compute__do_build_and_run_instance', 'host1', T0 + 100);
      await finishEvent(c.db, create, 'compute__do_build_and_run_instance', 'Success', T0 + 900);
      const stop = await recordAction(c.db, { ...a, requestId: 'req-stop', action: 'stop', now: T0 + 5000 });
      await startEvent(c.db, stop, 'compute_stop_instance', 'host1', T0 + 5100);
      await finishEvent(c.db, stop, 'compute_stop_instance', 'Error', T0 + 5200, 'Traceback: boom');
      const start = await recordAction(c.db, {
        ...a,
        requestId: 'req-start',
        action: 'start',
        now: T0 + 9000,
      });
      await startEvent(c.db, start, 'compute_start_instance', null, T0 + 9001);
    });
    after(() => c.api.close());

    it('records idempotently', async () => {
      const s = await insertServer(c.db, { projectId: c.projectA });
      const a = { serverUuid: s, projectId: c.projectA, userId: 'u', requestId: 'req-1', action: 'reboot' };
      const id = await recordAction(c.db, { ...a, now: T0 });
      assert.equal(await recordAction(c.db, { ...a, now: T0 + 1 }), id);
      const ids = await Promise.all(
        [1, 2, 3].map((i) => recordAction(c.db, { ...a, requestId: 'req-2', now: T0 + i })),
      );
      assert.equal(new Set(ids).size, 1, 'racing records of one request: one action');
      await startEvent(c.db, id, 'ev', null, T0 + 10);
      await startEvent(c.db, id, 'ev', 'host9', T0 + 20); // a retried step: same event, host learnt
      await finishEvent(c.db, id, 'ev', 'Success', T0 + 30);
      await finishEvent(c.db, id, 'ev', 'Success', T0 + 30);
      await finishEvent(c.db, id, 'never-started', 'Error', T0 + 40, 'tb');
      const events = await c.db('instance_action_events').where({ action_id: id }).orderBy('event');
      assert.deepEqual(
        events.map((e) => [
          e.event,
          e.host,
          Number(e.start_time),
          Number(e.finish_time),
          e.result,
          e.traceback,
        ]),
        [
          ['ev', 'host9', T0 + 10, T0 + 30, 'Success', null],
          ['never-started', null, T0 + 40, T0 + 40, 'Error', 'tb'],
        ],
      );
      const row = await c.db('instance_actions').where({ id }).first();
      assert.equal(row.message, 'Error');
      assert.equal(Number(row.updated_at), T0 + 40);
      assert.equal(Number(row.start_time), T0);
    });

    it('lists newest first; updated_at from 2.58', async () => {
      let res = await c.nova('get', `/servers/${vm}/os-instance-actions?whatever=1`);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(
        res.body.instanceActions.map((a: { request_id: string }) => a.request_id),
        ['req-start', 'req-stop', 'req-create'],
      );
      assert.deepEqual(res.body.instanceActions[1], {
        action: 'stop',
        instance_uuid: vm,
        request_id: 'req-stop',
        user_id: c.memberId,
        project_id: c.projectA,
        start_time: iso(T0 + 5000),
        message: 'Error',
      });
      assert.equal(res.body.links, undefined);
      golden('server-actions-list@2.1', res.body);
      res = await c.nova('get', `/servers/${vm}/os-instance-actions`, '2.58');
      assert.equal(res.body.instanceActions[1].updated_at, iso(T0 + 5200));
      assert.equal(res.body.instanceActions[0].updated_at, iso(T0 + 9001));
      golden('server-actions-list@2.58', res.body);
    });

    it('pages with limit and marker from 2.58', async () => {
      let res = await c.nova('get', `/servers/${vm}/os-instance-actions?limit=2`, '2.58');
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(
        res.body.instanceActions.map((a: { request_id: string }) => a.request_id),
        ['req-start', 'req-stop'],
      );
      assert.equal(res.body.links.length, 1);
      assert.equal(res.body.links[0].rel, 'next');
      const next = new URL(res.body.links[0].href);
      assert.equal(next.pathname, `/compute/v2.1/servers/${vm}/os-instance-actions`);
      assert.equal(next.searchParams.get('marker'), 'req-stop');
      golden('server-actions-list-limit@2.58', res.body);
      res = await c.nova('get', `/servers/${vm}/os-instance-actions${next.search}`, '2.58');
      assert.deepEqual(
        res.body.instanceActions.map((a: { request_id: string }) => a.request_id),
        ['req-create'],
      );
      assert.equal(res.body.links, undefined);
      res = await c.nova('get', `/servers/${vm}/os-instance-actions?limit=0`, '2.58');
      assert.deepEqual(res.body, { instanceActions: [] });
      assertFault(
        await c.nova('get', `/servers/${vm}/os-instance-actions?marker=nope`, '2.58'),
        400,
        'badRequest',
        /^Marker nope could not be found\.$/,
      );
      for (const q of [
        'limit=-1',
        'limit=x',
        'limit=1&limit=2',
        'foo=1',
        'changes-before=2026-01-01T00:00:00Z',
      ])
        assertFault(
          await c.nova('get', `/servers/${vm}/os-instance-actions?${q}`, '2.58'),
          400,
          'badRequest',
        );
    });

    it('filters by changes-since (2.58) and changes-before (2.66) on updated_at', async () => {
      const ids = async (q: string, mv: string) => {
        const res = await c.nova('get', `/servers/${vm}/os-instance-actions?${q}`, mv);
        assert.equal(res.status, 200, res.text);
        return res.body.instanceActions.map((a: { request_id: string }) => a.request_id);
      };
      const at = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
      assert.deepEqual(await ids(`changes-since=${at(T0 + 5200)}`, '2.58'), ['req-start', 'req-stop']);
      assert.deepEqual(await ids(`changes-before=${at(T0 + 5200)}`, '2.66'), ['req-stop', 'req-create']);
      assert.deepEqual(await ids(`changes-since=${at(T0 + 1000)}&changes-before=${at(T0 + 6000)}`, '2.66'), [
        'req-stop',
      ]);
      assert.deepEqual(await ids('changes-since=2026-01-01T00:00:05', '2.58'), ['req-start', 'req-stop']);
      assertFault(
        await c.nova(
          'get',
          `/servers/${vm}/os-instance-actions?changes-since=${at(T0 + 2)}&changes-before=${at(T0 + 1)}`,
          '2.66',
        ),
        400,
        'badRequest',
        /^The value of changes-since must be less than or equal to changes-before\.$/,
      );
      assertFault(
        await c.nova('get', `/servers/${vm}/os-instance-actions?changes-since=yesterday`, '2.58'),
        400,
        'badRequest',
        /is not a 'date-time'/,
      );
    });

    it('shows an action; events per role and microversion', async () => {
      const path = `/servers/${vm}/os-instance-actions/req-stop`;
      // owners: no events before 2.51
      let res = await c.nova('get', path, '2.50');
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.instanceAction.events, undefined);
      assert.equal(res.body.instanceAction.message, 'Error');
      res = await c.nova('get', path, '2.51');
      assert.deepEqual(res.body.instanceAction.events, [
        {
          event: 'compute_stop_instance',
          start_time: iso(T0 + 5100),
          finish_time: iso(T0 + 5200),
          result: 'Error',
        },
      ]);
      golden('server-actions-show-member@2.51', res.body);
      res = await c.nova('get', path, '2.62');
      const hostId = createHash('sha224').update(`${c.projectA}host1`).digest('hex');
      assert.equal(novaHostId(c.projectA, 'host1'), hostId);
      assert.deepEqual(Object.keys(res.body.instanceAction.events[0]).sort(), [
        'event',
        'finish_time',
        'hostId',
        'result',
        'start_time',
      ]);
      assert.equal(res.body.instanceAction.events[0].hostId, hostId);
      assert.equal(res.body.instanceAction.updated_at, iso(T0 + 5200));
      // admins: traceback at every version, host from 2.62
      res = await c.nova('get', path, '2.1', c.admin);
      assert.deepEqual(res.body.instanceAction.events[0].traceback, 'Traceback: boom');
      assert.equal(res.body.instanceAction.events[0].host, undefined);
      assert.equal(res.body.instanceAction.updated_at, undefined);
      golden('server-actions-show-admin@2.1', res.body);
      res = await c.nova('get', path, '2.62', c.admin);
      assert.equal(res.body.instanceAction.events[0].host, 'host1');
      assert.equal(res.body.instanceAction.events[0].hostId, hostId);
      golden('server-actions-show-admin@2.62', res.body);
      // an event without a host (not yet on one): hostId ''
      res = await c.nova('get', `/servers/${vm}/os-instance-actions/req-start`, '2.62', c.admin);
      assert.deepEqual(res.body.instanceAction.events[0], {
        event: 'compute_start_instance',
        start_time: iso(T0 + 9001),
        finish_time: null,
        result: null,
        traceback: null,
        host: null,
        hostId: '',
      });
      assertFault(
        await c.nova('get', `/servers/${vm}/os-instance-actions/req-nope`),
        404,
        'itemNotFound',
        /^Action req-nope not found$/,
      );
    });

    it('another project’s server is 404; a deleted server’s actions are readable from 2.21', async () => {
      assertFault(
        await c.nova('get', `/servers/${vm}/os-instance-actions`, '2.1', c.other),
        404,
        'itemNotFound',
      );
      assertFault(
        await c.nova('get', `/servers/${vm}/os-instance-actions/req-stop`, '2.1', c.other),
        404,
        'itemNotFound',
      );
      await c.nova('get', `/servers/${vm}/os-instance-actions`, '2.1', c.reader).expect(200);
      const gone = await insertServer(c.db, { projectId: c.projectA, deletedAt: T0 + 10 });
      await recordAction(c.db, {
        serverUuid: gone,
        projectId: c.projectA,
        userId: 'u',
        requestId: 'req-del',
        action: 'delete',
        now: T0,
      });
      const nf = new RegExp(`^Instance ${gone} could not be found\\.$`);
      assertFault(
        await c.nova('get', `/servers/${gone}/os-instance-actions`, '2.20'),
        404,
        'itemNotFound',
        nf,
      );
      let res = await c.nova('get', `/servers/${gone}/os-instance-actions`, '2.21');
      assert.deepEqual(
        res.body.instanceActions.map((a: { action: string }) => a.action),
        ['delete'],
      );
      res = await c.nova('get', `/servers/${gone}/os-instance-actions/req-del`, '2.21', c.admin);
      assert.equal(res.status, 200);
      assertFault(
        await c.nova('get', `/servers/${gone}/os-instance-actions`, '2.21', c.other),
        404,
        'itemNotFound',
      );
      assertFault(
        await c.nova('get', `/servers/${randomUUID()}/os-instance-actions`, '2.21'),
        404,
        'itemNotFound',
      );
    });
  });
}
