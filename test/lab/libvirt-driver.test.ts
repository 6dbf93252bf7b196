/**
 * LibvirtDriver against real libvirtds and a real guest: two private hosts (own mount/UTS namespaces and
 * libvirtd, one shared network namespace with a bridge), the tiny guest image from tools/image/build-tiny.sh,
 * a plain shared directory as the store. Needs root and: qemu-system-x86 qemu-utils libvirt-daemon-system
 * libvirt-clients genisoimage (+ the image builder's dosfstools mtools syslinux fdisk cpio).
 *   node --test dist/test/lab/libvirt-driver.test.js      env KVMSTACK_DEB_CACHE: where the guest's .debs are kept
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../src/common/exec.js';
import { LibvirtDriver } from '../../host-agent/driver/libvirt.js';
import { DriverError, type DomainSpec, type DomainStatus } from '../../host-agent/driver/types.js';
import { findDeviceXml, parseInstanceMetadata, unescapeXml } from '../../host-agent/driver/xml.js';
import { ensureTinyImage } from '../../tools/image/tiny.js';
import { PrivateLibvirt, TestNetns } from './private-libvirt.js';
import { staticGuestConfigDrive } from '../support/guest.js';

const MARKER = 'KVMSTACK-GUEST-READY';
const GUEST_IP = '10.97.0.20';
const NEEDED = [
  'libvirtd',
  'virtlogd',
  'virtlockd',
  'virsh',
  'qemu-img',
  'qemu-system-x86_64',
  'genisoimage',
];

function missing(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (namespaces, libvirtd)';
  for (const cmd of [...NEEDED, 'unshare', 'nsenter', 'ip', 'ping']) {
    try {
      execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    } catch {
      return `${cmd} not installed`;
    }
  }
  return false;
}

const isDriverError = (kind: DriverError['kind']) => (e: unknown) =>
  e instanceof DriverError && e.kind === kind;

async function waitFor<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | null | false> | T | null | false,
) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

const skip = missing();

describe('LibvirtDriver on real libvirt', { skip, timeout: 240_000 }, () => {
  let root = '';
  let net: TestNetns | null = null;
  const hosts: PrivateLibvirt[] = [];
  const drivers: LibvirtDriver[] = [];
  let a: LibvirtDriver;
  let b: LibvirtDriver;
  let image = '';
  let spec: DomainSpec;
  const timings: Record<string, number> = {};
  let inventory: unknown = null;

  before(async () => {
    const t0 = Date.now();
    root = mkdtempSync(join(tmpdir(), 'kvd-lvd-'));
    chmodSync(root, 0o755); // QEMU runs as libvirt-qemu and must reach the store below
    net = await TestNetns.create('10.97.0.1/24');
    // The image builds while host A's libvirtd probes QEMU; B then starts from A's warm capability cache.
    const [img, hostA] = await Promise.all([
      ensureTinyImage({
        out: join(root, 'images', 'tiny.qcow2'),
      }),
      PrivateLibvirt.start({ root, name: 'kvdha', netns: net, tcpPort: 16601 }),
    ]);
    hosts.push(hostA);
    timings.imageAndHostA = Date.now() - t0;
    const hostB = await PrivateLibvirt.start({
      root,
      name: 'kvdhb',
      netns: net,
      tcpPort: 16602,
      seedCache: join(hostA.dir, 'cache'),
    });
    hosts.push(hostB);
    timings.setup = Date.now() - t0;
    image = img.path;
    a = new LibvirtDriver({
      uri: hostA.uri,
      virtType: 'qemu',
      stateDir: join(hostA.dir, 'state'),
      unsafeMigration: true,
    });
    b = new LibvirtDriver({
      uri: hostB.uri,
      virtType: 'qemu',
      stateDir: join(hostB.dir, 'state'),
      unsafeMigration: true,
    });
    drivers.push(a, b);
    for (const h of hosts) execFileSync('mkdir', ['-p', join(h.dir, 'state')]);
    const vm = join(root, 'store', 'vm1');
    spec = {
      uuid: '6b766d73-0000-4000-8000-000000000001',
      name: 'kvd-vm1',
      vcpus: 1,
      memoryMb: 192,
      disks: [
        {
          target: 'vda',
          path: join(vm, 'disk.qcow2'),
          format: 'qcow2',
          backingPath: image,
          backingFormat: 'qcow2',
        },
      ],
      nics: [{ mac: '52:54:00:97:00:20', bridge: net.bridge }],
      configDrive: staticGuestConfigDrive({
        uuid: '6b766d73-0000-4000-8000-000000000001',
        name: 'kvd-vm1',
        hostname: 'kvdvm1.novalocal',
        mac: '52:54:00:97:00:20',
        ip: GUEST_IP,
        mtu: 1500,
        networkId: 'n1',
        userData: '#!/bin/sh\necho user-data ran\n',
      }),
      consoleLog: join(vm, 'console.log'),
    };
  });

  after(async () => {
    for (const d of drivers) await d.close().catch(() => undefined);
    for (const h of hosts) await h.stop().catch((e: unknown) => console.error(`stopping ${h.name}:`, e));
    await net?.delete();
    if (root) rmSync(root, { recursive: true, force: true });
    console.log(`timings (ms): ${JSON.stringify(timings)}`);
    console.log(`inventory of ${hosts[0]?.name}: ${JSON.stringify(inventory)}`);
  });

  it('reaches a libvirtd in another mount namespace over its unix socket and reports the host', async () => {
    const inv = await a.inventory();
    inventory = inv;
    assert.equal(inv.hypervisorType, 'QEMU');
    assert.equal(inv.virtType, 'qemu');
    assert.ok(inv.hypervisorVersion >= 5_000_000, `version ${inv.hypervisorVersion}`);
    assert.ok(
      inv.vcpus >= 1 && inv.memoryMb > 512 && inv.localDiskGb > 0 && inv.cpuModel !== '',
      JSON.stringify(inv),
    );
    assert.deepEqual(await a.listDomains(), []);
    assert.equal(await a.getDomain(spec.uuid), null);
  });

  it('defines values that need escaping, and libvirt reads them back unchanged', async () => {
    const odd: DomainSpec = {
      ...spec,
      uuid: '6b766d73-0000-4000-8000-0000000000ff',
      name: `kvd odd <&'">`,
      disks: [{ target: 'vda', path: join(root, 'store', `odd <&'">`, 'disk.raw'), format: 'raw' }],
      nics: [],
      configDrive: undefined,
      consoleLog: join(root, 'store', `odd <&'">`, 'console.log'),
    };
    const own = { generation: 5, owner: `host <&'"> a` };
    const st = await a.define(odd, own);
    assert.deepEqual(st, {
      uuid: odd.uuid,
      name: odd.name,
      state: 'shutoff',
      generation: 5,
      owner: own.owner,
      persistent: true,
    });
    const source = /<source file=(['"])(.*?)\1/.exec(
      findDeviceXml(await a.domainXml(odd.uuid), 'disk', 'vda') ?? '',
    );
    assert.equal(unescapeXml(source?.[2] ?? ''), odd.disks[0]!.path);
    await a.undefine(odd.uuid);
    assert.equal(await a.getDomain(odd.uuid), null);
  });

  it('defines and boots a guest that reads its config drive', { timeout: 90_000 }, async () => {
    const st = await a.define(spec, { generation: 1, owner: 'kvdha' });
    assert.deepEqual(st, {
      uuid: spec.uuid,
      name: spec.name,
      state: 'shutoff',
      generation: 1,
      owner: 'kvdha',
      persistent: true,
    });
    const info = JSON.parse(await run('qemu-img', ['info', '--output=json', spec.disks[0]!.path])) as Record<
      string,
      unknown
    >;
    assert.equal(info['backing-filename'], image);
    assert.ok(existsSync(join(root, 'store', 'vm1', `config-drive-${spec.uuid}.iso`)));

    const t0 = Date.now();
    await a.start(spec.uuid);
    timings.start = Date.now() - t0;
    const running: DomainStatus = { ...st, state: 'running' };
    assert.deepEqual(await a.getDomain(spec.uuid), running);
    assert.deepEqual(
      (await a.listDomains()).map((d) => [d.uuid, d.state, d.generation, d.owner]),
      [[spec.uuid, 'running', 1, 'kvdha']],
    );
    const line = await waitFor('the ready marker on the console log', 60_000, () => {
      const log = existsSync(spec.consoleLog) ? readFileSync(spec.consoleLog, 'utf8') : '';
      return log.split('\n').find((l) => l.includes(MARKER)) ?? null;
    });
    timings.bootToMarker = Date.now() - t0;
    assert.match(line, new RegExp(`ip=${GUEST_IP.replace(/\./g, '\\.')} hostname=kvdvm1 source=configdrive`));
    await net!.exec('ping', ['-c', '1', '-W', '2', GUEST_IP]);

    // Repeating define and start (an agent replaying a command) changes nothing.
    assert.equal((await a.define(spec, { generation: 1, owner: 'kvdha' })).state, 'running');
    await a.start(spec.uuid);
  });

  it('refuses a second domain on the same disk as a conflict, without touching the disk', async () => {
    const disk = spec.disks[0]!.path;
    const before = statSync(disk);
    const twin: DomainSpec = {
      ...spec,
      uuid: '6b766d73-0000-4000-8000-000000000002',
      name: 'kvd-vm1-twin',
      nics: [],
    };
    await a.define(twin, { generation: 1, owner: 'kvdha' });
    await assert.rejects(a.start(twin.uuid), isDriverError('conflict'));
    // Also from the other host (QEMU's image lock and virtlockd both hold across hosts).
    await b.define(twin, { generation: 1, owner: 'kvdhb' });
    await assert.rejects(b.start(twin.uuid), isDriverError('conflict'));
    await a.undefine(twin.uuid);
    await b.undefine(twin.uuid);
    assert.equal(statSync(disk).ino, before.ino);
    assert.equal((await a.getDomain(spec.uuid))?.state, 'running');
  });

  it(
    'hot-plugs and unplugs a volume and a NIC, live and in the definition',
    { timeout: 60_000 },
    async () => {
      const vol = join(root, 'store', 'vol1.raw');
      await run('qemu-img', ['create', '-q', '-f', 'raw', vol, '16M']);
      const hosts0 = hosts[0]!;
      const live = () => hosts0.virsh(['dumpxml', spec.uuid]);
      await a.attachDisk(spec.uuid, { target: 'vdb', path: vol, format: 'raw', serial: 'vol-0001' });
      assert.match(findDeviceXml(await live(), 'disk', 'vdb') ?? '', /<serial>vol-0001<\/serial>/);
      assert.ok(findDeviceXml(await a.domainXml(spec.uuid), 'disk', 'vdb'));
      await assert.rejects(
        a.attachDisk(spec.uuid, { target: 'vdb', path: vol, format: 'raw' }),
        isDriverError('conflict'),
      );

      const nic = { mac: '52:54:00:97:00:31', bridge: net!.bridge, mtu: 1400 };
      await a.plugNic(spec.uuid, nic);
      assert.ok(findDeviceXml(await live(), 'interface', nic.mac));
      assert.ok(findDeviceXml(await a.domainXml(spec.uuid), 'interface', nic.mac));

      await a.detachDisk(spec.uuid, 'vdb');
      await a.unplugNic(spec.uuid, nic.mac);
      assert.equal(findDeviceXml(await a.domainXml(spec.uuid), 'disk', 'vdb'), null);
      assert.equal(findDeviceXml(await a.domainXml(spec.uuid), 'interface', nic.mac), null);
      // The guest releases hot-unplugged devices through ACPI, a moment after the request.
      await waitFor('the guest to release vdb and the NIC', 20_000, async () => {
        const xml = await live();
        return (
          findDeviceXml(xml, 'disk', 'vdb') === null && findDeviceXml(xml, 'interface', nic.mac) === null
        );
      });
      await assert.rejects(a.detachDisk(spec.uuid, 'vdb'), isDriverError('not_found'));
      assert.ok(existsSync(vol));
    },
  );

  it(
    'live-migrates peer to peer, and the destination holds the new ownership',
    { timeout: 90_000 },
    async () => {
      // A failed migration leaves the domain running here, with its old ownership back.
      await assert.rejects(
        a.migrate(spec.uuid, { uri: 'qemu+tcp://127.0.0.1:1/system' }, { generation: 2, owner: 'kvdhb' }),
        isDriverError('failed'),
      );
      const here = await a.getDomain(spec.uuid);
      assert.deepEqual([here?.state, here?.generation, here?.owner], ['running', 1, 'kvdha']);
      assert.deepEqual(parseInstanceMetadata(await a.domainXml(spec.uuid)), {
        generation: 1,
        owner: 'kvdha',
      });

      const t0 = Date.now();
      await a.migrate(
        spec.uuid,
        { uri: hosts[1]!.tcpUri, migrateUri: 'tcp://127.0.0.1', maxDowntimeMs: 300 },
        { generation: 2, owner: 'kvdhb' },
      );
      timings.migrate = Date.now() - t0;
      assert.equal(await a.getDomain(spec.uuid), null);
      assert.deepEqual(await b.getDomain(spec.uuid), {
        uuid: spec.uuid,
        name: spec.name,
        state: 'running',
        generation: 2,
        owner: 'kvdhb',
        persistent: true,
      });
      assert.deepEqual(parseInstanceMetadata(await b.domainXml(spec.uuid)), {
        generation: 2,
        owner: 'kvdhb',
      });
      await net!.exec('ping', ['-c', '1', '-W', '2', GUEST_IP]);
      await assert.rejects(
        a.migrate(spec.uuid, { uri: hosts[1]!.tcpUri }, { generation: 3, owner: 'x' }),
        isDriverError('not_found'),
      );
    },
  );

  it(
    'reconnects by itself after libvirtd restarts, and the guest lives on',
    { timeout: 60_000 },
    async () => {
      const hb = hosts[1]!;
      await hb.killLibvirtd();
      await assert.rejects(b.listDomains()); // down: a clean error, not "no domains"
      const t0 = Date.now();
      await hb.restartLibvirtd();
      timings.libvirtdRestart = Date.now() - t0;
      const ds = await b.listDomains();
      assert.deepEqual(
        ds.map((d) => [d.uuid, d.state, d.generation]),
        [[spec.uuid, 'running', 2]],
      );
    },
  );

  it(
    'reboots, shuts down, destroys and undefines, and never deletes the disk',
    { timeout: 90_000 },
    async () => {
      const t0 = Date.now();
      await b.reboot(spec.uuid, true); // destroy + start from the definition
      timings.hardReboot = Date.now() - t0;
      assert.equal((await b.getDomain(spec.uuid))?.state, 'running');
      await waitFor('the marker after the hard reboot', 60_000, () =>
        readFileSync(spec.consoleLog, 'utf8').includes(MARKER),
      );
      const t1 = Date.now();
      await b.reboot(spec.uuid, false); // ACPI power-off, then a new start: the guest boots again
      timings.softReboot = Date.now() - t1;
      assert.equal((await b.getDomain(spec.uuid))?.state, 'running');
      await waitFor('the marker after the soft reboot', 60_000, () =>
        readFileSync(spec.consoleLog, 'utf8').includes(MARKER),
      );
      const t2 = Date.now();
      await b.shutdown(spec.uuid);
      await waitFor(
        'the ACPI shutdown',
        30_000,
        async () => (await b.getDomain(spec.uuid))?.state === 'shutoff',
      );
      timings.acpiShutdown = Date.now() - t2;
      await assert.rejects(b.reboot(spec.uuid, false), isDriverError('conflict'));
      await b.destroy(spec.uuid); // already off: nothing to do

      await b.start(spec.uuid);
      await assert.rejects(b.undefine(spec.uuid), isDriverError('conflict'));
      const t3 = Date.now();
      await b.destroy(spec.uuid);
      timings.destroy = Date.now() - t3;
      await b.undefine(spec.uuid);
      await b.undefine(spec.uuid);
      assert.equal(await b.getDomain(spec.uuid), null);
      assert.deepEqual(await b.listDomains(), []);
      await assert.rejects(b.start(spec.uuid), isDriverError('not_found'));
      assert.ok(existsSync(spec.disks[0]!.path) && existsSync(image));
    },
  );
});
