/**
 * A private libvirtd for tests: its own network namespace (shared by the test's hosts), mount namespace
 * (libvirt's directories bound from a temp dir) and UTS namespace (its own hostname: libvirt refuses to
 * migrate between hosts of the same name or host_uuid). Reached from the test process through its unix
 * socket, which lies in the temp dir. Everything it starts is stopped by pid file, nothing by name.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { appendFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../src/common/exec.js';

const LIBVIRT_DIRS = {
  etc: '/etc/libvirt',
  run: '/run/libvirt',
  lib: '/var/lib/libvirt',
  log: '/var/log/libvirt',
  cache: '/var/cache/libvirt',
} as const;

/**
 * Runs in `ip netns exec NS unshare -m -u --propagation private`. A tmpfs over /run gives the mount point
 * /run/libvirt without creating it in the root file system (where removing it later would detach other
 * labs' mounts). /dev/kvm is root:root 0600 on the lab machine: with it libvirt finds KVM "not usable" and
 * re-probes QEMU on every call (40 s per start), so a root:kvm 0660 node is bound over it, here only.
 */
const NS_SCRIPT = `set -eu
B=$1
hostname "$2"
mount -t tmpfs -o mode=0755 kvd-run /run
mkdir -p /run/libvirt
for d in etc:/etc/libvirt run:/run/libvirt lib:/var/lib/libvirt log:/var/log/libvirt cache:/var/cache/libvirt; do
  mount --bind "$B/\${d%%:*}" "\${d#*:}"
done
[ -c "$B/dev-kvm" ] && mount --bind "$B/dev-kvm" /dev/kvm
virtlogd -d -p "$B/virtlogd.pid"
virtlockd -d -p "$B/virtlockd.pid"
libvirtd -d --listen -p "$B/libvirtd.pid"
`;

export class TestNetns {
  readonly bridge: string;
  private constructor(
    readonly name: string,
    prefix: string,
  ) {
    this.bridge = `${prefix}br0`;
  }

  /**
   * A network namespace `<prefix>-<random>` with lo and a bridge `<prefix>br0` for guests at `cidr` (e.g.
   * 10.97.0.1/24). The prefix tells whose namespaces these are: kvd for the lab tests, kvb for the benchmarks.
   */
  static async create(cidr: string, prefix = 'kvd'): Promise<TestNetns> {
    const ns = new TestNetns(`${prefix}-${randomBytes(4).toString('hex')}`, prefix);
    await run('ip', ['netns', 'add', ns.name]);
    await run('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
    await run('ip', ['-n', ns.name, 'link', 'add', ns.bridge, 'type', 'bridge']);
    await run('ip', ['-n', ns.name, 'addr', 'add', cidr, 'dev', ns.bridge]);
    await run('ip', ['-n', ns.name, 'link', 'set', ns.bridge, 'up']);
    return ns;
  }

  exec(cmd: string, args: string[], timeoutMs = 30_000): Promise<string> {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], { timeoutMs });
  }

  async delete(): Promise<void> {
    await run('ip', ['netns', 'del', this.name]).catch(() => undefined);
  }
}

export class PrivateLibvirt {
  /** For the test process and the driver: the unix socket, visible from the root mount namespace. */
  readonly uri: string;
  /** For other libvirtds of the same netns (peer-to-peer migration). */
  readonly tcpUri: string;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly tcpPort: number,
  ) {
    this.uri = `qemu+unix:///system?socket=${join(dir, 'run', 'libvirt-sock')}`;
    this.tcpUri = `qemu+tcp://127.0.0.1:${tcpPort}/system`;
  }

  /**
   * Starts virtlogd, virtlockd and libvirtd for host `name` under `root/name`, in `netns`. `seedCache` is a
   * warm /var/cache/libvirt (another host's) to skip the first call's QEMU probing (~10 s).
   */
  static async start(o: {
    root: string;
    name: string;
    netns: TestNetns;
    tcpPort: number;
    seedCache?: string;
  }) {
    const h = new PrivateLibvirt(o.name, join(o.root, o.name), o.tcpPort);
    for (const sub of Object.keys(LIBVIRT_DIRS)) mkdirSync(join(h.dir, sub), { recursive: true });
    await run('cp', ['-a', `${LIBVIRT_DIRS.etc}/.`, join(h.dir, 'etc')]);
    await run('cp', ['-a', `${LIBVIRT_DIRS.lib}/.`, join(h.dir, 'lib')]);
    await run('cp', ['-a', `${o.seedCache ?? LIBVIRT_DIRS.cache}/.`, join(h.dir, 'cache')]);
    mkdirSync(join(h.dir, 'log', 'qemu'), { recursive: true });
    await rm(join(h.dir, 'etc', 'qemu', 'networks', 'autostart'), { recursive: true, force: true });
    await appendFile(
      join(h.dir, 'etc', 'libvirtd.conf'),
      [
        '',
        'listen_tls = 0',
        'listen_tcp = 1',
        'listen_addr = "127.0.0.1"',
        `tcp_port = "${o.tcpPort}"`,
        'auth_tcp = "none"',
        `host_uuid = "${randomUUID()}"`,
        'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"',
        '',
      ].join('\n'),
    );
    await appendFile(join(h.dir, 'etc', 'qemu.conf'), '\nlock_manager = "lockd"\n');
    if (existsSync('/dev/kvm')) {
      const node = join(h.dir, 'dev-kvm');
      const rdev = statSync('/dev/kvm').rdev;
      const [major, minor] = [(rdev >> 8) & 0xfff, (rdev & 0xff) | ((rdev >> 12) & 0xfff00)];
      await run('mknod', ['-m', '0660', node, 'c', String(major), String(minor)]);
      await run('chown', ['root:kvm', node]);
    }
    await run('ip', [
      ...['netns', 'exec', o.netns.name, 'unshare', '-m', '-u', '--propagation', 'private'],
      ...['sh', '-c', NS_SCRIPT, 'sh', h.dir, o.name],
    ]);
    await h.waitReady();
    return h;
  }

  /** The first call also waits out libvirtd's QEMU capability probing on a cold cache. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const sock = join(this.dir, 'run', 'libvirt-sock');
    const until = Date.now() + 10_000;
    while (!existsSync(sock)) {
      if (Date.now() > until) throw new Error(`${sock} did not appear`);
      await sleep(50);
    }
    await run('virsh', ['-c', this.uri, 'capabilities'], { timeoutMs });
  }

  virsh(args: string[], timeoutMs = 30_000): Promise<string> {
    return run('virsh', ['-c', this.uri, ...args], { timeoutMs });
  }

  pid(daemon: 'libvirtd' | 'virtlockd' | 'virtlogd'): number | null {
    return livePid(join(this.dir, `${daemon}.pid`), daemon);
  }

  /** Kills libvirtd only (its QEMUs live on), as a crash would. */
  async killLibvirtd(): Promise<void> {
    await stopPids([[join(this.dir, 'libvirtd.pid'), 'libvirtd']], 'SIGKILL');
  }

  /** Starts libvirtd again in the same namespaces (entered through virtlogd, which stays). */
  async restartLibvirtd(): Promise<void> {
    const anchor = this.pid('virtlogd');
    if (anchor === null) throw new Error(`virtlogd of ${this.name} is gone`);
    await rm(join(this.dir, 'run', 'libvirt-sock'), { force: true });
    await run('nsenter', [
      ...['-t', String(anchor), '-m', '-n', '-u'],
      ...['libvirtd', '-d', '--listen', '-p', join(this.dir, 'libvirtd.pid')],
    ]);
    await this.waitReady();
  }

  /** QEMUs, then the daemons, by pid file: TERM, then KILL what is left after 5 s. */
  stop(): Promise<void> {
    return stopPrivateLibvirt(this.dir);
  }
}

/**
 * What PrivateLibvirt.stop() does, from the host's directory alone (`<root>/<name>`): also after a start
 * that failed or was interrupted before it returned an instance.
 */
export async function stopPrivateLibvirt(dir: string): Promise<void> {
  const qemuRun = join(dir, 'run', 'qemu');
  const files: [string, string][] = existsSync(qemuRun)
    ? readdirSync(qemuRun)
        .filter((f) => f.endsWith('.pid'))
        .map((f) => [join(qemuRun, f), 'qemu-system'])
    : [];
  await stopPids(files, 'SIGTERM');
  await stopPids(
    (['libvirtd', 'virtlockd', 'virtlogd'] as const).map((d) => [join(dir, `${d}.pid`), d]),
    'SIGTERM',
  );
}

/** The pid in `file` if that process is alive and its command starts with `comm` (no recycled pids). */
function livePid(file: string, comm: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 1) return null;
    return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith(comm.slice(0, 15)) ? pid : null;
  } catch {
    return null;
  }
}

async function stopPids(files: [string, string][], signal: NodeJS.Signals): Promise<void> {
  const pids = files.map(([f, comm]) => livePid(f, comm)).filter((p): p is number => p !== null);
  const alive = (p: number) => {
    try {
      process.kill(p, 0);
      return existsSync(`/proc/${p}`) && !readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z ');
    } catch {
      return false;
    }
  };
  for (const p of pids) process.kill(p, signal);
  const until = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < until) await sleep(50);
  for (const p of pids.filter(alive)) process.kill(p, 'SIGKILL');
  while (pids.some(alive) && Date.now() < until + 2000) await sleep(50);
}
