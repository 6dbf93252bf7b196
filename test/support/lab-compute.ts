/**
 * A 3-host lab ready for servers, as an operator would prepare it with the openstack CLI: the tiny image
 * (public, qcow2), a `tiny` flavor (256 MiB, 1 vCPU, 1 GB), and the default security group opened to ping
 * and HTTP (it admits only its members otherwise). Shared by test/lab/compute-lab.test.ts and
 * bench/compute-batch.ts. Needs root and the lab's packages; run under `flock /tmp/kvmstack-lab.lock`.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/common/config/load.js';
import { tryRun } from '../../src/common/exec.js';
import { ensureTinyImage, tinyImagePath } from '../../tools/image/tiny.js';
import { labUp, type LabState } from '../../tools/lab/lab.js';
import { cleanEnv, exec, parseOpenrc, withFormat, type Env } from '../e2e/support.js';

export interface ComputeLab {
  state: LabState;
  /** The admin's environment for the clients (from the lab API's openrc). */
  env: Env;
  /** `openstack ...args` with -f json where it applies; throws with the client's output on failure. */
  openstack<T = unknown>(args: string[]): Promise<T>;
}

export async function startComputeLab(stateDir: string, hosts = 3): Promise<ComputeLab> {
  const state = await labUp({ hosts, stateDir, api: true });
  if (!state.api) throw new Error('the lab came up without its API');
  const env = cleanEnv(parseOpenrc(readFileSync(state.api.openrc, 'utf8')));
  const openstack = async <T = unknown>(args: string[]): Promise<T> => {
    const full = withFormat(args);
    const res = await exec('openstack', full, { env, timeoutMs: 300_000 });
    if (res.code !== 0) throw new Error(`openstack ${args.join(' ')}: ${res.stderr}${res.stdout}`);
    return (full.includes('json') ? JSON.parse(res.stdout) : res.stdout) as T;
  };
  const image = await ensureTinyImage({ out: tinyImagePath(loadConfig({ env: {} }).DEFAULT.data_dir) });
  await openstack([
    ...['image', 'create', '--file', image.path, '--disk-format', 'qcow2'],
    ...['--container-format', 'bare', '--public', 'tiny'],
  ]);
  await openstack(['flavor', 'create', '--ram', '256', '--vcpus', '1', '--disk', '1', 'tiny']);
  await openstack(['security', 'group', 'rule', 'create', '--protocol', 'icmp', 'default']);
  await openstack([
    ...['security', 'group', 'rule', 'create', '--protocol', 'tcp'],
    ...['--dst-port', '80', 'default'],
  ]);
  return { state, env, openstack };
}

/** Whether the address answers one ping and then HTTP on port 80 (the tiny guest's page), right now. */
export async function answersNow(ip: string): Promise<string | null> {
  const ping = await tryRun('ping', ['-c', '1', '-W', '1', ip]);
  if (ping.code !== 0) return null;
  const res = await fetch(`http://${ip}/`, { signal: AbortSignal.timeout(5000) }).catch(() => null);
  return res?.ok ? res.text() : null;
}

/** Waits until the address answers ping and HTTP; returns the page, or null after the timeout. */
export async function waitAnswers(ip: string, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const page = await answersNow(ip);
    if (page !== null) return page;
    await sleep(1000);
  }
  return null;
}
