/**
 * Disk files the drivers share: a standalone copy of a disk (snapshots) and a fresh overlay (rebuild), both
 * with qemu-img through argument arrays, both written under a temporary name and renamed into place.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { run } from '../../src/common/exec.js';
import { DriverError, type DiskSpec } from './types.js';

const tmpBeside = (path: string) =>
  join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function virtualSize(path: string): Promise<number> {
  const info = JSON.parse(await run('qemu-img', ['info', '--output=json', path], { timeoutMs: 60_000 })) as {
    'virtual-size': number;
  };
  return info['virtual-size'];
}

/**
 * `qemu-img convert -U -O qcow2 SOURCE` into targetPath: the whole chain flattened into one file. -U reads a
 * disk QEMU holds open (the caller pauses the guest so the copy is consistent).
 */
export async function copyDisk(
  source: string,
  targetPath: string,
): Promise<{ size: number; virtualSize: number }> {
  await mkdir(dirname(targetPath), { recursive: true });
  const tmp = tmpBeside(targetPath);
  try {
    await run('qemu-img', ['convert', '-U', '-O', 'qcow2', source, tmp], { timeoutMs: 30 * 60_000 });
    await fsyncFile(tmp);
    await rename(tmp, targetPath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return { size: (await stat(targetPath)).size, virtualSize: await virtualSize(targetPath) };
}

/** An empty qcow2 of `bytes` at targetPath (the fake driver's "snapshot" of a disk that does not exist). */
export async function blankDisk(
  targetPath: string,
  bytes: number,
): Promise<{ size: number; virtualSize: number }> {
  await mkdir(dirname(targetPath), { recursive: true });
  const tmp = tmpBeside(targetPath);
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', tmp, String(bytes)], { timeoutMs: 60_000 });
  await rename(tmp, targetPath);
  return { size: (await stat(targetPath)).size, virtualSize: bytes };
}

/** `qemu-img create` of a qcow2 overlay of `disk` at `file`; -F always: guessing a backing file's format lets a raw image pose as qcow2. */
export function overlayArgs(disk: DiskSpec, file: string): string[] {
  const args = [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-F',
    disk.backingFormat ?? 'qcow2',
    '-b',
    String(disk.backingPath),
    file,
  ];
  if (disk.sizeGb !== undefined) args.push(`${disk.sizeGb}G`);
  return args;
}

/** A temporary name beside a file: written there, then renamed or linked into place. */
export { tmpBeside };

/** Replaces disk.path by a new overlay on disk.backingPath (same path: the domain definition stays valid). */
export async function recreateOverlay(disk: DiskSpec): Promise<void> {
  if (!disk.backingPath || disk.format !== 'qcow2')
    throw new DriverError(`${disk.path}: only a qcow2 overlay on an image can be rebuilt`);
  await mkdir(dirname(disk.path), { recursive: true });
  const tmp = tmpBeside(disk.path);
  try {
    await run('qemu-img', overlayArgs(disk, tmp), { timeoutMs: 120_000 });
    await rename(tmp, disk.path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
