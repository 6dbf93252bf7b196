/**
 * Durable tasks (design §3) on both databases, with injected clocks: steps run in order and their payload
 * survives; a failing step runs the revert once; a task whose owner stopped heart-beating is taken over from
 * the step it was at by another runner, and the old owner can no longer write to it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { Knex } from 'knex';
import { loadConfig } from '../../../src/common/config/load.js';
import { openDatabase } from '../../../src/db/connection.js';
import { migrateLatest } from '../../../src/db/migrate.js';
import { TaskRunner, type TaskDefinition } from '../../../src/compute/tasks/runner.js';
import { createTestDatabase, testBackends, type TestDatabase } from '../../support/databases.js';

const config = loadConfig({ env: {}, file: undefined, overrides: { 'compute.task_takeover_after': 60 } });
const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface P {
  seen: string[];
}

for (const backend of testBackends()) {
  describe(`task runner [${backend}]`, () => {
    let database: TestDatabase;
    let db: Knex;
    before(async () => {
      database = await createTestDatabase(backend);
      db = openDatabase(database.url);
      await migrateLatest(db);
    });
    after(async () => {
      await db.destroy();
      await database.drop();
    });

    const state = async (id: string) => (await db('tasks').where({ id }).first()) as Record<string, unknown>;

    it('runs the steps in order, saving the payload after each; a failure reverts once and marks it failed', async () => {
      const failures: string[] = [];
      const def: TaskDefinition<P> = {
        kind: 'demo',
        steps: {
          one: async (c) => (c.payload.seen.push('one'), 'two'),
          two: async (c) => (c.payload.seen.push('two'), 'done'),
          boom: async () => {
            throw new Error('kaput');
          },
        },
        fail: async (c, err) => void failures.push(`${c.task.step}:${err.message}`),
      };
      const runner = new TaskRunner({ db, config, log, now: Date.now });
      runner.register(def);
      const ok = await TaskRunner.create(db, {
        kind: 'demo',
        serverUuid: 's1',
        step: 'one',
        payload: { seen: [] },
        now: Date.now(),
      });
      const bad = await TaskRunner.create(db, {
        kind: 'demo',
        serverUuid: 's2',
        step: 'boom',
        payload: { seen: [] },
        now: Date.now(),
      });
      runner.kick([ok, bad]);
      await sleep(20);
      await runner.settled(ok);
      await runner.settled(bad);
      const done = await state(ok);
      assert.equal(done.state, 'done');
      assert.deepEqual(JSON.parse(String(done.payload)).seen, ['one', 'two']);
      const failed = await state(bad);
      assert.equal(failed.state, 'failed');
      assert.equal(failed.error, 'kaput');
      assert.deepEqual(failures, ['boom:kaput']);
      // a finished task is never claimed again
      runner.kick([ok]);
      await sleep(20);
      assert.equal((await state(ok)).attempts, 1);
      await runner.stop();
    });

    it('a task whose owner went silent is taken over at its step; the old owner loses the right to write', async () => {
      let release: () => void = () => undefined;
      const blocked = new Promise<void>((r) => (release = r));
      const ranBy: string[] = [];
      const mk = (who: string): TaskDefinition<P> => ({
        kind: 'slow',
        steps: {
          first: async (c) => (c.payload.seen.push(`first@${who}`), 'second'),
          second: async (c) => {
            ranBy.push(who);
            if (who === 'A') await blocked; // A hangs here, as a process would that froze
            c.payload.seen.push(`second@${who}`);
            return 'done';
          },
        },
        fail: async () => assert.fail('no revert on a takeover'),
      });
      const a = new TaskRunner({ db, config, log, now: Date.now });
      a.register(mk('A'));
      const id = await TaskRunner.create(db, {
        kind: 'slow',
        serverUuid: 's3',
        step: 'first',
        payload: { seen: [] },
        now: Date.now(),
      });
      a.kick([id]);
      await until(async () => (await state(id)).step === 'second' && ranBy.includes('A'));
      // B's clock is past the takeover period: A's heartbeat looks stale to B
      const b = new TaskRunner({ db, config, log, now: () => Date.now() + 61_000 });
      b.register(mk('B'));
      b.kick([id]);
      await sleep(20);
      await b.settled(id);
      const after = await state(id);
      assert.equal(after.state, 'done');
      assert.equal(after.owner, b.id);
      assert.deepEqual(
        JSON.parse(String(after.payload)).seen,
        ['first@A', 'second@B'],
        'B resumed at step two',
      );
      release();
      await a.settled(id);
      assert.equal((await state(id)).owner, b.id, "A's late write was refused");
      assert.deepEqual(JSON.parse(String((await state(id)).payload)).seen, ['first@A', 'second@B']);
      await a.stop();
      await b.stop();
    });
  });
}

async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}
