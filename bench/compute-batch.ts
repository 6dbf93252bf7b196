/**
 * The design documents' baseline: 10 VMs created and configured one after another in 867 s. Here one
 * `openstack server create --min 10 --max 10` on the 3-host lab (real TCG guests of the tiny image on the
 * provider network, GlusterFS store): the time from the command to every server ACTIVE, and to every guest
 * answering ping at its fixed IP from the management network (the guest has configured itself from its config
 * drive by then), beside the 867 s baseline.
 *
 *   flock /tmp/kvmstack-lab.lock node dist/bench/compute-batch.js [--count 10] [--json FILE] [--compare PREV.json]
 *
 * The API is polled every 250 ms (GET /servers/detail) and each ACTIVE guest is pinged every 250 ms, so the
 * figures are exact to about that. The lab is brought up first (not timed) and removed at the end.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { tryRun } from '../src/common/exec.js';
import { labDown } from '../tools/lab/lab.js';
import { defaultStateDir } from '../tools/lab/topology.js';
import { issueToken } from '../test/e2e/support.js';
import { labUnavailable } from '../test/support/lab.js';
import { startComputeLab } from '../test/support/lab-compute.js';
import { median } from './support/stats.js';

const BASELINE_S = 867;
const POLL_MS = 250;
const TIMEOUT_MS = 900_000;

interface Report {
  date: string;
  count: number;
  allActiveS: number;
  allPingS: number;
  activeS: number[];
  pingS: number[];
  perHost: Record<string, number>;
}

interface ServerView {
  id: string;
  name: string;
  status: string;
  addresses: Record<string, { addr: string }[]>;
  'OS-EXT-SRV-ATTR:host'?: string;
  fault?: unknown;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '10' },
      json: { type: 'string' },
      compare: { type: 'string' },
    },
  });
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1 || count > 30) throw new Error('--count: 1..30');
  const why = labUnavailable();
  if (why) throw new Error(`the lab cannot run here: ${why}`);
  const stateDir = defaultStateDir();
  console.log('bringing up the 3-host lab (not timed) ...');
  const lab = await startComputeLab(stateDir);
  const stop = () => labDown({ stateDir });
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)));
  try {
    const base = lab.env.OS_AUTH_URL.replace(/\/identity\/v3\/?$/, '');
    const token = await issueToken(base, {
      name: lab.env.OS_USERNAME,
      password: lab.env.OS_PASSWORD,
      project: lab.env.OS_PROJECT_NAME,
    });
    const detail = async (): Promise<ServerView[]> => {
      const res = await fetch(`${base}/compute/v2.1/servers/detail?name=%5Ebatch-`, {
        headers: { 'x-auth-token': token, 'x-openstack-nova-api-version': '2.79' },
      });
      if (!res.ok) throw new Error(`servers/detail: ${res.status}`);
      return ((await res.json()) as { servers: ServerView[] }).servers;
    };

    console.log(`openstack server create --min ${count} --max ${count} batch ...`);
    const t0 = Date.now();
    await lab.openstack([
      ...['server', 'create', '--image', 'tiny', '--flavor', 'tiny', '--network', 'provider'],
      ...['--min', String(count), '--max', String(count), 'batch'],
    ]);
    const cliS = (Date.now() - t0) / 1000;
    const active = new Map<string, number>();
    const pinged = new Map<string, number>();
    const pinging = new Set<string>();
    const perHost: Record<string, number> = {};
    while (pinged.size < count) {
      if (Date.now() - t0 > TIMEOUT_MS) throw new Error(`not done after ${TIMEOUT_MS / 1000} s`);
      for (const s of await detail()) {
        if (s.status === 'ERROR') throw new Error(`${s.name}: ERROR ${JSON.stringify(s.fault)}`);
        if (s.status !== 'ACTIVE' || active.has(s.id)) continue;
        active.set(s.id, (Date.now() - t0) / 1000);
        const host = String(s['OS-EXT-SRV-ATTR:host']);
        perHost[host] = (perHost[host] ?? 0) + 1;
        const ip = Object.values(s.addresses).flat()[0]?.addr;
        if (!ip) throw new Error(`${s.name} has no address`);
        console.log(`  ${s.name} ACTIVE on ${host} at ${active.get(s.id)!.toFixed(1)} s (${ip})`);
        pinging.add(s.id);
        void (async () => {
          while ((await tryRun('ping', ['-c', '1', '-W', '1', ip])).code !== 0)
            if (Date.now() - t0 > TIMEOUT_MS) return;
            else await sleep(POLL_MS);
          pinged.set(s.id, (Date.now() - t0) / 1000);
          console.log(`  ${s.name} answers ping at ${pinged.get(s.id)!.toFixed(1)} s`);
        })();
      }
      await sleep(POLL_MS);
    }
    const activeS = [...active.values()].sort((a, b) => a - b);
    const pingS = [...pinged.values()].sort((a, b) => a - b);
    const report: Report = {
      date: new Date().toISOString(),
      count,
      allActiveS: activeS.at(-1)!,
      allPingS: pingS.at(-1)!,
      activeS,
      pingS,
      perHost,
    };
    const before = values.compare ? (JSON.parse(readFileSync(values.compare, 'utf8')) as Report) : undefined;
    const vs = (now: number, prev?: number) =>
      prev ? `   (before ${prev.toFixed(1)} s, x${(now / prev).toFixed(2)})` : '';
    console.log(`\n${count} servers from one request on 3 hosts (TCG guests, tiny image, GlusterFS store)`);
    console.log(`  the CLI returned after            ${cliS.toFixed(1)} s`);
    console.log(
      `  all ACTIVE after                  ${report.allActiveS.toFixed(1)} s (median ${median(activeS).toFixed(1)} s)${vs(report.allActiveS, before?.allActiveS)}`,
    );
    console.log(
      `  all answering ping after          ${report.allPingS.toFixed(1)} s (median ${median(pingS).toFixed(1)} s)${vs(report.allPingS, before?.allPingS)}`,
    );
    console.log(`  per host                          ${JSON.stringify(perHost)}`);
    console.log(
      `  baseline (10 VMs one after another) ${BASELINE_S} s: ${(BASELINE_S / report.allPingS).toFixed(1)}x faster` +
        (count === 10 ? '' : ` (note: ${count} VMs here, not 10)`),
    );
    if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
    await lab.openstack(['server', 'delete', '--wait', ...[...active.keys()]]);
  } finally {
    await stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
