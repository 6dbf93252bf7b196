/** The tiny guest image: built once by tools/image/build-tiny.sh, then reused from its cache path. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** tools/image/ of the repository (this module runs from dist/tools/image/). */
const SCRIPT = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'tools',
  'image',
  'build-tiny.sh',
);

export const DEB_CACHE = process.env.KVMSTACK_DEB_CACHE ?? '/var/cache/kvmstack/debs';

export const tinyImagePath = (dataDir: string): string => join(dataDir, 'images', 'tiny.qcow2');

export interface TinyImage {
  path: string;
  /** Kernel and initramfs beside it, for direct kernel boot (faster under TCG than booting the disk). */
  kernel: string;
  initrd: string;
  built: boolean;
  seconds: number;
}

/**
 * Returns the image at `out`, building it first when it is missing (or `force`). The downloaded Debian
 * packages are kept in `debCache` (default: one cache for the machine, $KVMSTACK_DEB_CACHE or
 * /var/cache/kvmstack/debs, so every image built here downloads them once). Progress lines go to `onLine`.
 */
export async function ensureTinyImage(opts: {
  out: string;
  force?: boolean;
  debCache?: string;
  onLine?: (line: string) => void;
}): Promise<TinyImage> {
  const out = resolve(opts.out);
  const base = out.replace(/\.qcow2$/, '');
  const result = { path: out, kernel: `${base}.vmlinuz`, initrd: `${base}.initrd` };
  if (existsSync(out) && !opts.force) return { ...result, built: false, seconds: 0 };
  const started = Date.now();
  const args = [out, resolve(opts.debCache ?? DEB_CACHE)];
  await new Promise<void>((resolvePromise, reject) => {
    const child = execFile(
      SCRIPT,
      args,
      { maxBuffer: 4 * 1024 * 1024, timeout: 600_000 },
      (err, _out, stderr) => {
        if (err) reject(new Error(`build-tiny.sh failed: ${String(stderr).trim() || err.message}`));
        else resolvePromise();
      },
    );
    let pending = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) if (l) opts.onLine?.(l);
    });
  });
  return { ...result, built: true, seconds: (Date.now() - started) / 1000 };
}
