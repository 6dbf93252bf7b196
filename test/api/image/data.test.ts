import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  imageInUse,
  imageLocation,
  removeStrayImageFiles,
  strayImageFiles,
} from '../../../src/image/images/service.js';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';
import { binary, createImage, qcow2, tenant, upload, type Tenant } from './support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const QUOTA = 1024 * 1024;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(25);
  }
}

/** A raw PUT of image data whose body the test writes itself (chunked unless a length is given). */
function rawUpload(
  api: TestApi,
  token: string,
  id: string,
  length?: number,
): { req: ClientRequest; response: Promise<IncomingMessage & { text: string }> } {
  const url = new URL(`${api.url}/image/v2/images/${id}/file`);
  const req = httpRequest(url, {
    method: 'PUT',
    headers: {
      'X-Auth-Token': token,
      'Content-Type': 'application/octet-stream',
      ...(length !== undefined ? { 'Content-Length': String(length) } : {}),
    },
  });
  const response = new Promise<IncomingMessage & { text: string }>((resolve, reject) => {
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve(Object.assign(res, { text })));
    });
    // a write after the server answered and closed (quota) may fail: the answer is what counts
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
  });
  return { req, response };
}

for (const backend of testBackends()) {
  describe(`Glance image data: upload, download, inspection, quota, failures [${backend}]`, () => {
    let api: TestApi;
    let a: Tenant;
    let b: Tenant;
    let storeImages: string;
    const show = async (id: string) =>
      (await api.http.get(`/image/v2/images/${id}`).set('X-Auth-Token', a.member)).body;
    const storeFiles = () => (existsSync(storeImages) ? readdirSync(storeImages).sort() : []);

    before(async () => {
      api = await startTestApi(backend, { overrides: { 'image.project_storage_quota': QUOTA } });
      a = await tenant(api, 'data-a');
      b = await tenant(api, 'data-b');
      storeImages = join(api.dataDir, 'stores', 'local', 'images');
    });
    after(() => api.close());

    it('raw round trip: md5, sha512, size, virtual_size, Content-MD5; location for compute', async () => {
      const img = await createImage(api, a.member);
      const empty = await api.http.get(`/image/v2/images/${img.id}/file`).set('X-Auth-Token', a.member);
      assert.equal(empty.status, 204); // Glance: no data yet, no content
      assert.equal(await imageLocation(api.service.deps.db, img.id), null);
      const data = randomBytes(300_000);
      const put = await upload(api, a.member, img.id, data);
      assert.equal(put.status, 204, put.text);
      const shown = await show(img.id);
      assert.equal(shown.status, 'active');
      assert.equal(shown.size, data.length);
      assert.equal(shown.virtual_size, data.length);
      assert.equal(shown.checksum, createHash('md5').update(data).digest('hex'));
      assert.equal(shown.os_hash_algo, 'sha512');
      assert.equal(shown.os_hash_value, createHash('sha512').update(data).digest('hex'));
      const got = await api.http
        .get(`/image/v2/images/${img.id}/file`)
        .set('X-Auth-Token', b.member) // a shared-visibility image is not visible to another project
        .buffer(true)
        .parse(binary);
      assert.equal(got.status, 404);
      const down = await api.http
        .get(`/image/v2/images/${img.id}/file`)
        .set('X-Auth-Token', a.member)
        .buffer(true)
        .parse(binary);
      assert.equal(down.status, 200);
      assert.equal(down.headers['content-type'], 'application/octet-stream');
      assert.equal(down.headers['content-md5'], shown.checksum);
      assert.equal(Number(down.headers['content-length']), data.length);
      assert.ok(Buffer.compare(down.body as Buffer, data) === 0);
      // downloading needs the member role, as Glance's download_image
      const asReader = await api.http.get(`/image/v2/images/${img.id}/file`).set('X-Auth-Token', a.reader);
      assert.equal(asReader.status, 403);
      assert.deepEqual(await imageLocation(api.service.deps.db, img.id), {
        store: 'local',
        relativePath: `images/${img.id}`,
        diskFormat: 'raw',
        virtualSize: data.length,
        size: data.length,
      });
      assert.ok(Buffer.compare(readFileSync(join(storeImages, img.id)), data) === 0);
      assert.deepEqual(storeFiles(), [img.id]); // no temporary file left
      // a second upload is a conflict, with Glance's words
      const again = await upload(api, a.member, img.id, data);
      assert.equal(again.status, 409);
      assert.match(again.text, /Image status transition from active to saving is not allowed/);
      await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member).expect(204);
      assert.deepEqual(storeFiles(), []);
    });

    it('qcow2: virtual size from qemu-img; backing files and mismatched formats are refused', async () => {
      const good = await createImage(api, a.member, { disk_format: 'qcow2' });
      const q = qcow2('16M');
      assert.equal((await upload(api, a.member, good.id, q)).status, 204);
      const shown = await show(good.id);
      assert.equal(shown.virtual_size, 16 * 1024 * 1024);
      assert.equal(shown.size, q.length);

      const hostFile = join(api.dataDir, 'host-secret.raw');
      writeFileSync(hostFile, Buffer.alloc(4096, 7));
      const refused: [string, Buffer, RegExp][] = [
        ['qcow2', qcow2('16M', hostFile), /Image failed safety checks/],
        ['qcow2', randomBytes(65536), /Image disk_format qcow2 does not match stream data raw/],
        ['raw', q, /Image disk_format raw does not match stream data qcow2/],
        ['vmdk', randomBytes(4096), /Image disk_format vmdk does not match stream data raw/],
      ];
      for (const [diskFormat, data, message] of refused) {
        const img = await createImage(api, a.member, { disk_format: diskFormat });
        const res = await upload(api, a.member, img.id, data);
        assert.equal(res.status, 415, `${diskFormat}: ${res.text}`);
        assert.match(res.text, message);
        const after = await show(img.id);
        assert.equal(after.status, 'queued');
        assert.equal(after.size, null);
        assert.equal(after.checksum, null);
        await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member).expect(204);
      }
      assert.deepEqual(storeFiles(), [good.id]);
      await api.http.delete(`/image/v2/images/${good.id}`).set('X-Auth-Token', a.member).expect(204);
    });

    it('upload preconditions: media type, formats set, ownership', async () => {
      const img = await createImage(api, a.member);
      const wrongType = await api.http
        .put(`/image/v2/images/${img.id}/file`)
        .set('X-Auth-Token', a.member)
        .set('Content-Type', 'application/json')
        .send('{}');
      assert.equal(wrongType.status, 415);
      const bare = await createImage(api, a.member, { disk_format: null, container_format: null });
      const noFormat = await upload(api, a.member, bare.id, Buffer.from('x'));
      assert.equal(noFormat.status, 400);
      assert.match(
        noFormat.text,
        /Properties disk_format, container_format must be set prior to saving data/,
      );
      assert.equal((await upload(api, a.reader, img.id, Buffer.from('x'))).status, 403);
      assert.equal((await upload(api, b.member, img.id, Buffer.from('x'))).status, 404);
      assert.equal((await show(img.id)).status, 'queued');
      for (const i of [img, bare]) {
        await api.http.delete(`/image/v2/images/${i.id}`).set('X-Auth-Token', a.member).expect(204);
      }
    });

    it('quota: a declared length over it is 413 before reading; a chunked body is cut at it', async () => {
      const img = await createImage(api, a.member);
      const declared = await upload(api, a.member, img.id, Buffer.alloc(QUOTA + 1));
      assert.equal(declared.status, 413);
      assert.match(declared.text, /Image exceeds the storage quota/);
      assert.equal((await show(img.id)).status, 'queued');
      assert.deepEqual(storeFiles(), []);

      const chunked = rawUpload(api, a.member, img.id);
      chunked.req.on('error', () => undefined); // the server may close while we still write
      for (let i = 0; i < 20 && !chunked.req.destroyed; i++) {
        chunked.req.write(Buffer.alloc(64 * 1024, i));
        await sleep(5);
      }
      chunked.req.end();
      const res = await chunked.response;
      assert.equal(res.statusCode, 413);
      await until('the image is queued again', async () => (await show(img.id)).status === 'queued');
      assert.deepEqual(storeFiles(), []);

      // within the quota it works, and the next image only gets what is left
      assert.equal((await upload(api, a.member, img.id, Buffer.alloc(QUOTA - 1000))).status, 204);
      const second = await createImage(api, a.member);
      const over = await upload(api, a.member, second.id, Buffer.alloc(2000));
      assert.equal(over.status, 413);
      assert.match(over.text, /1000 bytes remaining/);
      // another project has its own quota
      const theirs = await createImage(api, b.member);
      assert.equal((await upload(api, b.member, theirs.id, Buffer.alloc(2000))).status, 204);
      for (const [t, i] of [
        [a.member, img],
        [a.member, second],
        [b.member, theirs],
      ] as const) {
        await api.http.delete(`/image/v2/images/${i.id}`).set('X-Auth-Token', t).expect(204);
      }
    });

    it('an interrupted upload leaves no file and the image queued', async () => {
      const img = await createImage(api, a.member);
      const up = rawUpload(api, a.member, img.id, 512 * 1024);
      up.req.on('error', () => undefined);
      up.req.write(Buffer.alloc(128 * 1024, 1));
      await until('the upload is saving', async () => (await show(img.id)).status === 'saving');
      up.response.catch(() => undefined); // no answer comes: the client hangs up
      up.req.destroy(); // the client disconnects mid-body
      await until('the image is queued again', async () => (await show(img.id)).status === 'queued');
      await until('no temporary file', async () => storeFiles().length === 0);
      // and it can be uploaded afterwards
      assert.equal((await upload(api, a.member, img.id, Buffer.alloc(1000, 2))).status, 204);
      await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member).expect(204);
    });

    it('two concurrent uploads: one 204, the other 409', async () => {
      const img = await createImage(api, a.member);
      const first = rawUpload(api, a.member, img.id);
      first.req.write(Buffer.alloc(32 * 1024, 1));
      await until('the first upload is saving', async () => (await show(img.id)).status === 'saving');
      const second = await upload(api, a.member, img.id, Buffer.alloc(1000, 3));
      assert.equal(second.status, 409);
      assert.match(second.text, /Image status transition from saving to saving is not allowed/);
      first.req.end(Buffer.alloc(1000, 1));
      assert.equal((await first.response).statusCode, 204);
      const shown = await show(img.id);
      assert.equal(shown.status, 'active');
      assert.equal(shown.size, 32 * 1024 + 1000);
      await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member).expect(204);
    });

    it('an image deleted during its upload: 410 and nothing left', async () => {
      const img = await createImage(api, a.member);
      const up = rawUpload(api, a.member, img.id);
      up.req.write(Buffer.alloc(4096, 1));
      await until('saving', async () => (await show(img.id)).status === 'saving');
      await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member).expect(204);
      up.req.end(Buffer.alloc(10, 1));
      assert.equal((await up.response).statusCode, 410);
      assert.deepEqual(storeFiles(), []);
    });

    it('finds and removes files no image row names and abandoned upload temporaries', async () => {
      const img = await createImage(api, a.member);
      await upload(api, a.member, img.id, Buffer.alloc(100)).expect(204);
      const orphan = join(storeImages, '11111111-2222-4333-8444-555555555555');
      const oldTemp = join(storeImages, '.upload-x.y');
      writeFileSync(orphan, 'left by a crash between the row delete and the file delete');
      writeFileSync(oldTemp, 'left by a crashed upload');
      utimesSync(oldTemp, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
      const deps = { ...api.service.deps, log: api.service.deps.log };
      assert.deepEqual((await strayImageFiles(deps)).sort(), [oldTemp, orphan].sort());
      assert.equal(await removeStrayImageFiles(deps), 2);
      assert.ok(!existsSync(orphan) && !existsSync(oldTemp), 'the stray files are gone');
      assert.deepEqual(await strayImageFiles(deps), []);
      assert.equal(
        (await api.http.get(`/image/v2/images/${img.id}/file`).set('X-Auth-Token', a.member)).status,
        200,
      );
      await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member).expect(204);
    });

    it('an image backing a VM cannot be deleted (409)', async () => {
      const img = await createImage(api, a.member);
      await upload(api, a.member, img.id, Buffer.alloc(1000)).expect(204);
      const db = api.service.deps.db;
      const mount = '/var/lib/kvmstack/stores/local';
      const spec = {
        uuid: '9d2c7e4e-1111-4222-8333-444455556666',
        disks: [
          { target: 'vda', path: `${mount}/instances/x/disk`, backingPath: `${mount}/images/${img.id}` },
        ],
      };
      await db('instances').insert({
        uuid: spec.uuid,
        spec: JSON.stringify(spec),
        desired_power: 'running',
        created_at: Date.now(),
        updated_at: Date.now(),
      });
      assert.deepEqual(await imageInUse(db, img.id), [spec.uuid]);
      const del = await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member);
      assert.equal(del.status, 409);
      assert.match(del.text, /in use/);
      assert.deepEqual(storeFiles(), [img.id]);
      await db('instances').where({ uuid: spec.uuid }).delete();
      await api.http.delete(`/image/v2/images/${img.id}`).set('X-Auth-Token', a.member).expect(204);
      assert.deepEqual(storeFiles(), []);
    });
  });
}
