/**
 * Boot overhead: `POST /servers` to ACTIVE on the all-in-one (real libvirt, TCG guests of the tiny image)
 * beside what an operator would do by hand for the same guest on the same host: `qemu-img create` of a qcow2
 * overlay on the same base image, `genisoimage` of a config drive with the same files, `virsh create` of the
 * same domain XML (kvmstack's own definition read back with `virsh dumpxml --inactive`, under another name,
 * uuid, MAC and directory). Runs alternate kvmstack-first and virsh-first; medians of --runs (>= 5).
 *
 *   node dist/bench/compute-boot.js [--runs 7] [--poll-ms 20] [--json FILE] [--compare PREVIOUS.json]
 *
 * kvmstack's time is to the first GET that shows ACTIVE (polled every --poll-ms: on average half of it is
 * the poll's); it includes the token-checked API call, scheduling and the claim, the port, the task, the
 * agent's overlay, config drive, define and start. The raw time ends when `virsh create` returns (the domain
 * runs). Needs root, libvirt, QEMU, genisoimage (tools/install-deps.sh). Everything it made is removed.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { run, tryRun } from '../src/common/exec.js';
import { loadConfig } from '../src/common/config/load.js';
import { ensureTinyImage, tinyImagePath } from '../tools/image/tiny.js';
import { issueToken, startKvmstack, type Kvmstack } from '../test/e2e/support.js';
import { median } from './support/stats.js';

const LIBVIRT = 'qemu:///system';
const TARGET_RATIO = 1.2;

interface Options {
  runs: number;
  pollMs: number;
  json?: string;
  compare?: string;
}

interface Report {
  date: string;
  runs: number;
  pollMs: number;
  samples: { kvmstack: number[]; kvmstackPost: number[]; raw: number[] };
  medians: { kvmstack: number; kvmstackPost: number; raw: number };
  ratio: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '7' },
      'poll-ms': { type: 'string', default: '20' },
      json: { type: 'string' },
      compare: { type: 'string' },
    },
  });
  const runs = Number(values.runs);
  const pollMs = Number(values['poll-ms']);
  if (!Number.isInteger(runs) || runs < 5 || runs > 50) throw new Error('--runs: an integer in 5..50');
  if (!Number.isInteger(pollMs) || pollMs < 5 || pollMs > 1000) throw new Error('--poll-ms: 5..1000');
  return { runs, pollMs, json: values.json, compare: values.compare };
}

const virsh = (args: string[]) => run('virsh', ['-c', LIBVIRT, ...args]);

/** The compute API as the admin: one token, plain fetch. */
interface ServerBody {
  id: string;
  status: string;
  fault?: unknown;
}

class Compute {
  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}
  async call(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: { server: ServerBody } }> {
    const res = await fetch(`${this.base}/compute/v2.1${path}`, {
      method,
      headers: {
        'x-auth-token': this.token,
        'content-type': 'application/json',
        'x-openstack-nova-api-version': '2.79',
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  }
}

interface Fixture {
  compute: Compute;
  imageId: string;
  flavorId: string;
  networkId: string;
}

/** POST /servers, then GET every pollMs until ACTIVE; the server is deleted (and gone) before returning. */
async function kvmstackBoot(
  f: Fixture,
  name: string,
  pollMs: number,
  keep?: (server: ServerBody) => Promise<void>,
): Promise<{ ms: number; postMs: number }> {
  const t0 = performance.now();
  const created = await f.compute.call('POST', '/servers', {
    server: { name, imageRef: f.imageId, flavorRef: f.flavorId, networks: [{ uuid: f.networkId }] },
  });
  const postMs = performance.now() - t0;
  if (created.status !== 202)
    throw new Error(`POST /servers: ${created.status} ${JSON.stringify(created.json)}`);
  const id = created.json.server.id;
  let server: ServerBody;
  for (;;) {
    server = (await f.compute.call('GET', `/servers/${id}`)).json.server;
    if (server.status === 'ACTIVE') break;
    if (server.status === 'ERROR') throw new Error(`${name}: ERROR ${JSON.stringify(server.fault)}`);
    if (performance.now() - t0 > 300_000) throw new Error(`${name}: not ACTIVE after 300 s`);
    await sleep(pollMs);
  }
  const ms = performance.now() - t0;
  if (keep) await keep(server);
  const del = await f.compute.call('DELETE', `/servers/${id}`);
  if (del.status !== 204) throw new Error(`DELETE: ${del.status}`);
  while ((await f.compute.call('GET', `/servers/${id}`)).status !== 404) await sleep(200);
  return { ms, postMs };
}

/** kvmstack's domain made into a template for the raw path: its XML, base image and config-drive files. */
interface RawTemplate {
  xml: string;
  uuid: string;
  mac: string;
  base: string;
  storeInstances: string;
  configFiles: Map<string, string>;
}

async function captureTemplate(server: ServerBody): Promise<RawTemplate> {
  const uuid = server.id;
  const xml = await virsh(['dumpxml', '--inactive', uuid]);
  const disk = /<source file='([^']*\/disk)'/.exec(xml)?.[1];
  const iso = /<source file='([^']*\.iso)'/.exec(xml)?.[1];
  const mac = /<mac address='([^']+)'/.exec(xml)?.[1];
  if (!disk || !iso || !mac) throw new Error(`unexpected domain XML:\n${xml}`);
  const info = JSON.parse(await run('qemu-img', ['info', '-U', '--output', 'json', disk]));
  const base = info['full-backing-filename'] ?? info['backing-filename'];
  if (!base) throw new Error(`${disk} has no backing file`);
  // the drive's files, read back from the ISO (isoinfo lists and extracts without mounting)
  const configFiles = new Map<string, string>();
  const listing = (await run('isoinfo', ['-R', '-f', '-i', iso])).split('\n').filter(Boolean);
  for (const p of listing) {
    if (!/\.json$|user_data$/.test(p)) continue;
    // (the drive's files are JSON text: no user data is given here)
    configFiles.set(p.replace(/^\//, ''), await run('isoinfo', ['-R', '-i', iso, '-x', p]));
  }
  return { xml, uuid, mac, base, storeInstances: dirname(dirname(disk)), configFiles };
}

/** The operator's way: overlay, config drive, virsh create. Returns ms to virsh's return; then removes it. */
async function rawBoot(t: RawTemplate, index: number): Promise<number> {
  const uuid = randomUUID();
  const dir = join(t.storeInstances, uuid);
  const mac = `52:54:00:b0:0${index % 10}:${(index % 256).toString(16).padStart(2, '0')}`;
  const xml = t.xml
    .replaceAll(t.uuid, uuid)
    .replace(/<name>[^<]*<\/name>/, `<name>bench-raw-${index}</name>`)
    .replace(`<mac address='${t.mac}'/>`, `<mac address='${mac}'/>`)
    .replace(/<target dev='tap[^']*'\/>/, '');
  const xmlFile = join(tmpdir(), `kvmstack-bench-raw-${uuid}.xml`);
  writeFileSync(xmlFile, xml);
  const stage = await mkdtemp(join(tmpdir(), 'kvmstack-bench-cd-'));
  try {
    const t0 = performance.now();
    mkdirSync(dir, { recursive: true });
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', t.base, join(dir, 'disk')]);
    for (const [p, content] of t.configFiles) {
      const file = join(stage, p.replaceAll(t.uuid, uuid));
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
    }
    const iso = join(dir, `config-drive-${uuid}.iso`);
    await run('genisoimage', ['-o', iso, '-V', 'config-2', '-r', '-J', '-quiet', stage]);
    await run('virsh', ['-c', LIBVIRT, 'create', xmlFile]);
    return performance.now() - t0;
  } finally {
    await tryRun('virsh', ['-c', LIBVIRT, 'destroy', uuid]);
    rmSync(dir, { recursive: true, force: true });
    rmSync(stage, { recursive: true, force: true });
    rmSync(xmlFile, { force: true });
  }
}

async function setUp(cloud: Kvmstack): Promise<Fixture> {
  const image = await ensureTinyImage({ out: tinyImagePath(loadConfig({ env: {} }).DEFAULT.data_dir) });
  const imageId = (
    await cloud.run<{ id: string }>([
      ...['image', 'create', '--file', image.path, '--disk-format', 'qcow2'],
      ...['--container-format', 'bare', '--public', 'tiny'],
    ])
  ).id;
  const flavorId = (
    await cloud.run<{ id: string }>([
      'flavor',
      'create',
      '--ram',
      '256',
      '--vcpus',
      '1',
      '--disk',
      '1',
      'tiny',
    ])
  ).id;
  const networkId = (await cloud.run<{ id: string }>(['network', 'create', 'bench'])).id;
  await cloud.run(['subnet', 'create', '--network', 'bench', '--subnet-range', '10.78.0.0/24', 'bench']);
  const token = await issueToken(cloud.localUrl, {
    name: 'admin',
    password: cloud.adminPassword,
    project: 'admin',
  });
  return { compute: new Compute(cloud.localUrl, token), imageId, flavorId, networkId };
}

function printReport(r: Report, before?: Report): void {
  const s = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
  const row = (label: string, med: number, xs: number[], prev?: number) =>
    console.log(
      `${label.padEnd(46)} median ${med.toFixed(0).padStart(6)} ms   runs: ${s(xs)}${prev ? `   (before ${prev.toFixed(0)} ms, x${(med / prev).toFixed(2)})` : ''}`,
    );
  console.log(`\nBoot overhead, ${r.runs} runs each (the all-in-one, TCG guests, tiny image, 256 MiB)`);
  row('kvmstack POST /servers -> ACTIVE', r.medians.kvmstack, r.samples.kvmstack, before?.medians.kvmstack);
  row(
    '  of which POST /servers answered',
    r.medians.kvmstackPost,
    r.samples.kvmstackPost,
    before?.medians.kvmstackPost,
  );
  row('raw qemu-img + genisoimage + virsh create', r.medians.raw, r.samples.raw, before?.medians.raw);
  console.log(
    `kvmstack / raw (of the medians): ${r.ratio.toFixed(2)}x (target <= ${TARGET_RATIO}x)${before ? `, before ${before.ratio.toFixed(2)}x` : ''}`,
  );
  console.log(
    `(kvmstack polls GET /servers/{id} every ${r.pollMs} ms: about ${r.pollMs / 2} ms of its figure)`,
  );
}

async function main(): Promise<void> {
  const opts = parseOptions();
  if (process.getuid?.() !== 0) throw new Error('needs root (libvirt, qemu-img on the store)');
  console.log('starting the all-in-one (kvmstack up) ...');
  const cloud = await startKvmstack({ apiOnly: false });
  const stop = async () => {
    await cloud.stop();
  };
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)));
  try {
    const f = await setUp(cloud);
    console.log('warm-up: one boot each way (image cache, libvirt, page cache) ...');
    let template: RawTemplate | undefined;
    await kvmstackBoot(f, 'bench-warm', opts.pollMs, async (s: ServerBody) => {
      template = await captureTemplate(s);
    });
    if (!template) throw new Error('no template');
    await rawBoot(template, 0);
    const samples = { kvmstack: [] as number[], kvmstackPost: [] as number[], raw: [] as number[] };
    for (let i = 1; i <= opts.runs; i++) {
      const order = i % 2 ? (['kvmstack', 'raw'] as const) : (['raw', 'kvmstack'] as const);
      for (const which of order) {
        if (which === 'raw') samples.raw.push(await rawBoot(template, i));
        else {
          const r = await kvmstackBoot(f, `bench-${i}`, opts.pollMs);
          samples.kvmstack.push(r.ms);
          samples.kvmstackPost.push(r.postMs);
        }
      }
      console.log(
        `run ${i}: kvmstack ${samples.kvmstack.at(-1)!.toFixed(0)} ms, raw ${samples.raw.at(-1)!.toFixed(0)} ms`,
      );
    }
    const medians = {
      kvmstack: median(samples.kvmstack),
      kvmstackPost: median(samples.kvmstackPost),
      raw: median(samples.raw),
    };
    const report: Report = {
      date: new Date().toISOString(),
      runs: opts.runs,
      pollMs: opts.pollMs,
      samples,
      medians,
      ratio: medians.kvmstack / medians.raw,
    };
    const before = opts.compare ? (JSON.parse(readFileSync(opts.compare, 'utf8')) as Report) : undefined;
    printReport(report, before);
    if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2));
  } finally {
    await stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
