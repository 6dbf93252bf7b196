import { existsSync } from 'node:fs';

/** Why the lab cannot run on this machine, or null. tools/install-deps.sh installs all of it. */
export function labUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const f of [
    '/usr/sbin/libvirtd',
    '/usr/sbin/glusterd',
    '/sbin/mount.glusterfs',
    '/usr/bin/qemu-system-x86_64',
  ]) {
    if (!existsSync(f)) return `${f} is not installed`;
  }
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
  return null;
}
