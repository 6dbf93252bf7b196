/**
 * Glance image transfer benchmark: upload and download of one large file through the image API of a real API
 * process (`kvmstack up --api-only` in a temporary data directory), beside `cp` of the same file on the same
 * store. Prints MB/s of each, the ratios, and the API process's peak RSS (VmHWM) during each transfer: an upload
 * streams through md5 + sha512 into a temporary file, so the peak must stay near the idle RSS whatever the size.
 *
 *   npm run bench:image                                   # 1024 MiB
 *   node dist/bench/image-transfer.js --size-mb 256 --keep
 *
 * Figures only, never pass/fail. The client runs on the same machine and takes CPU from the API process.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CLI_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../tools/cli/main.js');
const MiB = 1024 * 1024;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((ok, fail) =>
    execFile(cmd, args, { env, timeout: 600_000, maxBuffer: 16 * MiB }, (err, stdout, stderr) =>
      err ? fail(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : ok(stdout),
    ),
  );
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => ok(port));
    });
  });
}

/** Writes `bytes` of incompressible data with `head -c` from /dev/urandom (once, outside any measurement). */
function makeFile(path: string, bytes: number): Promise<void> {
  return new Promise((ok, fail) => {
    const out = createWriteStream(path);
    const child = spawn('head', ['-c', String(bytes), '/dev/urandom'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.pipe(out);
    child.once('error', fail);
    out.once('finish', () => ok());
  });
}

const statusOf = (pid: number, field: string): number => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
};
/** Resets the process's peak RSS to its current RSS (Linux clear_refs 5), so VmHWM measures one transfer. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  const r = await f();
  return [r, Number(process.hrtime.bigint() - t0) / 1e9];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'size-mb': { type: 'string', default: '1024' }, keep: { type: 'boolean', default: false } },
  });
  const bytes = Number(values['size-mb']) * MiB;
  const work = mkdtempSync(join(tmpdir(), 'kvmstack-bench-image-'));
  const dataDir = join(work, 'data');
  const configFile = join(work, 'kvmstack.conf');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const password = randomBytes(12).toString('hex');
  const env = {
    ...process.env,
    KVMSTACK_BOOTSTRAP_ADMIN_PASSWORD: password,
    KVMSTACK_IDENTITY_PASSWORD_HASH_ROUNDS: '4',
  };
  writeFileSync(
    configFile,
    [
      '[DEFAULT]',
      `data_dir = ${dataDir}`,
      '[api]',
      'listen = 127.0.0.1',
      `port = ${port}`,
      `public_url = ${url}`,
      '',
    ].join('\n'),
  );
  const store = join(dataDir, 'stores', 'local');
  try {
    await run(
      process.execPath,
      [CLI_MAIN, '--config', configFile, 'up', '--data-dir', dataDir, '--port', String(port), '--api-only'],
      env,
    );
    const pid = Number(readFileSync(join(dataDir, 'kvmstack-api.pid'), 'utf8').trim());
    const source = join(store, 'bench-source.raw');
    await run('mkdir', ['-p', store]);
    console.log(`writing ${bytes / MiB} MiB of random data to ${source} ...`);
    await makeFile(source, bytes);
    await run('sync', []);

    const auth = await fetch(`${url}/identity/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: 'admin', domain: { id: 'default' }, password } },
          },
          scope: { project: { name: 'admin', domain: { id: 'default' } } },
        },
      }),
    });
    const token = auth.headers.get('x-subject-token') as string;
    const created = await fetch(`${url}/image/v2/images`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-auth-token': token },
      body: JSON.stringify({ name: 'bench', disk_format: 'raw', container_format: 'bare' }),
    });
    const imageId = ((await created.json()) as { id: string }).id;
    const idleRss = statusOf(pid, 'VmRSS');

    // upload: the file streamed as the request body with its Content-Length
    await run('sync', []);
    const peakReset = resetPeak(pid);
    const [, upSeconds] = await timed(
      () =>
        new Promise<void>((ok, fail) => {
          const req = request(`${url}/image/v2/images/${imageId}/file`, {
            method: 'PUT',
            headers: {
              'x-auth-token': token,
              'content-type': 'application/octet-stream',
              'content-length': String(bytes),
            },
          });
          req.once('response', (res) => {
            res.resume();
            res.once('end', () =>
              res.statusCode === 204 ? ok() : fail(new Error(`upload: HTTP ${res.statusCode}`)),
            );
          });
          req.once('error', fail);
          createReadStream(source).pipe(req);
        }),
    );
    const uploadPeak = statusOf(pid, 'VmHWM');

    await run('sync', []);
    // download: the response streamed to a file on the same store, hashed on the way
    resetPeak(pid);
    const downloaded = join(store, 'bench-download.raw');
    const md5 = createHash('md5');
    const [contentMd5, downSeconds] = await timed(
      () =>
        new Promise<string | undefined>((ok, fail) => {
          const req = request(`${url}/image/v2/images/${imageId}/file`, {
            headers: { 'x-auth-token': token },
          });
          req.once('response', (res) => {
            if (res.statusCode !== 200) return fail(new Error(`download: HTTP ${res.statusCode}`));
            const meter = new Transform({
              transform(chunk: Buffer, _enc, done) {
                md5.update(chunk);
                done(null, chunk);
              },
            });
            pipeline(res, meter, createWriteStream(downloaded)).then(
              () => ok(res.headers['content-md5'] as string | undefined),
              fail,
            );
          });
          req.once('error', fail);
          req.end();
        }),
    );
    const downloadPeak = statusOf(pid, 'VmHWM');
    if (contentMd5 !== md5.digest('hex')) throw new Error('downloaded data does not match Content-MD5');
    if (statSync(downloaded).size !== bytes) throw new Error('downloaded size differs');

    // cp on the same store: with the copy synced (as the upload fsyncs its file before answering), then plain
    await run('sync', []);
    const copy = join(store, 'bench-copy.raw');
    const [, cpSyncSeconds] = await timed(async () => {
      await run('cp', [source, copy]);
      await run('sync', [copy]);
    });
    rmSync(copy);
    await run('sync', []);
    const [, cpSeconds] = await timed(() => run('cp', [source, copy]));
    const mbs = (s: number) => bytes / 1e6 / s;
    const row = (what: string, s: number) =>
      console.log(`${what.padEnd(28)} ${s.toFixed(2).padStart(7)} s ${mbs(s).toFixed(0).padStart(7)} MB/s`);
    console.log(`\nimage transfer of ${bytes / MiB} MiB through the Glance API (store ${store})`);
    row('upload (PUT file)', upSeconds);
    row('download (GET file)', downSeconds);
    row('cp', cpSeconds);
    row('cp + sync', cpSyncSeconds);
    console.log(`upload / (cp + sync)         ${(cpSyncSeconds / upSeconds).toFixed(2)}`);
    console.log(`upload / cp                  ${(cpSeconds / upSeconds).toFixed(2)}`);
    console.log(`download / cp                ${(cpSeconds / downSeconds).toFixed(2)}`);
    const mib = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
    console.log(
      `API process RSS: idle ${mib(idleRss)}, peak during upload ${mib(uploadPeak)}, peak during download ${mib(downloadPeak)}` +
        (peakReset ? '' : ' (peak not reset: /proc/PID/clear_refs not writable, peaks include start-up)'),
    );
  } finally {
    await run(process.execPath, [CLI_MAIN, '--config', configFile, 'stop'], env).catch((err: Error) =>
      console.error(`stop failed: ${err.message}`),
    );
    if (values.keep) console.log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
