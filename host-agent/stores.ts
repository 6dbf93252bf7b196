import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { StoreConfig } from './config.js';

const run = promisify(execFile);

/** The `mount` argument array for a store (never a shell string); null for `dir`, which needs no mount. */
export function mountArgs(store: StoreConfig): string[] | null {
  if (store.type === 'dir') return null;
  const args = ['-t', store.type];
  if (store.options) args.push('-o', store.options);
  args.push(store.source, store.mount);
  return args;
}

/** Mount points of this mount namespace, from /proc/self/mountinfo (octal escapes decoded). */
export function mountedPaths(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): Set<string> {
  const paths = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field)
      paths.add(field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8))));
  }
  return paths;
}

export interface StoreStatus {
  name: string;
  type: StoreConfig['type'];
  mount: string;
  state: 'ok' | 'unmounted' | 'error';
  error?: string;
}

/** Mounts every store that is not mounted yet. A store that fails is reported, not fatal: the host stays up. */
export async function mountStores(stores: StoreConfig[], timeoutMs = 30_000): Promise<StoreStatus[]> {
  const mounted = mountedPaths();
  const out: StoreStatus[] = [];
  for (const s of stores) {
    try {
      mkdirSync(s.mount, { recursive: true });
      const args = mountArgs(s);
      if (args && !mounted.has(s.mount)) await run('mount', args, { timeout: timeoutMs });
      out.push({ name: s.name, type: s.type, mount: s.mount, state: 'ok' });
    } catch (err) {
      out.push({
        name: s.name,
        type: s.type,
        mount: s.mount,
        state: 'error',
        error: (err as { stderr?: string }).stderr?.trim() || (err as Error).message,
      });
    }
  }
  return out;
}

/** Where a domain's XML backup goes: the store holding its root disk, else the first store. */
export function backupPath(stores: StoreConfig[], uuid: string, rootDisk?: string): string | null {
  const store = stores.find((s) => rootDisk?.startsWith(`${s.mount}/`)) ?? stores[0];
  return store ? join(store.mount, '.kvmstack', 'domains', `${uuid}.xml`) : null;
}

/** Writes a domain XML backup atomically: the disaster-recovery copy `kvmstack recover` reads. */
export function writeBackup(path: string, xml: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(`${path}.tmp`, xml);
  renameSync(`${path}.tmp`, path);
}
