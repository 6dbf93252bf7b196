/**
 * The lab's GlusterFS: a private glusterd in the root namespace (own working dir, run dir and CLI socket
 * under the lab's state dir) serving one replica-2 volume from two bricks on this machine.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { glusterdVol, withHostsEntry } from './config-files.js';
import { run, tryRun } from '../../src/common/exec.js';
import { commandOf, livePidFrom, stopByPidFile } from '../../src/common/pidfile.js';
import { waitFor } from './exec.js';
import { GLUSTER_NODE, GLUSTER_VOLUME, type LabPaths } from './topology.js';

const HOSTS = '/etc/hosts';
const GLUSTERD_PORT = 24007;

/** Maps the brick node name to 127.0.0.1 in /etc/hosts (or removes it). Rewrites in place: /etc/hosts may be a bind mount. */
export function setHostsEntry(present: boolean): void {
  const text = readFileSync(HOSTS, 'utf8');
  const next = withHostsEntry(text, present);
  if (next !== text) writeFileSync(HOSTS, next);
}

export function hostsEntryPresent(): boolean {
  return readFileSync(HOSTS, 'utf8').includes(` ${GLUSTER_NODE} `);
}

export const gluster = (p: LabPaths, args: readonly string[], timeoutMs = 60_000) =>
  run('gluster', [`--glusterd-sock=${p.glusterSocket}`, '--mode=script', ...args], { timeoutMs });

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port, timeout: 500 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

/** Starts the private glusterd and creates and starts the volume. */
export async function startGluster(p: LabPaths): Promise<void> {
  if (livePidFrom(p.glusterPid) === null && (await portOpen(GLUSTERD_PORT))) {
    throw new Error(
      `another glusterd already listens on 127.0.0.1:${GLUSTERD_PORT}: the lab needs that port`,
    );
  }
  rmSync(p.gluster, { recursive: true, force: true });
  for (const d of [p.glusterLib, p.glusterRun, p.glusterLog, ...p.bricks]) mkdirSync(d, { recursive: true });
  writeFileSync(p.glusterVol, glusterdVol({ lib: p.glusterLib, run: p.glusterRun, socket: p.glusterSocket }));
  setHostsEntry(true);
  await run('glusterd', ['-f', p.glusterVol, '-p', p.glusterPid, '-l', join(p.glusterLog, 'glusterd.log')]);
  await waitFor(
    'glusterd',
    async () =>
      (await tryRun('gluster', [`--glusterd-sock=${p.glusterSocket}`, 'volume', 'list'])).code === 0,
    15_000,
    200,
  );
  // replica 2 on one node needs `force` (gluster warns about split-brain and about bricks on the root fs)
  await gluster(p, [
    'volume',
    'create',
    GLUSTER_VOLUME,
    'replica',
    '2',
    ...p.bricks.map((b) => `${GLUSTER_NODE}:${b}`),
    'force',
  ]);
  await gluster(p, ['volume', 'start', GLUSTER_VOLUME]);
}

/** "Started", "Stopped", "Created"... or why it cannot be told. */
export async function volumeState(p: LabPaths): Promise<string> {
  if (livePidFrom(p.glusterPid) === null) return 'glusterd not running';
  const r = await tryRun(
    'gluster',
    [`--glusterd-sock=${p.glusterSocket}`, 'volume', 'info', GLUSTER_VOLUME],
    15_000,
  );
  if (r.code !== 0) return `unknown (${(r.stderr || r.stdout).trim()})`;
  return /^Status: (\S+)/m.exec(r.stdout)?.[1] ?? 'unknown';
}

/** Pid files glusterd keeps for its bricks and self-heal daemon under the private run dir. */
function childPidFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.pid'))
    .map((f) => join(dir, f));
}

/** The -S socket of a gluster process (bricks and shd put theirs in /var/run/gluster, whatever the run dir). */
function socketOf(pid: number): string | null {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const i = argv.indexOf('-S');
    return i >= 0 ? argv[i + 1] : null;
  } catch {
    return null;
  }
}

/** Stops the volume and every gluster process by its pid file, removes their sockets and brick logs. Idempotent. */
export async function stopGluster(p: LabPaths): Promise<void> {
  const children = childPidFiles(p.glusterRun);
  const sockets = children
    .map((f) => livePidFrom(f))
    .filter((pid): pid is number => pid !== null && commandOf(pid).includes('gluster'))
    .map(socketOf)
    .filter((s): s is string => s !== null);
  if (livePidFrom(p.glusterPid) !== null) {
    await tryRun(
      'gluster',
      [`--glusterd-sock=${p.glusterSocket}`, '--mode=script', 'volume', 'stop', GLUSTER_VOLUME, 'force'],
      30_000,
    );
  }
  await stopByPidFile(p.glusterPid, 'glusterd');
  for (const f of childPidFiles(p.glusterRun).concat(children)) await stopByPidFile(f, 'gluster');
  for (const s of sockets) rmSync(s, { force: true });
  // brick logs are named after the brick path: /a/b/c -> a-b-c.log
  for (const b of p.bricks)
    rmSync(`/var/log/glusterfs/bricks/${b.slice(1).replace(/\//g, '-')}.log`, { force: true });
  setHostsEntry(false);
}
