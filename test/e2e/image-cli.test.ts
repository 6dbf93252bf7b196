/**
 * The real image clients against a kvmstack all-in-one (`kvmstack up --api-only`): python-openstackclient
 * (through openstacksdk) and the glance CLI (glanceclient, which builds its requests from /v2/schemas/image and
 * follows `next` links) create, upload, list, show, change, share, download and delete images.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanEnv, exec, issueToken, startKvmstack, type Kvmstack } from './support.js';

type Row = Record<string, unknown>;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');

describe('image clients (openstack, glance) against kvmstack up', { timeout: 240_000 }, () => {
  let cloud: Kvmstack;
  const dir = mkdtempSync(join(tmpdir(), 'kvmstack-image-cli-'));
  const qcow2 = join(dir, 'disk.qcow2');
  const raw = join(dir, 'disk.raw');
  const glance = async (args: string[]) => {
    const res = await exec('glance', args, { env: cleanEnv(cloud.env), timeoutMs: 60_000 });
    assert.equal(res.code, 0, `glance ${args.join(' ')}\n${res.stderr}\n${res.stdout}`);
    return res.stdout;
  };

  before(async () => {
    cloud = await startKvmstack();
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, '32M']);
    writeFileSync(raw, randomBytes(3 * 1024 * 1024 + 17));
  });
  after(async () => {
    await cloud?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('openstack image create --file / list / show / set / unset / save / delete', async () => {
    const data = readFileSync(qcow2);
    const created = await cloud.run<Row>([
      'image',
      'create',
      '--file',
      qcow2,
      '--disk-format',
      'qcow2',
      '--container-format',
      'bare',
      '--property',
      'hw_disk_bus=virtio',
      'cli-qcow2',
    ]);
    assert.equal(created.name, 'cli-qcow2');
    const shown = await cloud.run<Row>(['image', 'show', 'cli-qcow2']);
    assert.equal(shown.status, 'active');
    assert.equal(shown.checksum, md5(data));
    assert.equal(shown.size, data.length);
    assert.equal(shown.virtual_size, 32 * 1024 * 1024);
    assert.equal(shown.disk_format, 'qcow2');
    const props = shown.properties as Row;
    assert.equal(props.hw_disk_bus, 'virtio');
    assert.equal(props.os_hash_algo, 'sha512');
    assert.equal(props.os_hash_value, sha512(data));
    // OSC stores its own owner_specified.* properties at create: kept as given
    assert.equal(props['owner_specified.openstack.object'], 'images/cli-qcow2');

    const list = await cloud.run<Row[]>(['image', 'list']);
    assert.deepEqual(
      list.map((i) => [i.Name, i.Status]),
      [['cli-qcow2', 'active']],
    );
    await cloud.run(['image', 'set', '--property', 'os_distro=cirros', '--min-ram', '64', 'cli-qcow2']);
    await cloud.run(['image', 'unset', '--property', 'hw_disk_bus', 'cli-qcow2']);
    const changed = await cloud.run<Row>(['image', 'show', 'cli-qcow2']);
    assert.equal((changed.properties as Row).os_distro, 'cirros');
    assert.equal((changed.properties as Row).hw_disk_bus, undefined);
    assert.equal(changed.min_ram, 64);

    const out = join(dir, 'saved.qcow2');
    await cloud.run(['image', 'save', '--file', out, 'cli-qcow2']);
    assert.ok(Buffer.compare(readFileSync(out), data) === 0);

    // sharing with another project
    await cloud.run(['project', 'create', 'consumer']);
    await cloud.run(['image', 'add', 'project', 'cli-qcow2', 'consumer']);
    const members = await cloud.run<Row[]>(['image', 'member', 'list', 'cli-qcow2']);
    assert.equal(members.length, 1);
    assert.equal(members[0].Status, 'pending');

    await cloud.run(['image', 'delete', 'cli-qcow2']);
    assert.deepEqual(await cloud.run<Row[]>(['image', 'list']), []);
    const missing = await cloud.attempt(['image', 'show', 'cli-qcow2']);
    assert.notEqual(missing.code, 0);
  });

  it('glance image-create --file / image-list (paged) / image-download / image-delete', async () => {
    const data = readFileSync(raw);
    const created = await glance([
      'image-create',
      '--file',
      raw,
      '--disk-format',
      'raw',
      '--container-format',
      'bare',
      '--name',
      'g-raw',
      '--property',
      'os_version=12',
    ]);
    const id = /\|\s+id\s+\|\s+([0-9a-f-]{36})/.exec(created)?.[1];
    assert.ok(id, created);
    assert.match(created, new RegExp(`\\|\\s+checksum\\s+\\|\\s+${md5(data)}`));
    assert.match(created, /\|\s+status\s+\|\s+active/);
    assert.match(created, new RegExp(`\\|\\s+size\\s+\\|\\s+${data.length}`));
    // a few more images so that a page size of 2 needs `next` links
    // (made over HTTP: both CLIs read image data from a non-tty stdin when no --file is given)
    const token = await issueToken(cloud.localUrl, {
      name: 'admin',
      password: cloud.adminPassword,
      project: 'admin',
    });
    for (const name of ['g-1', 'g-2', 'g-3']) {
      const res = await fetch(`${cloud.localUrl}/image/v2/images`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-auth-token': token },
        body: JSON.stringify({ name, disk_format: 'raw', container_format: 'bare' }),
      });
      assert.equal(res.status, 201);
    }
    const listed = await glance(['image-list', '--page-size', '2']);
    for (const n of ['g-raw', 'g-1', 'g-2', 'g-3']) assert.match(listed, new RegExp(`\\| ${n} `));
    const out = join(dir, 'downloaded.raw');
    await glance(['image-download', '--file', out, id]);
    assert.ok(Buffer.compare(readFileSync(out), data) === 0);
    await glance(['image-update', '--property', 'os_version=13', id]);
    assert.match(await glance(['image-show', id]), /\|\s+os_version\s+\|\s+13/);
    for (const line of listed.split('\n')) {
      const m = /^\|\s+([0-9a-f-]{36})\s+\|/.exec(line);
      if (m) await glance(['image-delete', m[1]]);
    }
    assert.doesNotMatch(await glance(['image-list']), /[0-9a-f-]{36}/);
  });
});
