import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildConfigDrive, configDrivePath } from '../../../host-agent/driver/config-drive.js';
import { DriverError, type ConfigDriveSpec, type DomainSpec } from '../../../host-agent/driver/types.js';

const have = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
// genisoimage is a dependency of the agent (tools/install-deps.sh installs it): its absence fails, never skips.
const skip = false;
if (!have('genisoimage') || !have('isoinfo'))
  throw new Error('genisoimage/isoinfo not installed (Debian package genisoimage)');

const isoinfo = (args: string[]) => execFileSync('isoinfo', args, { encoding: 'utf8' });
const readIso = (iso: string, path: string) => isoinfo(['-R', '-x', path, '-i', iso]);
const listIso = (iso: string) =>
  isoinfo(['-R', '-f', '-i', iso])
    .split('\n')
    .filter((l) => l)
    .sort();

const CD: ConfigDriveSpec = {
  metaData: { uuid: 'u-1', name: 'vm "1"', hostname: 'vm1.novalocal', meta: { k: 'é' }, public_keys: {} },
  networkData: {
    links: [{ id: 'tap0', ethernet_mac_address: 'fa:16:3e:00:00:01' }],
    networks: [],
    services: [],
  },
  userData: '#!/bin/sh\necho hello\n',
  vendorData: { x: 1 },
};

describe('config drive', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvd-cd-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('builds an ISO labelled config-2 with the openstack/latest files', { skip }, async () => {
    const iso = join(dir, 'a.iso');
    await buildConfigDrive(CD, iso, { tmpDir: dir });
    assert.deepEqual(readdirSync(dir), ['a.iso']); // no staging dir, no temp file left
    assert.match(isoinfo(['-d', '-i', iso]), /^Volume id: config-2$/m);
    assert.deepEqual(listIso(iso), [
      '/openstack',
      '/openstack/latest',
      '/openstack/latest/meta_data.json',
      '/openstack/latest/network_data.json',
      '/openstack/latest/user_data',
      '/openstack/latest/vendor_data.json',
    ]);
    assert.deepEqual(JSON.parse(readIso(iso, '/openstack/latest/meta_data.json')), CD.metaData);
    assert.deepEqual(JSON.parse(readIso(iso, '/openstack/latest/network_data.json')), CD.networkData);
    assert.deepEqual(JSON.parse(readIso(iso, '/openstack/latest/vendor_data.json')), CD.vendorData);
    assert.equal(readIso(iso, '/openstack/latest/user_data'), CD.userData);
    assert.equal(statSync(iso).mode & 0o777, 0o644);
  });

  it('has no user_data without user data, and vendor_data {} by default', { skip }, async () => {
    const iso = join(dir, 'b.iso');
    await buildConfigDrive({ metaData: {}, networkData: {} }, iso, { tmpDir: dir });
    assert.equal(listIso(iso).includes('/openstack/latest/user_data'), false);
    assert.deepEqual(JSON.parse(readIso(iso, '/openstack/latest/vendor_data.json')), {});
    rmSync(iso);
  });

  it(
    'replaces an existing drive in one step, and leaves it alone when building fails',
    { skip },
    async () => {
      const iso = join(dir, 'c.iso');
      writeFileSync(iso, 'old');
      await buildConfigDrive({ metaData: { v: 2 }, networkData: {} }, iso, { tmpDir: dir });
      assert.deepEqual(JSON.parse(readIso(iso, '/openstack/latest/meta_data.json')), { v: 2 });
      const before = statSync(iso);
      await assert.rejects(
        buildConfigDrive(CD, join(dir, 'no-such-dir', 'd.iso'), { tmpDir: dir }),
        /genisoimage .*-V config-2/,
      );
      assert.equal(statSync(iso).ino, before.ino);
      assert.deepEqual(readdirSync(dir).sort(), ['a.iso', 'c.iso']);
      rmSync(iso);
    },
  );

  it('lives beside the root disk, named by UUID', () => {
    const spec: DomainSpec = {
      uuid: '6F1C2A8E-0B1D-4C55-9A51-2F0F5E1D7C01',
      name: 'n',
      vcpus: 1,
      memoryMb: 64,
      disks: [{ target: 'vda', path: '/store/instances/disk.qcow2', format: 'qcow2' }],
      nics: [],
      consoleLog: '/x',
    };
    assert.equal(
      configDrivePath(spec),
      '/store/instances/config-drive-6f1c2a8e-0b1d-4c55-9a51-2f0f5e1d7c01.iso',
    );
    assert.throws(() => configDrivePath({ ...spec, disks: [] }), DriverError);
    assert.throws(() => configDrivePath({ ...spec, uuid: '../../etc/passwd' }), DriverError);
  });
});
