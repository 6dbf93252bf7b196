/**
 * Nova key pairs: import and server-side generation (ssh, x509), the per-microversion shapes (wrapped list,
 * type 2.2, 200/201 and 202/204, user_id 2.10, paging 2.35), other users' key pairs, and the quota.
 * Fingerprints and generated keys are checked against OpenSSH's own ssh-keygen.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Response } from 'supertest';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';

const SAMPLES = join(process.cwd(), 'test/samples/compute');

/** Golden bodies: written once when missing (then reviewed), compared afterwards; uuids and port masked. */
function golden(name: string, body: unknown): void {
  const masked = JSON.parse(
    JSON.stringify(body)
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
      .replace(/\b[0-9a-f]{32}\b/g, '<hexid>')
      .replace(/http:\/\/127\.0\.0\.1:\d+/g, 'http://<host>'),
  );
  const file = join(SAMPLES, `${name}.json`);
  if (!existsSync(file)) {
    mkdirSync(SAMPLES, { recursive: true });
    writeFileSync(file, `${JSON.stringify(masked, null, 2)}\n`);
  }
  assert.deepEqual(masked, JSON.parse(readFileSync(file, 'utf8')), `golden ${name}`);
}

/** The response is Nova's fault body with this status and fault name. */
function assertFault(res: Response, status: number, fault: string, message?: RegExp): void {
  assert.equal(
    res.status,
    status,
    `expected ${status} ${fault}, got ${res.status} ${JSON.stringify(res.body)}`,
  );
  assert.equal(res.body?.[fault]?.code, status, JSON.stringify(res.body));
  if (message) assert.match(res.body[fault].message, message);
}

const dir = mkdtempSync(join(tmpdir(), 'kvmstack-keys-'));
/** A fresh OpenSSH public key of this type and its MD5 fingerprint as ssh-keygen prints it. */
function sshKey(type: 'rsa' | 'ed25519' | 'ecdsa', name: string): { pub: string; fp: string } {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `${name}@test`, '-f', file]);
  const pub = readFileSync(`${file}.pub`, 'utf8').trim();
  const fp = /MD5:(\S+)/.exec(
    execFileSync('ssh-keygen', ['-l', '-E', 'md5', '-f', `${file}.pub`], { encoding: 'utf8' }),
  )![1];
  return { pub, fp };
}

for (const backend of testBackends()) {
  describe(`compute key pairs [${backend}]`, () => {
    let api: TestApi;
    let admin: string;
    let alice: string;
    let aliceId: string;
    let bob: string;
    let bobId: string;
    let quotaUser: string;

    const nova = (method: 'get' | 'put' | 'post' | 'delete', path: string, mv = '2.1', token = alice) =>
      api.http[method](`/compute/v2.1${path}`)
        .set('X-Auth-Token', token)
        .set('OpenStack-API-Version', `compute ${mv}`);

    before(async () => {
      api = await startTestApi(backend, { overrides: { 'compute.quota_key_pairs': 10 } });
      admin = await api.adminToken();
      const p = await api.createProject('kp');
      const users = [];
      for (const name of ['alice', 'bob', 'carol']) {
        const u = await api.createUser(name, `pw-${name}-secret`);
        await api.grant(p.id, u.id, 'member');
        users.push({ id: u.id, token: await api.tokenFor(u.id, `pw-${name}-secret`, p.id) });
      }
      [{ id: aliceId, token: alice }, { id: bobId, token: bob }, { token: quotaUser }] = users;
    });
    after(async () => {
      await api.close();
    });

    it('imports ssh keys with OpenSSH MD5 fingerprints; 200 before 2.2, 201 with type from 2.2', async () => {
      const rsa = sshKey('rsa', `rsa-${backend}`);
      const r1 = await nova('post', '/os-keypairs').send({ keypair: { name: 'rsa', public_key: rsa.pub } });
      assert.equal(r1.status, 200, JSON.stringify(r1.body));
      assert.deepEqual(r1.body.keypair, {
        name: 'rsa',
        public_key: rsa.pub,
        fingerprint: rsa.fp,
        user_id: aliceId,
      });
      for (const type of ['ed25519', 'ecdsa'] as const) {
        const k = sshKey(type, `${type}-${backend}`);
        const r = await nova('post', '/os-keypairs', '2.2').send({
          keypair: { name: type, public_key: k.pub },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.equal(r.body.keypair.fingerprint, k.fp);
        assert.equal(r.body.keypair.type, 'ssh');
        assert.equal('private_key' in r.body.keypair, false);
      }
      golden('keypair-import@2.2', {
        keypair: {
          ...(await nova('get', '/os-keypairs/ed25519', '2.2').expect(200)).body.keypair,
          public_key: '<key>',
          fingerprint: '<fp>',
          user_id: '<user>',
          id: '<id>',
          created_at: '<time>',
        },
      });
    });

    it('generates an RSA key pair whose private key matches its public key', async () => {
      const r = await nova('post', '/os-keypairs', '2.2').send({ keypair: { name: 'gen' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const k = r.body.keypair;
      assert.match(k.private_key, /^-----BEGIN RSA PRIVATE KEY-----\n/);
      assert.match(k.public_key, /^ssh-rsa \S+ Generated-by-Nova$/);
      const file = join(dir, `gen-${backend}`);
      writeFileSync(file, k.private_key, { mode: 0o600 });
      const derived = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim();
      assert.equal(derived, k.public_key.split(' ').slice(0, 2).join(' '));
      writeFileSync(`${file}.pub`, k.public_key);
      const fp = /MD5:(\S+)/.exec(
        execFileSync('ssh-keygen', ['-l', '-E', 'md5', '-f', `${file}.pub`], { encoding: 'utf8' }),
      )![1];
      assert.equal(k.fingerprint, fp);
      // the private key is returned once: show does not carry it
      const shown = (await nova('get', '/os-keypairs/gen', '2.2').expect(200)).body.keypair;
      assert.equal('private_key' in shown, false);
      golden('keypair-create-generated@2.2', {
        keypair: { ...k, public_key: '<key>', private_key: '<pem>', fingerprint: '<fp>', user_id: '<user>' },
      });
    });

    it('imports and generates x509 certificates from 2.2', async () => {
      const r = await nova('post', '/os-keypairs', '2.2').send({ keypair: { name: 'cert', type: 'x509' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.match(r.body.keypair.public_key, /^-----BEGIN CERTIFICATE-----/);
      assert.equal(r.body.keypair.type, 'x509');
      assert.ok(Buffer.from(r.body.keypair.private_key, 'base64').length > 1000, 'a PKCS#12 bundle');
      const certFile = join(dir, `cert-${backend}.pem`);
      writeFileSync(certFile, r.body.keypair.public_key);
      const sha1 = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha1', '-in', certFile], {
        encoding: 'utf8',
      });
      assert.equal(r.body.keypair.fingerprint, sha1.split('=')[1].trim().toLowerCase());
      const imported = await nova('post', '/os-keypairs', '2.2').send({
        keypair: { name: 'cert2', type: 'x509', public_key: r.body.keypair.public_key },
      });
      assert.equal(imported.status, 201, JSON.stringify(imported.body));
      assert.equal(imported.body.keypair.fingerprint, r.body.keypair.fingerprint);
      assertFault(
        await nova('post', '/os-keypairs', '2.2').send({
          keypair: { name: 'cert3', type: 'x509', public_key: 'not a cert' },
        }),
        400,
        'badRequest',
        /Keypair data is invalid: failed to generate X509 fingerprint/,
      );
      // type does not exist before 2.2
      assertFault(
        await nova('post', '/os-keypairs', '2.1').send({ keypair: { name: 'cert4', type: 'x509' } }),
        400,
        'badRequest',
      );
      for (const name of ['cert', 'cert2']) await nova('delete', `/os-keypairs/${name}`, '2.2').expect(204);
    });

    it('lists wrapped items, shows the full row, and deletes with 202 / 204', async () => {
      const list = (await nova('get', '/os-keypairs').expect(200)).body;
      assert.deepEqual(
        list.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name),
        ['ecdsa', 'ed25519', 'gen', 'rsa'],
      );
      assert.deepEqual(Object.keys(list.keypairs[0].keypair).sort(), ['fingerprint', 'name', 'public_key']);
      const l22 = (await nova('get', '/os-keypairs', '2.2').expect(200)).body;
      assert.equal(l22.keypairs[0].keypair.type, 'ssh');
      golden('keypair-list@2.2', {
        keypairs: [{ keypair: { ...l22.keypairs[0].keypair, public_key: '<key>', fingerprint: '<fp>' } }],
      });
      const show = (await nova('get', '/os-keypairs/rsa').expect(200)).body.keypair;
      assert.equal(typeof show.id, 'number');
      assert.equal(show.deleted, false);
      assert.equal(show.deleted_at, null);
      assert.equal(show.updated_at, null);
      assert.match(show.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
      assert.equal('type' in show, false);
      golden('keypair-show@2.1', {
        keypair: {
          ...show,
          public_key: '<key>',
          fingerprint: '<fp>',
          user_id: '<user>',
          id: '<id>',
          created_at: '<time>',
        },
      });
      // another user's key pairs do not exist for bob, and bob may not name alice before or after 2.10
      assertFault(
        await nova('get', '/os-keypairs/rsa', '2.1', bob),
        404,
        'itemNotFound',
        new RegExp(`Keypair rsa not found for user ${bobId}`),
      );
      assert.deepEqual((await nova('get', '/os-keypairs', '2.1', bob).expect(200)).body, { keypairs: [] });
      assertFault(await nova('get', `/os-keypairs?user_id=${aliceId}`, '2.10', bob), 403, 'forbidden');
      assertFault(await nova('delete', `/os-keypairs/rsa?user_id=${aliceId}`, '2.10', bob), 403, 'forbidden');
      // an admin names the user from 2.10 (before 2.10 the parameter is ignored)
      assert.equal(
        (await nova('get', `/os-keypairs?user_id=${aliceId}`, '2.10', admin).expect(200)).body.keypairs
          .length,
        4,
      );
      assert.equal(
        (await nova('get', `/os-keypairs?user_id=${aliceId}`, '2.9', admin).expect(200)).body.keypairs.length,
        0,
      );
      await nova('get', `/os-keypairs/rsa?user_id=${aliceId}`, '2.10', admin).expect(200);
      const forBob = await nova('post', '/os-keypairs', '2.10', admin).send({
        keypair: { name: 'given', user_id: bobId },
      });
      assert.equal(forBob.status, 201, JSON.stringify(forBob.body));
      assert.equal(forBob.body.keypair.user_id, bobId);
      assertFault(
        await nova('post', '/os-keypairs', '2.10', bob).send({ keypair: { name: 'x', user_id: aliceId } }),
        403,
        'forbidden',
      );
      await nova('get', '/os-keypairs/given', '2.1', bob).expect(200);
      // delete: 202 before 2.2, 204 from 2.2
      await nova('delete', '/os-keypairs/given', '2.1', bob).expect(202);
      await nova('delete', '/os-keypairs/ecdsa', '2.2').expect(204);
      assertFault(await nova('delete', '/os-keypairs/ecdsa', '2.2'), 404, 'itemNotFound');
    });

    it('pages from 2.35 with keypairs_links', async () => {
      const names: string[] = [];
      let url = '/os-keypairs?limit=1';
      for (let i = 0; i < 10 && url; i++) {
        const page = (await nova('get', url, '2.35').expect(200)).body;
        names.push(...page.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name));
        const next = page.keypairs_links?.[0]?.href as string | undefined;
        url = next ? next.slice(next.indexOf('/os-keypairs')) : '';
      }
      assert.deepEqual(names, ['ed25519', 'gen', 'rsa']);
      // before 2.35 limit is ignored
      assert.equal((await nova('get', '/os-keypairs?limit=1', '2.34').expect(200)).body.keypairs.length, 3);
      assertFault(
        await nova('get', '/os-keypairs?marker=zzz', '2.35'),
        400,
        'badRequest',
        /Marker zzz could not be found/,
      );
      assertFault(await nova('get', '/os-keypairs?limit=x', '2.35'), 400, 'badRequest');
      assertFault(await nova('get', '/os-keypairs?colour=red', '2.75'), 400, 'badRequest');
    });

    it('refuses bad names, bad keys and duplicates, and enforces the quota per user', async () => {
      const k = sshKey('ed25519', `dup-${backend}`);
      for (const name of ['', 'a/b', 'dots.not.ok', ' lead', 'x'.repeat(256), 'é']) {
        assertFault(
          await nova('post', '/os-keypairs', '2.2', quotaUser).send({ keypair: { name, public_key: k.pub } }),
          400,
          'badRequest',
        );
      }
      for (const public_key of [
        '',
        'ssh-rsa',
        'ssh-rsa AAAA',
        'ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ==',
        'nonsense words here',
        k.pub.replace(/.{8} /, ' '),
      ]) {
        assertFault(
          await nova('post', '/os-keypairs', '2.2', quotaUser).send({ keypair: { name: 'bad', public_key } }),
          400,
          'badRequest',
          /Keypair data is invalid: failed to generate fingerprint/,
        );
      }
      assertFault(
        await nova('post', '/os-keypairs', '2.2', quotaUser).send({
          keypair: { name: 'k', public_key: k.pub, extra: 1 },
        }),
        400,
        'badRequest',
      );
      await nova('post', '/os-keypairs', '2.2', quotaUser)
        .send({ keypair: { name: 'k0', public_key: k.pub } })
        .expect(201);
      assertFault(
        await nova('post', '/os-keypairs', '2.2', quotaUser).send({
          keypair: { name: 'k0', public_key: k.pub },
        }),
        409,
        'conflictingRequest',
        /Key pair 'k0' already exists./,
      );
      // the same name belongs to each user separately
      await nova('post', '/os-keypairs', '2.2', bob)
        .send({ keypair: { name: 'k0', public_key: k.pub } })
        .expect(201);
      // quota 10: nine more fit, concurrently racing creates never end above it
      const racing = await Promise.all(
        ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9', 'k10', 'k11'].map((name) =>
          nova('post', '/os-keypairs', '2.2', quotaUser).send({ keypair: { name, public_key: k.pub } }),
        ),
      );
      const ok = racing.filter((r) => r.status === 201).length;
      assert.ok(ok >= 1 && ok <= 9, racing.map((r) => r.status).join(','));
      for (const r of racing.filter((x) => x.status !== 201)) {
        assertFault(r, 403, 'forbidden', /Quota exceeded, too many key pairs\./);
      }
      const owned = (await nova('get', '/os-keypairs', '2.2', quotaUser).expect(200)).body.keypairs.length;
      assert.ok(owned <= 10, `owns ${owned}`);
      while ((await nova('get', '/os-keypairs', '2.2', quotaUser)).body.keypairs.length < 10) {
        await nova('post', '/os-keypairs', '2.2', quotaUser)
          .send({ keypair: { name: `fill-${Date.now()}`, public_key: k.pub } })
          .expect(201);
      }
      assertFault(
        await nova('post', '/os-keypairs', '2.2', quotaUser).send({ keypair: { name: 'over' } }),
        403,
        'forbidden',
        /Quota exceeded/,
      );
    });
  });
}

process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
