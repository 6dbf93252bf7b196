/**
 * Servers with the real clients on the all-in-one (real libvirt, a real TCG guest booted from the tiny image):
 * `openstack server create --wait`, the guest configures itself from the config drive (its console shows the
 * port's address), the power commands, `console log show`, `server image create`, and the nova CLI's boot,
 * list, show and delete, unchanged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/common/config/load.js';
import { ensureTinyImage, tinyImagePath } from '../../tools/image/tiny.js';
import { cleanEnv, exec, startKvmstack, waitServerStatus, type CliServer, type Kvmstack } from './support.js';

type Server = CliServer;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('servers with the openstack and nova CLIs (all-in-one, real guest)', { timeout: 600_000 }, () => {
  let cloud: Kvmstack;
  const nova = (args: string[]) =>
    exec('nova', args, {
      env: cleanEnv({ ...cloud.env, OS_COMPUTE_API_VERSION: '2.1' }),
      timeoutMs: 180_000,
    });

  const waitStatus = (name: string, want: string) =>
    waitServerStatus((n) => cloud.run<Server>(['server', 'show', n]), name, want, 120_000);
  async function consoleUntil(name: string, re: RegExp, timeoutMs = 120_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let out = '';
    while (Date.now() < deadline) {
      // exec, not run: `console log show` has no -f option
      out = (await exec('openstack', ['console', 'log', 'show', name], { env: cleanEnv(cloud.env) })).stdout;
      if (re.test(out)) return out;
      await sleep(2000);
    }
    assert.fail(`console of ${name} never matched ${re}:\n${out.slice(-2000)}`);
  }

  before(async () => {
    cloud = await startKvmstack({ apiOnly: false });
    const image = await ensureTinyImage({ out: tinyImagePath(loadConfig({ env: {} }).DEFAULT.data_dir) });
    await cloud.run([
      'image',
      'create',
      '--file',
      image.path,
      '--disk-format',
      'qcow2',
      '--container-format',
      'bare',
      '--public',
      'tiny',
    ]);
    await cloud.run(['flavor', 'create', '--ram', '256', '--vcpus', '1', '--disk', '1', 'tiny']);
    await cloud.run(['network', 'create', 'net1']);
    await cloud.run(['subnet', 'create', '--network', 'net1', '--subnet-range', '10.77.0.0/24', 'sub1']);
    // prints the private key whatever the format: only the exit status matters here
    const kp = await cloud.attempt(['keypair', 'create', 'k1']);
    assert.equal(kp.code, 0, kp.stderr);
  });
  after(() => cloud?.stop());

  it('openstack server create --wait: ACTIVE, with its port address; the guest reads it from the config drive', async () => {
    const s = await cloud.run<Server>([
      'server',
      'create',
      '--image',
      'tiny',
      '--flavor',
      'tiny',
      '--network',
      'net1',
      '--key-name',
      'k1',
      '--property',
      'role=test',
      '--wait',
      'vm1',
    ]);
    assert.equal(s.status, 'ACTIVE');
    const shown = await cloud.run<Server>(['server', 'show', 'vm1']);
    const addr = JSON.stringify(shown.addresses);
    const ip = /10\.77\.0\.\d+/.exec(addr)?.[0];
    assert.ok(ip, `an address on net1: ${addr}`);
    assert.equal(shown['OS-EXT-STS:power_state'], 1); // OSC shows the raw integer with -f json
    assert.equal(shown.key_name, 'k1');
    const out = await consoleUntil('vm1', /KVMSTACK-GUEST-READY/);
    assert.match(
      out,
      new RegExp(`KVMSTACK-GUEST-READY ip=${ip.replace(/\./g, '\\.')}\\b.*source=configdrive`),
    );
    const list = await cloud.run<{ Name: string; Status: string }[]>(['server', 'list']);
    assert.deepEqual(
      list.map((x) => [x.Name, x.Status]),
      [['vm1', 'ACTIVE']],
    );
  });

  it('stop, start, reboot, pause, unpause, suspend, resume move the real domain as Nova', async () => {
    const steps = async (list: (readonly [readonly string[], string])[]) => {
      for (const [cmd, want] of list) {
        await cloud.run([...cmd]);
        await waitStatus('vm1', want);
      }
    };
    await steps([
      [['server', 'stop', 'vm1'], 'SHUTOFF'],
      [['server', 'start', 'vm1'], 'ACTIVE'],
      [['server', 'reboot', '--hard', 'vm1'], 'ACTIVE'],
    ]);
    // the log starts afresh with each QEMU (append='off'): the guest booted again after the hard reboot
    const out = await consoleUntil('vm1', /KVMSTACK-GUEST-READY/);
    const uptime = Number(/uptime=([\d.]+)/.exec(out)?.[1]);
    assert.ok(uptime < 60, `a fresh boot's marker: ${out.slice(-300)}`);
    // (a resumed guest continues where it was: no new boot marker, so the console is checked before this)
    await steps([
      [['server', 'reboot', 'vm1'], 'ACTIVE'],
      [['server', 'pause', 'vm1'], 'PAUSED'],
      [['server', 'unpause', 'vm1'], 'ACTIVE'],
      [['server', 'suspend', 'vm1'], 'SUSPENDED'],
      [['server', 'resume', 'vm1'], 'ACTIVE'],
    ]);
    const again = await cloud.attempt(['server', 'start', 'vm1']);
    assert.notEqual(again.code, 0, 'starting an ACTIVE server is refused');
    assert.match(again.stderr, /Cannot 'start' instance .* while it is in vm_state active \(HTTP 409\)/);
  });

  it('server image create makes an active snapshot image of the root disk', async () => {
    await cloud.run(['server', 'image', 'create', '--name', 'vm1-snap', '--wait', 'vm1']);
    const img = await cloud.run<{
      status: string;
      disk_format: string;
      properties: Record<string, string> | string;
    }>(['image', 'show', 'vm1-snap']);
    assert.equal(img.status, 'active');
    assert.equal(img.disk_format, 'qcow2');
    await waitStatus('vm1', 'ACTIVE');
  });

  it('nova boot / list / show / delete, unchanged (on a network made the moment before: no bridge yet)', async () => {
    // the host has no bridge for net2 until its port is bound: the define must wait for the network round
    const net2 = (await cloud.run<{ id: string }>(['network', 'create', 'net2'])).id;
    await cloud.run(['subnet', 'create', '--network', 'net2', '--subnet-range', '10.79.0.0/24', 'sub2']);
    const boot = await nova([
      'boot',
      '--image',
      'tiny',
      '--flavor',
      'tiny',
      '--nic',
      `net-id=${net2}`,
      '--poll',
      'vm2',
    ]);
    assert.equal(boot.code, 0, boot.stderr + boot.stdout);
    const list = await nova(['list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /\| vm2 +\| ACTIVE/);
    assert.match(list.stdout, /net2=10\.79\.0\.\d+/);
    const show = await nova(['show', 'vm2']);
    assert.match(show.stdout, /\| status +\| ACTIVE/);
    const del = await nova(['delete', 'vm2']);
    assert.equal(del.code, 0, del.stderr);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && /vm2/.test((await nova(['list'])).stdout)) await sleep(1000);
    assert.doesNotMatch((await nova(['list'])).stdout, /vm2/);
  });

  it('server add network / remove network hot-plug a NIC into the running domain and take it out', async () => {
    const id = (await cloud.run<Server>(['server', 'show', 'vm1'])).id;
    const nics = async () =>
      (await exec('virsh', ['-c', 'qemu:///system', 'domiflist', `instance-${id}`])).stdout
        .split('\n')
        .filter((l) => /\bbridge\b/.test(l)).length;
    assert.equal(await nics(), 1);
    await cloud.run(['server', 'add', 'network', 'vm1', 'net2']);
    assert.equal(await nics(), 2, 'the running domain has the new NIC');
    const shown = await cloud.run<Server>(['server', 'show', 'vm1']);
    assert.match(JSON.stringify(shown.addresses), /net2/);
    await cloud.run(['server', 'remove', 'network', 'vm1', 'net2']);
    assert.equal(await nics(), 1);
    assert.doesNotMatch(
      JSON.stringify((await cloud.run<Server>(['server', 'show', 'vm1'])).addresses),
      /net2/,
    );
    await waitStatus('vm1', 'ACTIVE');
  });

  it('openstack server delete --wait removes the server, its domain and its port', async () => {
    const id = (await cloud.run<Server>(['server', 'show', 'vm1'])).id;
    await cloud.run(['server', 'delete', '--wait', 'vm1']);
    const missing = await cloud.attempt(['server', 'show', 'vm1']);
    assert.notEqual(missing.code, 0);
    const ports = await cloud.run<unknown[]>(['port', 'list', '--device-id', id]);
    assert.equal(ports.length, 0);
    const virsh = await exec('virsh', ['-c', 'qemu:///system', 'dominfo', `instance-${id}`]);
    assert.notEqual(virsh.code, 0, 'the domain is gone');
  });
});
