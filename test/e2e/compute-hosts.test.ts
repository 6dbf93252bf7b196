/**
 * The real clients on Nova's host APIs against `kvmstack up --api-only` with one enrolled (fake) host: the
 * openstack CLI (services at 2.69 through the SDK, hypervisors, zones, aggregates) and the nova CLI (2.13).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { exec, startKvmstack, type Kvmstack } from './support.js';

type Row = Record<string, unknown>;

describe(
  'openstack and nova CLIs: compute services, hypervisors, zones, aggregates',
  { timeout: 300_000 },
  () => {
    let cloud: Kvmstack;
    before(async () => {
      cloud = await startKvmstack();
      const secret = /enrollment_secret = (\S+)/.exec(readFileSync(cloud.configFile, 'utf8'))?.[1];
      assert.ok(secret, 'the config has an enrollment secret');
      const res = await fetch(`${cloud.localUrl}/kvmstack/v1/hosts/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          enrollment_secret: secret,
          hostname: 'e2e-host',
          host_uuid: '00000000-0000-4000-8000-0000000000e2',
          host_ip: '192.0.2.10',
          rpc_url: 'http://192.0.2.10:5100',
          inventory: {
            vcpus: 4,
            memoryMb: 8192,
            localDiskGb: 50,
            localDiskFreeGb: 40,
            hypervisorVersion: 7002000,
          },
        }),
      });
      assert.equal(res.status, 201);
    });
    after(() => cloud?.stop());

    it('compute service list/set, hypervisor list/show/stats, zones', async () => {
      const svcs = await cloud.run<Row[]>(['compute', 'service', 'list']);
      assert.deepEqual(
        svcs.map((s) => [s.Binary, s.Host]),
        [['nova-compute', 'e2e-host']],
      );
      await cloud.run([
        'compute',
        'service',
        'set',
        '--disable',
        '--disable-reason',
        'R',
        'e2e-host',
        'nova-compute',
      ]);
      let s = (await cloud.run<Row[]>(['compute', 'service', 'list', '--long']))[0];
      assert.equal(s.Status, 'disabled');
      assert.equal(s['Disabled Reason'], 'R');
      await cloud.run(['compute', 'service', 'set', '--enable', 'e2e-host', 'nova-compute']);
      await cloud.run(['compute', 'service', 'set', '--down', 'e2e-host', 'nova-compute']);
      s = (await cloud.run<Row[]>(['compute', 'service', 'list']))[0];
      assert.equal(s.Status, 'enabled');
      assert.equal(s.State, 'down');
      await cloud.run(['compute', 'service', 'set', '--up', 'e2e-host', 'nova-compute']);
      const hyps = await cloud.run<Row[]>(['hypervisor', 'list']);
      assert.equal(hyps[0]['Hypervisor Hostname'], 'e2e-host');
      const h = await cloud.run<Row>(['hypervisor', 'show', String(hyps[0].ID)]);
      assert.equal(h.host_ip, '192.0.2.10');
      const stats = await cloud.run<Row>(['hypervisor', 'stats', 'show']);
      assert.equal(Number(stats.vcpus), 4);
      const zones = await cloud.run<Row[]>(['availability', 'zone', 'list', '--compute']);
      assert.deepEqual(
        zones.map((z) => z['Zone Name']),
        ['nova'],
      );
    });

    it('aggregate create/add host/set/show/list/remove host/delete', async () => {
      const a = await cloud.run<Row>(['aggregate', 'create', '--zone', 'z1', 'agg1']);
      assert.equal(a.availability_zone, 'z1');
      await cloud.run(['aggregate', 'add', 'host', 'agg1', 'e2e-host']);
      await cloud.run(['aggregate', 'set', '--property', 'placement_policy=progressive', 'agg1']);
      const shown = await cloud.run<Row>(['aggregate', 'show', 'agg1']);
      assert.deepEqual(shown.hosts, ['e2e-host']);
      assert.match(JSON.stringify(shown.properties), /progressive/);
      const zones = await cloud.run<Row[]>(['availability', 'zone', 'list', '--compute', '--long']);
      assert.ok(zones.some((z) => z['Zone Name'] === 'z1' && z['Host Name'] === 'e2e-host'));
      assert.equal((await cloud.run<Row[]>(['aggregate', 'list'])).length, 1);
      await cloud.run(['aggregate', 'remove', 'host', 'agg1', 'e2e-host']);
      await cloud.run(['aggregate', 'delete', 'agg1']);
      assert.equal((await cloud.run<Row[]>(['aggregate', 'list'])).length, 0);
    });

    it('nova service-list, service-disable, hypervisor-list, availability-zone-list', async () => {
      const nova = async (args: string[]) => {
        const r = await exec('nova', args, { env: cloud.env, timeoutMs: 60_000 });
        assert.equal(r.code, 0, `nova ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      assert.match(await nova(['service-list']), /nova-compute.*e2e-host/);
      assert.match(await nova(['service-disable', 'e2e-host']), /disabled/);
      assert.match(await nova(['service-enable', 'e2e-host']), /enabled/);
      assert.match(await nova(['hypervisor-list']), /e2e-host/);
      assert.match(await nova(['availability-zone-list']), /nova/);
    });
  },
);
