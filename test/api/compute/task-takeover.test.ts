/**
 * Durable tasks across API processes (design §3), for real: two API processes over one MariaDB, a batch boot
 * sent to process A, and A killed with SIGKILL while its boots are in flight. Process B takes the orphaned
 * tasks over and every server ends ACTIVE (or cleanly ERROR): none stuck in BUILD, no domain on a host
 * without its server, no server with two domains, no claim without a server.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeDriver } from '../../../host-agent/driver/fake.js';
import { CLI_MAIN } from '../../../tools/cli/daemons.js';
import { testBackends } from '../../support/databases.js';
import { freePort } from '../../e2e/support.js';
import { sleep, startComputeCloud, until, type ComputeCloud } from '../../support/compute.js';

/** Each start takes a while, so that the batch is still booting when process A dies. */
class SlowStartDriver extends FakeDriver {
  override async start(uuid: string): Promise<void> {
    await sleep(1500);
    return super.start(uuid);
  }
}

const TAKEOVER_S = 3;

if (testBackends().includes('mariadb')) {
  describe('a batch boot survives the death of the API process running it [mariadb]', () => {
    let cloud: ComputeCloud;
    let a: ChildProcess | null = null;
    let aUrl = '';
    let aLog = '';

    before(async () => {
      cloud = await startComputeCloud('mariadb', {
        hosts: 3,
        driver: (name, cluster) => new SlowStartDriver(name, cluster),
        overrides: { 'compute.task_takeover_after': TAKEOVER_S },
      });
      // process A: `kvmstack api` over the same database and signing keys
      const dir = mkdtempSync(join(tmpdir(), 'kvmstack-api-a-'));
      const port = await freePort();
      aUrl = `http://127.0.0.1:${port}`;
      aLog = join(dir, 'api.log');
      const conf = join(dir, 'kvmstack.conf');
      writeFileSync(
        conf,
        [
          '[DEFAULT]',
          `data_dir = ${dir}`,
          `log_file = ${aLog}`,
          '[api]',
          'listen = 127.0.0.1',
          `port = ${port}`,
          `public_url = ${aUrl}`,
          '[database]',
          `connection = ${cloud.api.databaseUrl}`,
          '[token]',
          `key_repository = ${join(cloud.api.dataDir, 'jws-keys')}`,
          '[image]',
          `store_dir = ${cloud.store}`,
          'store_name = shared',
          '[compute]',
          `task_takeover_after = ${TAKEOVER_S}`,
          '',
        ].join('\n'),
      );
      a = spawn(process.execPath, [CLI_MAIN, '--config', conf, 'api'], { stdio: 'ignore' });
      await until(
        'process A answers',
        async () => (await fetch(`${aUrl}/healthcheck`).catch(() => null))?.ok === true,
      );
    });
    after(async () => {
      if (a && a.exitCode === null) a.kill('SIGKILL');
      await cloud?.close();
    });

    it('A dies with SIGKILL mid-batch; B finishes every boot, and nothing is left half-made', async () => {
      const res = await fetch(`${aUrl}/compute/v2.1/servers`, {
        method: 'POST',
        headers: { 'X-Auth-Token': cloud.admin, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          server: {
            name: 'survivor',
            imageRef: cloud.imageId,
            flavorRef: cloud.flavors.tiny,
            networks: [{ uuid: cloud.networkId }],
            min_count: 6,
            max_count: 6,
          },
        }),
      });
      assert.equal(res.status, 202, await res.text());
      const db = cloud.api.service.deps.db;
      const aPid = a?.pid as number;
      // A has boots in flight: some of its tasks are at the start step (their agents are starting the domains)
      await until(
        'A is starting domains',
        async () =>
          Number(
            (
              await db('tasks')
                .where('owner', 'like', `%:${aPid}:%`)
                .where({ step: 'start', state: 'running' })
                .count({ n: '*' })
            )[0].n,
          ) > 0,
        10_000,
      );
      a?.kill('SIGKILL');
      const killedAt = Date.now();

      const servers = async () =>
        db('servers').where('name', 'like', 'survivor-%').select('uuid', 'vm_state', 'task_state');
      await until(
        'every server ACTIVE or ERROR',
        async () =>
          (await servers()).every(
            (s) => ['active', 'error'].includes(String(s.vm_state)) && s.task_state === null,
          ),
        60_000,
      );
      const took = Date.now() - killedAt;
      const rows = await servers();
      assert.equal(rows.length, 6);
      const tasksOf = () =>
        db('tasks').whereIn(
          'server_uuid',
          rows.map((r) => r.uuid),
        );
      // a server turns ACTIVE inside the task's last step; the task row records `done` just after it
      await until(
        'every task ended',
        async () => (await tasksOf()).every((t) => t.state !== 'pending' && t.state !== 'running'),
        10_000,
      );
      const tasks = await tasksOf();
      assert.ok(
        tasks.every((t) => t.state === 'done' || t.state === 'failed'),
        JSON.stringify(tasks),
      );
      const takenOver = tasks.filter((t) => Number(t.attempts) > 1);
      assert.ok(takenOver.length > 0, 'some boots were taken over from the dead process');
      assert.ok(took >= TAKEOVER_S * 1000, 'the orphans waited for the takeover period');
      for (const s of rows) {
        const holders = cloud.drivers.filter((d) => d.specOf(String(s.uuid)) !== undefined);
        const claim = await db('instances').where({ uuid: s.uuid }).first();
        if (s.vm_state === 'active') {
          assert.equal(holders.length, 1, `server ${s.uuid} has exactly one domain`);
          assert.equal((await holders[0].getDomain(String(s.uuid)))?.state, 'running');
          assert.ok(claim, 'an ACTIVE server keeps its claim');
        } else {
          assert.equal(holders.length, 0, `ERROR server ${s.uuid} left no domain`);
          assert.equal(claim, undefined, 'and no claim');
        }
      }
      const active = rows.filter((r) => r.vm_state === 'active').length;
      console.log(
        `takeover: ${takenOver.length} task(s) resumed by B, ${active}/6 ACTIVE, all settled ${took} ms after the kill`,
      );
      assert.equal(
        active,
        6,
        `all boots finish after the takeover; API A log:\n${readFileSync(aLog, 'utf8').slice(-2000)}`,
      );
    });
  });
}
