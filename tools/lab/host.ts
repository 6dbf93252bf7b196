/**
 * One lab host's libvirt: a private copy of libvirt's directories, an anchor process holding the host's
 * mount and UTS namespaces (inside its network namespace), and virtlogd, virtlockd and libvirtd started
 * into them with pid files.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { hostsFile, libvirtdConf, qemuConf } from './config-files.js';
import { run, tryRun } from '../../src/common/exec.js';
import { livePidFrom, pidAlive, stopByPidFile } from '../../src/common/pidfile.js';
import { waitFor } from './exec.js';
import { HOST_NS_SCRIPT } from './repo.js';
import { GLUSTER_VOLUME, LIBVIRT_DIRS, LIBVIRT_TCP_PORT, type LabHost, type LabPaths } from './topology.js';

/** nsenter arguments that put a command into the host's namespaces (network, mount, UTS). */
export function nsenterArgs(h: LabHost): string[] {
  const pid = livePidFrom(h.pidFile.anchor);
  if (pid === null) throw new Error(`lab host ${h.name} is not running (no live ${h.pidFile.anchor})`);
  return ['-t', String(pid), '-m', '-n', '-u'];
}

/** Runs a command inside a lab host (as its daemons see the world). */
export function inHost(h: LabHost, file: string, args: readonly string[], timeoutMs = 60_000) {
  return run('nsenter', [...nsenterArgs(h), file, ...args], { timeoutMs });
}

/** A path as seen inside the host's mount namespace, reachable from the root ns (e.g. the shared store). */
export function hostPath(h: LabHost, path: string): string {
  const pid = livePidFrom(h.pidFile.anchor);
  if (pid === null) throw new Error(`lab host ${h.name} is not running`);
  return `/proc/${pid}/root${path}`;
}

/** The host's private copy of libvirt's configuration and state, its hosts file and /dev/kvm node. */
export async function prepareHost(h: LabHost, all: readonly LabHost[], paths: LabPaths): Promise<void> {
  rmSync(h.dir, { recursive: true, force: true });
  for (const sub of Object.keys(LIBVIRT_DIRS)) mkdirSync(join(h.dir, sub), { recursive: true });
  await run('cp', ['-a', `${LIBVIRT_DIRS.etc}/.`, join(h.dir, 'etc')]);
  // /var/lib/libvirt without its images: the lab's disks live on the shared store
  for (const entry of readdirSync(LIBVIRT_DIRS.lib)) {
    if (entry !== 'images') await run('cp', ['-a', join(LIBVIRT_DIRS.lib, entry), join(h.dir, 'lib')]);
  }
  const cache = existsSync(paths.seedCache) ? paths.seedCache : LIBVIRT_DIRS.cache;
  await run('cp', ['-a', `${cache}/.`, join(h.dir, 'cache')]);
  mkdirSync(join(h.dir, 'log', 'qemu'), { recursive: true });
  // never start libvirt's "default" NAT network (it would add its own bridge and dnsmasq in the host)
  rmSync(join(h.dir, 'etc', 'qemu', 'networks', 'autostart'), { recursive: true, force: true });

  const etc = join(h.dir, 'etc');
  const read = (f: string) => (existsSync(join(etc, f)) ? readFileSync(join(etc, f), 'utf8') : '');
  writeFileSync(join(etc, 'libvirtd.conf'), libvirtdConf(read('libvirtd.conf'), h, randomUUID()));
  writeFileSync(join(etc, 'qemu.conf'), qemuConf(read('qemu.conf'), h));
  writeFileSync(join(h.dir, 'hosts'), hostsFile(all));

  if (existsSync('/dev/kvm')) {
    const rdev = statSync('/dev/kvm').rdev;
    const major = String((rdev >> 8) & 0xfff);
    const minor = String((rdev & 0xff) | ((rdev >> 12) & 0xfff00));
    const node = join(h.dir, 'dev-kvm');
    await run('mknod', ['-m', '0660', node, 'c', major, minor]);
    await run('chown', ['root:kvm', node]);
  }
}

/** Starts the anchor (namespaces + bind mounts); resolves with its pid once its mounts are in place. */
export async function startAnchor(h: LabHost): Promise<number> {
  const log = openSync(join(h.dir, 'anchor.log'), 'a');
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      h.netns,
      'unshare',
      '-m',
      '-u',
      '--propagation',
      'private',
      'sh',
      HOST_NS_SCRIPT,
      h.dir,
      h.name,
    ],
    { detached: true, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? -1));
  child.unref();
  await waitFor(
    `the namespaces of ${h.name}`,
    () => {
      if (exited !== null) {
        const why = readFileSync(join(h.dir, 'anchor.log'), 'utf8').trim();
        throw new Error(`setting up ${h.name} failed (exit ${exited}): ${why}`);
      }
      return livePidFrom(h.pidFile.anchor);
    },
    10_000,
    50,
  );
  return livePidFrom(h.pidFile.anchor) as number;
}

/** virtlogd, virtlockd, libvirtd (TCP on the management address) inside the host's namespaces. */
export async function startDaemons(h: LabHost): Promise<void> {
  const ns = nsenterArgs(h);
  await run('nsenter', [...ns, 'virtlogd', '-d', '-p', h.pidFile.virtlogd]);
  await run('nsenter', [...ns, 'virtlockd', '-d', '-p', h.pidFile.virtlockd]);
  await run('nsenter', [...ns, 'libvirtd', '-d', '--listen', '-p', h.pidFile.libvirtd]);
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port, timeout: 500 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

/** Waits until the host's libvirtd answers on TCP from the root ns, and has its capabilities (first call probes QEMU). */
export async function waitLibvirt(h: LabHost, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `libvirtd of ${h.name} on ${h.mgmtIp}:${LIBVIRT_TCP_PORT}`,
    () => tcpOpen(h.mgmtIp, LIBVIRT_TCP_PORT),
    15_000,
  );
  await run('virsh', ['-c', h.libvirtUri, 'version'], { timeoutMs });
}

/** The FUSE client serving the host's store mount: the glusterfs process in the host's mount ns. */
function findFusePid(h: LabHost): number | null {
  const anchor = livePidFrom(h.pidFile.anchor);
  if (anchor === null) return null;
  const mntNs = readlinkSync(`/proc/${anchor}/ns/mnt`);
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/mnt`) !== mntNs) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0].endsWith('/glusterfs') && argv.includes('--process-name') && argv.includes('fuse'))
        return Number(entry);
    } catch {
      /* gone meanwhile */
    }
  }
  return null;
}

/** Mounts the Gluster volume at the store path inside the host's mount ns only; records the FUSE client's pid. */
export async function mountStore(h: LabHost, paths: LabPaths): Promise<void> {
  const anchor = String(livePidFrom(h.pidFile.anchor));
  // mount ns only: the FUSE client stays in the root network ns, where glusterd listens on 127.0.0.1
  await run('nsenter', [
    ...['-t', anchor, '-m', 'mount', '-t', 'glusterfs'],
    ...['-o', `log-file=${join(paths.glusterLog, `fuse-${h.name}.log`)}`],
    ...[`127.0.0.1:/${GLUSTER_VOLUME}`, paths.store],
  ]);
  const fuse = await waitFor(`the FUSE client of ${h.name}`, () => findFusePid(h), 5000);
  writeFileSync(h.pidFile.fuse, `${fuse}\n`);
}

/** Whether the store is mounted in the host's mount ns, from its mountinfo. */
export function storeMounted(h: LabHost, paths: LabPaths): boolean {
  const anchor = livePidFrom(h.pidFile.anchor);
  if (anchor === null) return false;
  try {
    return readFileSync(`/proc/${anchor}/mountinfo`, 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[4] === paths.store && l.includes('fuse.glusterfs'));
  } catch {
    return false;
  }
}

/** Any live process of the host to nsenter through, even if its anchor is gone. */
function anyHostPid(h: LabHost): number | null {
  for (const f of [h.pidFile.anchor, h.pidFile.libvirtd, h.pidFile.fuse]) {
    const pid = livePidFrom(f);
    if (pid !== null) return pid;
  }
  return null;
}

/** Stops everything of one host by its pid files: domains, QEMUs, daemons, store mount, anchor. Idempotent. */
export async function stopHost(h: LabHost, paths: LabPaths, say: (s: string) => void): Promise<void> {
  if (!existsSync(h.dir)) return;
  // the agent's DHCP servers outlive it by design (guests keep their leases across agent restarts)
  const dhcp = join(h.dir, 'agent', 'dhcp');
  if (existsSync(dhcp)) {
    for (const net of readdirSync(dhcp)) {
      if (await stopByPidFile(join(dhcp, net, 'pid'), 'dnsmasq')) say(`${h.name}: stopped dnsmasq of ${net}`);
    }
  }
  const libvirtd = livePidFrom(h.pidFile.libvirtd);
  if (libvirtd !== null) {
    const ns = ['-t', String(libvirtd), '-m', '-n', '-u'];
    const list = await tryRun('nsenter', [...ns, 'virsh', '-q', 'list', '--name'], 15_000);
    for (const dom of list.stdout.split('\n').filter(Boolean)) {
      say(`${h.name}: destroying domain ${dom}`);
      await tryRun('nsenter', [...ns, 'virsh', 'destroy', dom], 30_000);
    }
  }
  const qemuRun = join(h.dir, 'run', 'qemu');
  if (existsSync(qemuRun)) {
    for (const f of readdirSync(qemuRun).filter((n) => n.endsWith('.pid'))) {
      if (await stopByPidFile(join(qemuRun, f), 'qemu-system')) say(`${h.name}: killed QEMU ${f}`);
    }
  }
  for (const d of ['libvirtd', 'virtlockd', 'virtlogd'] as const) await stopByPidFile(h.pidFile[d], d);

  const via = anyHostPid(h);
  if (via !== null && storeMounted(h, paths)) {
    const umount = await tryRun('nsenter', ['-t', String(via), '-m', 'umount', paths.store], 15_000);
    if (umount.code !== 0) await tryRun('nsenter', ['-t', String(via), '-m', 'umount', '-l', paths.store]);
  }
  const fuse = livePidFrom(h.pidFile.fuse);
  if (fuse !== null)
    await waitFor('the FUSE client to exit', () => !pidAlive(fuse), 5000).catch(() => undefined);
  await stopByPidFile(h.pidFile.fuse, 'glusterfs');
  await stopByPidFile(h.pidFile.anchor, 'sleep');
}
