/** The OpenStack config drive: an ISO9660 image labelled config-2 that cloud-init (and the tiny guest) read. */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { run } from '../../src/common/exec.js';
import { DriverError, type ConfigDriveSpec, type DomainSpec } from './types.js';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * Where a domain's config drive lives: beside its root disk (disks[0]), so it is on the same shared store
 * and a migration or evacuation target finds it. The UUID is in the name because nothing says two domains'
 * root disks are in different directories, and a shared name would hand one VM another's metadata.
 */
export function configDrivePath(spec: DomainSpec): string {
  const root = spec.disks[0];
  if (!root)
    throw new DriverError(`domain ${spec.uuid} has a config drive but no root disk to put it beside`);
  if (!UUID.test(spec.uuid)) throw new DriverError(`not a UUID: ${JSON.stringify(spec.uuid)}`);
  return join(dirname(root.path), `config-drive-${spec.uuid.toLowerCase()}.iso`);
}

export interface BuildOptions {
  /** Where the ISO's content is staged (a private temp dir is made inside); default os.tmpdir(). */
  tmpDir?: string;
  timeoutMs?: number;
}

/**
 * Writes `out` atomically: the ISO is built beside it under a temp name, flushed, then renamed over it,
 * so a domain (or its migration target) never opens a half-written drive.
 */
export async function buildConfigDrive(
  cd: ConfigDriveSpec,
  out: string,
  opts: BuildOptions = {},
): Promise<void> {
  const target = resolve(out);
  const stage = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'kvmstack-cd-'));
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const latest = join(stage, 'openstack', 'latest');
    await mkdir(latest, { recursive: true });
    await writeFile(join(latest, 'meta_data.json'), JSON.stringify(cd.metaData));
    await writeFile(join(latest, 'network_data.json'), JSON.stringify(cd.networkData));
    await writeFile(join(latest, 'vendor_data.json'), JSON.stringify(cd.vendorData ?? {}));
    // user data is binary-safe: the API sends its bytes as a latin1 string (one character per byte)
    if (cd.userData !== undefined)
      await writeFile(join(latest, 'user_data'), Buffer.from(cd.userData, 'latin1'));
    await run('genisoimage', ['-o', tmp, '-V', 'config-2', '-r', '-J', '-quiet', stage], {
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
    const fh = await open(tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, 0o644);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}
