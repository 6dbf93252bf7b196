/** Readers of host facts for the inventory, kept apart from the driver so they can be tested on sample text. */
import { readFile, statfs } from 'node:fs/promises';

/** MemTotal of /proc/meminfo in MiB. libvirt's nodeGetInfo is not used: it sums NUMA node meminfo, which is
 * wrong in sandboxes like the lab's (5-6 GiB reported on a 24 GiB machine). */
export function parseMemTotalMb(meminfo: string): number {
  const m = /^MemTotal:\s+(\d+)\s+kB/m.exec(meminfo);
  if (!m) throw new Error('no MemTotal in /proc/meminfo');
  return Math.floor(Number(m[1]) / 1024);
}

export async function hostMemoryMb(): Promise<number> {
  return parseMemTotalMb(await readFile('/proc/meminfo', 'utf8'));
}

/** `virsh version`'s "Running hypervisor: QEMU 7.2.0" packed as libvirt packs versions: 7002000. */
export function parseHypervisorVersion(virshVersion: string): number {
  const m = /Running hypervisor:\s*\S+\s+(\d+)\.(\d+)(?:\.(\d+))?/.exec(virshVersion);
  if (!m) throw new Error(`no hypervisor version in: ${virshVersion.trim()}`);
  return Number(m[1]) * 1_000_000 + Number(m[2]) * 1_000 + Number(m[3] ?? 0);
}

/** The host CPU model from `virsh capabilities` (<host><cpu><model>), or null when libvirt names none. */
export function parseHostCpuModel(capabilities: string): string | null {
  const host = /<host>([\s\S]*?)<\/host>/.exec(capabilities)?.[1] ?? '';
  const cpu = /<cpu>([\s\S]*?)<\/cpu>/.exec(host)?.[1] ?? '';
  return /<model>([^<]+)<\/model>/.exec(cpu)?.[1]?.trim() ?? null;
}

export interface DiskSize {
  totalGb: number;
  freeGb: number;
}

/** Size and space available to non-root users of the filesystem holding `dir`, in whole GiB. */
export async function diskSize(dir: string): Promise<DiskSize> {
  const s = await statfs(dir);
  const gib = 1024 ** 3;
  return { totalGb: Math.floor((s.blocks * s.bsize) / gib), freeGb: Math.floor((s.bavail * s.bsize) / gib) };
}

/**
 * The line `uptime` prints (procps): " 17:37:14 up 2 days,  2:33,  0 users,  load average: 0.33, 0.36, 0.34",
 * which Nova's hypervisor uptime API carries and the openstack CLI parses. Users are not counted (always 0).
 */
export function formatUptime(clock: Date, uptimeSeconds: number, loadavg: string): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const time = `${two(clock.getHours())}:${two(clock.getMinutes())}:${two(clock.getSeconds())}`;
  const total = Math.floor(uptimeSeconds / 60);
  const days = Math.floor(total / 1440);
  const hours = Math.floor((total % 1440) / 60);
  const minutes = total % 60;
  let up = days > 0 ? `${days} day${days === 1 ? '' : 's'}, ` : '';
  up += hours > 0 ? `${String(hours).padStart(2, ' ')}:${two(minutes)}` : `${minutes} min`;
  const load = loadavg.trim().split(/\s+/).slice(0, 3).join(', ');
  return ` ${time} up ${up},  0 users,  load average: ${load}`;
}

/** This host's `uptime` line from /proc/uptime and /proc/loadavg. */
export async function hostUptime(clock = new Date()): Promise<string> {
  const [uptime, loadavg] = await Promise.all([
    readFile('/proc/uptime', 'utf8'),
    readFile('/proc/loadavg', 'utf8'),
  ]);
  return formatUptime(clock, Number(uptime.split(/\s+/)[0]), loadavg);
}
