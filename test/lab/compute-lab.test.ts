/**
 * Servers on the 3-host lab with the real clients: `openstack server create --wait` boots a real TCG guest on
 * the provider network, reachable by ping and HTTP at its port's address from the management network; the
 * power commands; batch creates spread by `performance` and stacked by `progressive` (an aggregate's policy);
 * an anti-affinity group of 3 on 3 hosts; the nova CLI unchanged.
 * Needs root, libvirt, QEMU and GlusterFS (tools/install-deps.sh). Run under `flock /tmp/kvmstack-lab.lock`.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { labDown, labHosts, type LabState } from '../../tools/lab/lab.js';
import { startAgent, stopAgent } from '../../tools/lab/services.js';
import { defaultStateDir, labPaths } from '../../tools/lab/topology.js';
import { exec, waitServerStatus, type CliServer, type Env } from '../e2e/support.js';
import { labUnavailable } from '../support/lab.js';
import { startComputeLab, waitAnswers } from '../support/lab-compute.js';

const STATE_DIR = defaultStateDir();
const unavailable = labUnavailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Server = CliServer;

describe('servers on the 3-host lab', { timeout: 900_000 }, () => {
  let state: LabState;
  let env: Env;
  let failed = false;
  const figures: Record<string, string> = {};

  let openstack: <T = unknown>(args: string[]) => Promise<T>;
  const nova = (args: string[]) =>
    exec('nova', args, { env: { ...env, OS_COMPUTE_API_VERSION: '2.1' }, timeoutMs: 180_000 });
  const show = (name: string) => openstack<Server>(['server', 'show', name]);
  const hostOf = async (name: string) => String((await show(name))['OS-EXT-SRV-ATTR:host']);
  const ipOf = async (name: string) => {
    const s = await show(name);
    const ip = /10\.99\.0\.\d+/.exec(JSON.stringify(s.addresses))?.[0];
    assert.ok(ip, `${name} has a provider address: ${JSON.stringify(s.addresses)}`);
    return ip;
  };

  const waitStatus = (name: string, want: string) => waitServerStatus(show, name, want, 180_000);

  async function answers(ip: string, name?: string, timeoutMs = 180_000): Promise<string> {
    const page = await waitAnswers(ip, timeoutMs);
    if (page !== null) return page;
    const who = name
      ? ` (${name} on ${await hostOf(name)}; console:\n${(await exec('openstack', ['console', 'log', 'show', '--lines', '15', name], { env })).stdout})`
      : '';
    throw new Error(`${ip} does not answer ping and HTTP${who}`);
  }

  /** Boots count servers in one request and waits for all of them; returns their names and hosts. */
  async function batch(prefix: string, count: number, extra: string[] = []): Promise<Map<string, string>> {
    const t0 = Date.now();
    await openstack([
      'server',
      'create',
      '--image',
      'tiny',
      '--flavor',
      'tiny',
      '--network',
      'provider',
      '--min',
      String(count),
      '--max',
      String(count),
      ...extra,
      prefix,
    ]);
    const names = Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
    for (const n of names) await waitStatus(n, 'ACTIVE');
    figures[`${prefix}: ${count} servers ACTIVE`] = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    const hosts = new Map<string, string>();
    for (const n of names) hosts.set(n, await hostOf(n));
    return hosts;
  }
  async function removeAll(names: string[]): Promise<void> {
    if (names.length) await openstack(['server', 'delete', '--wait', ...names]);
  }

  const tracked = (fn: () => Promise<void>) => async () => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  };

  before(async () => {
    if (unavailable) throw new Error(`the lab cannot run here: ${unavailable}`);
    ({ state, env, openstack } = await startComputeLab(STATE_DIR));
    // prints the private key whatever the format: only the exit status matters here
    const kp = await exec('openstack', ['keypair', 'create', 'k1'], { env });
    assert.equal(kp.code, 0, kp.stderr);
  });

  after(async () => {
    console.log(`figures: ${JSON.stringify(figures, null, 2)}`);
    if (failed && state) {
      for (const x of labHosts(STATE_DIR)) {
        const out = join(x.dir, 'agent', 'agent.out');
        if (existsSync(out))
          console.log(
            `--- ${x.name} agent.out\n${readFileSync(out, 'utf8').split('\n').slice(-20).join('\n')}`,
          );
      }
      const apiLog = state.api ? join(state.api.configFile, '..', 'kvmstack-api.log') : '';
      if (apiLog && existsSync(apiLog))
        console.log(`--- API log\n${readFileSync(apiLog, 'utf8').split('\n').slice(-40).join('\n')}`);
    }
    await labDown({ stateDir: STATE_DIR });
  });

  it(
    'openstack server create --wait: a real guest answers ping and HTTP at its fixed IP; power commands work',
    tracked(async () => {
      const t0 = Date.now();
      const s = await openstack<Server>([
        'server',
        'create',
        '--image',
        'tiny',
        '--flavor',
        'tiny',
        '--network',
        'provider',
        '--key-name',
        'k1',
        '--wait',
        'vm1',
      ]);
      figures['server create --wait'] = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
      assert.equal(s.status, 'ACTIVE');
      const ip = await ipOf('vm1');
      const page = await answers(ip, 'vm1');
      figures['create → ping + HTTP'] = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
      assert.match(page, new RegExp(`ip=${ip.replace(/\./g, '\\.')}`));
      assert.match(page, /hostname=vm1/);
      const list = await openstack<{ Name: string; Status: string }[]>(['server', 'list']);
      assert.ok(list.some((x) => x.Name === 'vm1' && x.Status === 'ACTIVE'));
      for (const [cmd, want] of [
        ['stop', 'SHUTOFF'],
        ['start', 'ACTIVE'],
        ['reboot', 'ACTIVE'],
        ['pause', 'PAUSED'],
        ['unpause', 'ACTIVE'],
        ['suspend', 'SUSPENDED'],
        ['resume', 'ACTIVE'],
      ] as const) {
        const t = Date.now();
        await openstack(['server', cmd, 'vm1']);
        await waitStatus('vm1', want);
        figures[`server ${cmd}`] = `${((Date.now() - t) / 1000).toFixed(1)} s`;
      }
      await answers(ip);
      await removeAll(['vm1']);
    }),
  );

  it(
    'server create --min 6 --max 6 spreads 2 per host (performance); an aggregate with progressive stacks',
    tracked(async () => {
      const spread = await batch('spread', 6);
      const per = new Map<string, number>();
      for (const h of spread.values()) per.set(h, (per.get(h) ?? 0) + 1);
      assert.deepEqual([...per.values()].sort(), [2, 2, 2], `spread: ${JSON.stringify([...per])}`);
      for (const n of spread.keys()) await answers(await ipOf(n), n);
      await removeAll([...spread.keys()]);

      await openstack(['aggregate', 'create', '--property', 'placement_policy=progressive', 'stack']);
      for (const h of labHosts(STATE_DIR)) await openstack(['aggregate', 'add', 'host', 'stack', h.name]);
      const stacked = await batch('stacked', 3);
      assert.equal(new Set(stacked.values()).size, 1, `stacked on one host: ${JSON.stringify([...stacked])}`);
      await removeAll([...stacked.keys()]);
      for (const h of labHosts(STATE_DIR)) await openstack(['aggregate', 'remove', 'host', 'stack', h.name]);
      await openstack(['aggregate', 'delete', 'stack']);
    }),
  );

  it(
    'an anti-affinity group of 3 lands on 3 hosts',
    tracked(async () => {
      const group = await openstack<{ id: string }>([
        'server',
        'group',
        'create',
        '--policy',
        'anti-affinity',
        'apart',
      ]);
      const placed = await batch('apart', 3, ['--hint', `group=${group.id}`]);
      assert.equal(new Set(placed.values()).size, 3, JSON.stringify([...placed]));
      const members = await openstack<{ members: string | string[] }>(['server', 'group', 'show', 'apart']);
      assert.equal(String(members.members).split(',').filter(Boolean).length, 3);
      await removeAll([...placed.keys()]);
      await openstack(['server', 'group', 'delete', 'apart']);
    }),
  );

  it(
    'nova boot / list / show / delete / hypervisor-list / service-list, unchanged',
    tracked(async () => {
      const net = await openstack<{ id: string }>(['network', 'show', 'provider']);
      const boot = await nova([
        'boot',
        '--image',
        'tiny',
        '--flavor',
        'tiny',
        '--nic',
        `net-id=${net.id}`,
        '--poll',
        'nvm',
      ]);
      assert.equal(boot.code, 0, boot.stderr + boot.stdout);
      const list = await nova(['list']);
      assert.match(list.stdout, /\| nvm +\| ACTIVE/);
      const shown = await nova(['show', 'nvm']);
      assert.match(shown.stdout, /\| status +\| ACTIVE/);
      await answers(await ipOf('nvm'), 'nvm');
      const hv = await nova(['hypervisor-list']);
      for (const h of labHosts(STATE_DIR))
        assert.match(hv.stdout, new RegExp(`\\| ${h.name} +\\| up +\\| enabled`));
      const services = await nova(['service-list']);
      assert.equal(services.stdout.match(/nova-compute/g)?.length, 3, services.stdout);
      assert.equal((await nova(['delete', 'nvm'])).code, 0);
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && /nvm/.test((await nova(['list'])).stdout)) await sleep(1000);
      assert.doesNotMatch((await nova(['list'])).stdout, /nvm/);
    }),
  );

  it(
    "openstack hypervisor list/show with the hosts' real figures; compute service set --disable keeps new servers off a host",
    tracked(async () => {
      const hosts = labHosts(STATE_DIR).map((h) => h.name);
      const list = await openstack<{ 'Hypervisor Hostname': string; State: string }[]>([
        'hypervisor',
        'list',
      ]);
      assert.deepEqual(list.map((h) => h['Hypervisor Hostname']).sort(), [...hosts].sort());
      assert.ok(list.every((h) => h.State === 'up'));
      const shown = await openstack<Record<string, unknown>>(['hypervisor', 'show', hosts[0]]);
      assert.ok(Number(shown.vcpus) >= 1 && Number(shown.memory_mb) > 1024, JSON.stringify(shown));
      assert.equal(shown.hypervisor_type, 'QEMU');
      await openstack([
        ...['compute', 'service', 'set', '--disable', '--disable-reason', 'maintenance'],
        ...[hosts[0], 'nova-compute'],
      ]);
      try {
        const services = await openstack<{ Host: string; Status: string }[]>(['compute', 'service', 'list']);
        assert.equal(services.find((x) => x.Host === hosts[0])?.Status, 'disabled');
        const placed = await batch('dis', 4);
        assert.ok(![...placed.values()].includes(hosts[0]), `nothing on the disabled host: ${[...placed]}`);
        await removeAll([...placed.keys()]);
      } finally {
        await openstack(['compute', 'service', 'set', '--enable', hosts[0], 'nova-compute']);
      }
      const again = await openstack<{ Host: string; Status: string }[]>(['compute', 'service', 'list']);
      assert.equal(again.find((x) => x.Host === hosts[0])?.Status, 'enabled');
    }),
  );

  it(
    'a server deleted while its host is down is removed from that host when its agent comes back',
    tracked(async () => {
      const s = await openstack<Server>([
        ...['server', 'create', '--image', 'tiny', '--flavor', 'tiny', '--network', 'provider'],
        ...['--wait', 'tomb'],
      ]);
      const hostName = await hostOf('tomb');
      const h = labHosts(STATE_DIR).find((x) => x.name === hostName);
      assert.ok(h, hostName);
      const domstate = async () =>
        (await exec('virsh', ['-c', h.libvirtUri, 'domstate', s.id], { env })).stdout.trim();
      assert.equal(await domstate(), 'running');
      assert.ok(await stopAgent(h), `the agent of ${hostName} was running`);
      try {
        await openstack(['compute', 'service', 'set', '--down', hostName, 'nova-compute']);
        await openstack(['server', 'delete', '--wait', 'tomb']); // Nova's local delete: the host is down
        assert.equal(await domstate(), 'running', 'the host has not heard of the delete');
      } finally {
        startAgent(h, state.api as NonNullable<LabState['api']>, labPaths(STATE_DIR));
        await openstack(['compute', 'service', 'set', '--up', hostName, 'nova-compute']);
      }
      const t0 = Date.now();
      while (Date.now() - t0 < 90_000 && (await domstate()) !== '') await sleep(1000);
      assert.equal(await domstate(), '', 'the returning agent removed the domain of the deleted server');
      figures['agent back → leftover domain removed'] = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    }),
  );
});
