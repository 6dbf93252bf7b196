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
