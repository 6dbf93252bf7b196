/**
 * The real clients on Nova flavors and key pairs against `kvmstack up --api-only`: the openstack CLI (which
 * negotiates high microversions through the SDK) and the nova CLI (capped at 2.13 by discovery).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exec, startKvmstack, type Kvmstack } from './support.js';

type Row = Record<string, unknown>;

describe('openstack and nova CLIs: flavors and key pairs', { timeout: 300_000 }, () => {
  let cloud: Kvmstack;
  const dir = mkdtempSync(join(tmpdir(), 'kvmstack-e2e-keys-'));
  const keyFile = join(dir, 'id');
  before(async () => {
    cloud = await startKvmstack();
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'e2e', '-f', keyFile]);
  });
  after(async () => {
    await cloud?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const nova = async (args: string[]) => {
    const r = await exec('nova', args, { env: cloud.env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `nova ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  it('openstack flavor create/list/show/set/unset/delete, private flavors shared with a project', async () => {
    const f = await cloud.run<Row>([
      'flavor',
      'create',
      '--ram',
      '256',
      '--disk',
      '1',
      '--vcpus',
      '1',
      '--private',
      '--property',
      'hw:x=y',
      'tiny',
    ]);
    assert.equal(f.name, 'tiny');
    assert.equal(f.ram, 256);
    assert.equal(f['os-flavor-access:is_public'] ?? f.is_public, false);
    const id = String(f.id);
    const all = await cloud.run<Row[]>(['flavor', 'list', '--all']);
    assert.ok(all.some((r) => r.ID === id && r.Name === 'tiny'));
    assert.equal(
      (await cloud.run<Row[]>(['flavor', 'list'])).some((r) => r.ID === id),
      false,
      'private: not in the public list',
    );
    const shown = await cloud.run<Row>(['flavor', 'show', 'tiny']);
    assert.equal(shown.id, id);
    assert.match(JSON.stringify(shown.properties), /hw:x/);
    await cloud.run(['flavor', 'set', '--property', 'hw:z=w', '--description', 'small', 'tiny']);
    const set = await cloud.run<Row>(['flavor', 'show', id]);
    assert.match(JSON.stringify(set.properties), /hw:z/);
    assert.equal(set.description, 'small');
    await cloud.run(['flavor', 'unset', '--property', 'hw:x', 'tiny']);
    assert.doesNotMatch(JSON.stringify((await cloud.run<Row>(['flavor', 'show', id])).properties), /hw:x/);
    const p = await cloud.run<Row>(['project', 'create', 'flavor-users']);
    await cloud.run(['flavor', 'set', '--project', String(p.id), 'tiny']);
    const access = await cloud.run<Row>(['flavor', 'show', id]);
    assert.match(JSON.stringify(access.access_project_ids), new RegExp(String(p.id)));
    await cloud.run(['flavor', 'unset', '--project', String(p.id), 'tiny']);
    await cloud.run(['flavor', 'delete', 'tiny']);
    const gone = await cloud.attempt(['flavor', 'show', id]);
    assert.notEqual(gone.code, 0);
  });

  it('openstack keypair create (import and generated), list, show, delete', async () => {
    const pub = readFileSync(`${keyFile}.pub`, 'utf8').trim();
    const fp = /MD5:(\S+)/.exec(
      execFileSync('ssh-keygen', ['-l', '-E', 'md5', '-f', `${keyFile}.pub`], { encoding: 'utf8' }),
    )![1];
    const k1 = await cloud.run<Row>(['keypair', 'create', '--public-key', `${keyFile}.pub`, 'k1']);
    assert.equal(k1.fingerprint, fp);
    const gen = await exec('openstack', ['keypair', 'create', 'k2'], { env: cloud.env, timeoutMs: 60_000 });
    assert.equal(gen.code, 0, gen.stderr);
    assert.match(gen.stdout, /-----BEGIN RSA PRIVATE KEY-----/, 'the private key is printed');
    const list = await cloud.run<Row[]>(['keypair', 'list']);
    assert.deepEqual(list.map((r) => r.Name).sort(), ['k1', 'k2']);
    const show = await cloud.run<Row>(['keypair', 'show', 'k1']);
    assert.equal(show.fingerprint, fp);
    // --public-key prints the bare key (OSC then adds an empty {} under -f json)
    const raw = await exec('openstack', ['keypair', 'show', '--public-key', 'k1'], { env: cloud.env });
    assert.equal(raw.code, 0, raw.stderr);
    assert.equal(raw.stdout.trim(), pub);
    await cloud.run(['keypair', 'delete', 'k1', 'k2']);
    assert.deepEqual(await cloud.run<Row[]>(['keypair', 'list']), []);
  });

  it('nova flavor-list, keypair-add --pub-key, keypair-list (2.13)', async () => {
    await cloud.run(['flavor', 'create', '--ram', '128', '--disk', '0', '--vcpus', '1', '--id', '7', 'nano']);
    assert.match(await nova(['flavor-list']), /\|\s*7\s*\|\s*nano\s*\|\s*128\s*\|/);
    await nova(['keypair-add', '--pub-key', `${keyFile}.pub`, 'nk']);
    const fp = /MD5:(\S+)/.exec(
      execFileSync('ssh-keygen', ['-l', '-E', 'md5', '-f', `${keyFile}.pub`], { encoding: 'utf8' }),
    )![1];
    assert.match(await nova(['keypair-list']), new RegExp(`nk\\s*\\|\\s*ssh\\s*\\|\\s*${fp}`));
    await nova(['keypair-delete', 'nk']);
    assert.doesNotMatch(await nova(['keypair-list']), /nk/);
  });
});
