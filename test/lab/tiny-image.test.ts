/**
 * The tiny guest image is a valid qcow2 of the expected size: the cached image (kvmstack image build-tiny), or
 * one built now (downloading its Debian packages if needed). Booting it is the other lab tests' job.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { loadConfig } from '../../src/common/config/load.js';
import { ensureTinyImage, tinyImagePath } from '../../tools/image/tiny.js';

const qemuImgInfo = (file: string): Promise<Record<string, unknown>> =>
  new Promise((resolve, reject) =>
    execFile('qemu-img', ['info', '--output=json', '-U', file], { encoding: 'utf8' }, (err, out) =>
      err ? reject(err) : resolve(JSON.parse(out) as Record<string, unknown>),
    ),
  );

test(
  'the tiny guest image is a qcow2 of 41 MiB, with its kernel and initrd beside it',
  { timeout: 300_000 },
  async () => {
    const image = await ensureTinyImage({ out: tinyImagePath(loadConfig({ env: {} }).DEFAULT.data_dir) });
    const info = await qemuImgInfo(image.path);
    assert.equal(info.format, 'qcow2');
    assert.equal(info['virtual-size'], 41 * 1024 * 1024);
    assert.ok(!('backing-filename' in info), 'a base image, not an overlay');
    for (const f of [image.kernel, image.initrd])
      assert.ok(existsSync(f), `${f} (for direct kernel boot) is beside the image`);
  },
);
