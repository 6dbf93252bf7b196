import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../src/common/config/load.js';
import { ApiError } from '../../../src/common/errors.js';
import { HEAD_BYTES, inspectImage, sniffFormat } from '../../../src/image/images/inspect.js';
import { decodePointer, parsePatch } from '../../../src/image/images/patch.js';

const dir = mkdtempSync(join(tmpdir(), 'kvmstack-inspect-'));
function qemuImg(format: string, name: string, extra: string[] = [], size = '8M'): string {
  const file = join(dir, name);
  execFileSync('qemu-img', ['create', '-q', '-f', format, ...extra, file, size]);
  return file;
}
const head = (file: string) => readFileSync(file).subarray(0, HEAD_BYTES);
const statusOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof ApiError ? `${err.status} ${err.message}` : String(err);
  }
};

describe('image format inspection', () => {
  it('recognizes the formats qemu-img writes by their headers', () => {
    assert.equal(sniffFormat(head(qemuImg('qcow2', 'a.qcow2'))), 'qcow2');
    assert.equal(sniffFormat(head(qemuImg('vmdk', 'a.vmdk'))), 'vmdk');
    assert.equal(sniffFormat(head(qemuImg('vpc', 'a.vhd'))), 'vhd');
    assert.equal(sniffFormat(head(qemuImg('vhdx', 'a.vhdx'))), 'vhdx');
    assert.equal(sniffFormat(head(qemuImg('vdi', 'a.vdi'))), 'vdi');
    assert.equal(sniffFormat(Buffer.alloc(512)), 'raw');
    assert.equal(sniffFormat(Buffer.from('QFI')), 'raw'); // too short to be anything
    // a text VMDK descriptor names other files: it is not treated as a VMDK
    assert.equal(sniffFormat(Buffer.from('# Disk DescriptorFile\nRW 1 FLAT "/etc/shadow" 0\n')), 'raw');
  });

  it('measures virtual sizes and refuses references to other files and mismatches', async () => {
    const q = qemuImg('qcow2', 'v.qcow2', [], '20M');
    assert.deepEqual(await inspectImage(q, 'qcow2', head(q), 1, 10_000), { virtualSize: 20 * 1024 * 1024 });
    const vmdk = qemuImg('vmdk', 'v.vmdk', [], '4M');
    assert.deepEqual(await inspectImage(vmdk, 'vmdk', head(vmdk), 1, 10_000), {
      virtualSize: 4 * 1024 * 1024,
    });
    const raw = join(dir, 'host.raw');
    writeFileSync(raw, Buffer.alloc(4096, 1));
    assert.deepEqual(await inspectImage(raw, 'raw', head(raw), 4096, 10_000), { virtualSize: 4096 });
    assert.deepEqual(await inspectImage(raw, 'iso', head(raw), 4096, 10_000), { virtualSize: null });

    const backed = qemuImg('qcow2', 'backed.qcow2', ['-F', 'raw', '-b', raw], '8M');
    assert.equal(
      await statusOf(inspectImage(backed, 'qcow2', head(backed), 1, 10_000)),
      '415 Image failed safety checks',
    );
    const dataFile = qemuImg('qcow2', 'datafile.qcow2', ['-o', `data_file=${join(dir, 'ext.raw')}`], '8M');
    assert.equal(
      await statusOf(inspectImage(dataFile, 'qcow2', head(dataFile), 1, 10_000)),
      '415 Image failed safety checks',
    );
    assert.equal(
      await statusOf(inspectImage(raw, 'qcow2', head(raw), 4096, 10_000)),
      '415 Image disk_format qcow2 does not match stream data raw',
    );
    assert.equal(
      await statusOf(inspectImage(q, 'raw', head(q), 1, 10_000)),
      '415 Image disk_format raw does not match stream data qcow2',
    );
    assert.equal(
      await statusOf(inspectImage(q, 'vmdk', head(q), 1, 10_000)),
      '415 Image disk_format vmdk does not match stream data qcow2',
    );
  });
});

describe('image JSON patch parsing', () => {
  const config = loadConfig({ env: {}, file: undefined, overrides: {} });
  const v21 = 'application/openstack-images-v2.1-json-patch';
  const v20 = 'application/openstack-images-v2.0-json-patch';
  const err = (f: () => unknown) => {
    try {
      f();
      return 'ok';
    } catch (e) {
      return e instanceof ApiError ? e.status : String(e);
    }
  };

  it('decodes JSON pointers as Glance does', () => {
    assert.deepEqual(decodePointer('/name'), ['name']);
    assert.deepEqual(decodePointer('/a~1b~0c'), ['a/b~c']);
    for (const bad of ['name', '/a//b', '/a/', '/~2', '/a~', 5])
      assert.equal(
        err(() => decodePointer(bad)),
        400,
      );
  });

  it('reads both dialects and refuses what Glance refuses', () => {
    assert.deepEqual(parsePatch(config, [{ op: 'add', path: '/k', value: 'v' }], v21), [
      { op: 'add', path: ['k'], value: 'v', draft: 10 },
    ]);
    assert.deepEqual(parsePatch(config, [{ remove: '/k' }], v20), [{ op: 'remove', path: ['k'], draft: 4 }]);
    assert.equal(
      err(() => parsePatch(config, [{ add: '/k', remove: '/k', value: 'v' }], v20)),
      400,
    );
    assert.equal(
      err(() => parsePatch(config, [{ op: 'add', path: '/k' }], v21)),
      400,
    );
    assert.equal(
      err(() => parsePatch(config, [{ op: 'add', path: '/k', value: 1 }], v21)),
      400,
    );
    assert.equal(
      err(() => parsePatch(config, [{ op: 'add', path: '/tags/-', value: 'x' }], v21)),
      400,
    );
    assert.equal(
      err(() => parsePatch(config, { op: 'add' }, v21)),
      400,
    );
    assert.equal(
      err(() => parsePatch(config, [{ op: 'replace', path: '/size', value: 1 }], v21)),
      403,
    );
    assert.equal(
      err(() => parsePatch(config, [{ op: 'add', path: '/os_glance_x', value: 'y' }], v21)),
      403,
    );
    assert.equal(
      err(() => parsePatch(config, [{ op: 'add', path: '/deleted_at', value: 'y' }], v21)),
      403,
    );
  });
});
