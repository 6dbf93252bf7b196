/**
 * The hypervisor driver for real hosts: lifecycle, lookups and XML through @unraid/libvirt, and `virsh`
 * (execFile, one process per call) for what the binding lacks: migration, metadata updates, reboot, device
 * hotplug, capabilities and version.
 */
import { link, lstat, mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConnectListAllDomainsFlags,
  DomainGetXMLDescFlags,
  DomainState,
  type Domain,
  type Hypervisor,
} from '@unraid/libvirt';
import { buildConfigDrive, configDrivePath } from './config-drive.js';
import { copyDisk, overlayArgs, recreateOverlay, tmpBeside } from './disk-files.js';
import { LibvirtConnection } from './connection.js';
import { kindOf, messageOf, toDriverError } from './errors.js';
import { ExecError, run } from '../../src/common/exec.js';
import { diskSize, hostMemoryMb, parseHostCpuModel, parseHypervisorVersion } from './host-info.js';
import {
  DriverError,
  type DiskSpec,
  type DomainSpec,
  type DomainStatus,
  type HostInventory,
  type HypervisorDriver,
  type MigrateTarget,
  type NicSpec,
  type Ownership,
  type PowerState,
} from './types.js';
import {
  KVMSTACK_NS,
  KVMSTACK_NS_PREFIX,
  diskXml,
  domainXml,
  findDeviceXml,
  instanceMetadataXml,
  nicXml,
  parseInstanceMetadata,
} from './xml.js';

export interface LibvirtDriverOptions {
  /** e.g. qemu:///system; in the lab qemu+unix:///system?socket=/path/to/libvirt-sock */
  uri: string;
  virtType: 'kvm' | 'qemu';
  /** The agent's local directory: its free space is the host's local disk, and temp files go under it. */
  stateDir: string;
  /**
   * Pass --unsafe to migrations. Only for a plain 'dir' store: libvirt cannot tell that such a directory
   * is shared and refuses cache='none' disks on it as "unsafe"; on NFS and GlusterFS it knows.
   */
  unsafeMigration?: boolean;
  /** Per binding call; default 120 s (a cold libvirtd probes QEMU for seconds on its first start). */
  callTimeoutMs?: number;
  /** How long a soft reboot waits for the guest to power off before power-cycling it; default 60 s. */
  softRebootTimeoutMs?: number;
  /** A live migration taking longer is aborted; default 10 min. */
  migrationTimeoutMs?: number;
}

const ACTIVE_STATES = new Set([
  DomainState.RUNNING,
  DomainState.BLOCKED,
  DomainState.PAUSED,
  DomainState.SHUTDOWN,
  DomainState.PMSUSPENDED,
]);

const POWER_STATE: Record<DomainState, PowerState> = {
  [DomainState.NOSTATE]: 'nostate',
  [DomainState.RUNNING]: 'running',
  [DomainState.BLOCKED]: 'running',
  [DomainState.PAUSED]: 'paused',
  [DomainState.SHUTDOWN]: 'shutdown',
  [DomainState.SHUTOFF]: 'shutoff',
  [DomainState.CRASHED]: 'crashed',
  [DomainState.PMSUSPENDED]: 'suspended',
};

interface StaticFacts {
  cpuModel: string;
  hypervisorVersion: number;
}

export class LibvirtDriver implements HypervisorDriver {
  readonly kind = 'libvirt' as const;
  private readonly conn: LibvirtConnection;
  private facts: Promise<StaticFacts> | null = null;
  /**
   * Whether a shut-off domain has a managed-save image (i.e. is suspended). The binding cannot ask libvirt
   * (virDomainHasManagedSaveImage is not exposed), and a `virsh domstate --reason` per shut-off domain per
   * reconcile round is an exec each, so the answer is kept while the domain stays shut off: forgotten when it
   * is seen in any other state and whenever this driver starts, destroys, suspends or undefines it. (An image
   * removed by hand with `virsh managedsave-remove` shows once the domain is started or the agent restarts.)
   */
  private readonly saved = new Map<string, boolean>();

  constructor(private readonly opts: LibvirtDriverOptions) {
    this.conn = new LibvirtConnection(opts.uri, opts.callTimeoutMs);
  }

  async inventory(): Promise<HostInventory> {
    try {
      const [facts, node, memoryMb, disk] = await Promise.all([
        this.staticFacts(),
        this.conn.call('reading node info', (hv) => hv.nodeGetInfo()),
        hostMemoryMb(),
        diskSize(this.opts.stateDir),
      ]);
      return {
        vcpus: node.cpus,
        memoryMb,
        cpuModel: facts.cpuModel || node.model,
        hypervisorType: 'QEMU',
        hypervisorVersion: facts.hypervisorVersion,
        virtType: this.opts.virtType,
        localDiskGb: disk.totalGb,
        localDiskFreeGb: disk.freeGb,
      };
    } catch (err) {
      throw toDriverError(err, 'reading the host inventory');
    }
  }

  listDomains(): Promise<DomainStatus[]> {
    return this.op('listing domains', async (hv) => {
      const persistent = await persistentUuids(hv);
      const out: DomainStatus[] = [];
      for (const d of await hv.connectListAllDomains()) {
        try {
          out.push(await this.withSaved(await statusOf(d, persistent)));
        } catch (err) {
          // Undefined between the listing and now: it is simply not there any more.
          if (kindOf(messageOf(err)) !== 'not_found') throw err;
        }
      }
      return out;
    });
  }

  getDomain(uuid: string): Promise<DomainStatus | null> {
    return this.op(`looking up ${uuid}`, async (hv) => {
      const d = await lookup(hv, uuid);
      return d ? this.withSaved(await statusOf(d, await persistentUuids(hv))) : null;
    });
  }

  async define(spec: DomainSpec, own: Ownership): Promise<DomainStatus> {
    const doing = `defining ${spec.uuid}`;
    try {
      // Built first: a spec that cannot become valid XML touches no file.
      const iso = spec.configDrive ? configDrivePath(spec) : undefined;
      const xml = domainXml(spec, own, { virtType: this.opts.virtType }, iso);
      for (const disk of spec.disks) await this.ensureOverlay(disk);
      await mkdir(dirname(spec.consoleLog), { recursive: true });
      if (spec.configDrive && iso)
        await buildConfigDrive(spec.configDrive, iso, { tmpDir: await this.tmpDir() });
      return await this.conn.call(doing, async (hv) => {
        const existed = (await lookup(hv, spec.uuid)) !== null;
        const d = await hv.domainDefineXML(xml);
        if (!existed) this.saved.set(spec.uuid, false); // a new domain has no saved image
        return statusOf(d, await persistentUuids(hv));
      });
    } catch (err) {
      throw toDriverError(err, doing);
    }
  }

  start(uuid: string): Promise<void> {
    this.saved.delete(uuid);
    return this.op(`starting ${uuid}`, async (hv) => {
      const d = await need(hv, uuid);
      if (await isActive(d)) return;
      try {
        await d.create();
      } catch (err) {
        // A retry after a lost connection finds the first attempt's work done.
        if (/is already active|already running/i.test(messageOf(err))) return;
        throw err;
      }
    });
  }

  shutdown(uuid: string): Promise<void> {
    return this.op(`shutting down ${uuid}`, async (hv) => {
      const d = await need(hv, uuid);
      if (!(await isActive(d))) return;
      await ignoreNotRunning(d.shutdown());
    });
  }

  destroy(uuid: string): Promise<void> {
    this.saved.delete(uuid);
    return this.op(`destroying ${uuid}`, async (hv) => {
      const d = await lookup(hv, uuid);
      if (!d || !(await isActive(d))) return;
      await ignoreNotRunning(d.destroy());
    });
  }

  /**
   * Both kinds end in a new QEMU started from the persistent definition, as Nova's reboots do (so they also
   * apply a redefined domain). Soft: ACPI shutdown, and once the guest is off, start; a guest that is not off
   * within softRebootTimeoutMs is power-cycled. Not `virsh reboot`: its ACPI "fake reboot" resumes the same
   * QEMU, and with virtlockd that resume fails to take the disk lease again, so libvirt kills the domain.
   * Hard: destroy, then start; unlike `virsh reset` it also recovers a wedged QEMU. A transient domain (not
   * kvmstack's) would vanish on destroy, so it is reset instead.
   */
  async reboot(uuid: string, hard: boolean): Promise<void> {
    const doing = `rebooting ${uuid}`;
    const st = await this.runningDomain(uuid, doing);
    if (!st.persistent) return this.virshOp(doing, ['reset', uuid]);
    if (!hard) {
      await this.shutdown(uuid);
      const until = Date.now() + (this.opts.softRebootTimeoutMs ?? 60_000);
      let state: PowerState | undefined = st.state;
      while (state !== undefined && isActiveState(state) && Date.now() < until) {
        await sleep(250);
        state = (await this.getDomain(uuid))?.state;
      }
    }
    await this.destroy(uuid);
    await this.start(uuid);
  }

  /** The domain's status, or not_found; conflict when it is not running (nothing to reboot or migrate). */
  private async runningDomain(uuid: string, doing: string): Promise<DomainStatus> {
    const st = await this.getDomain(uuid);
    if (!st)
      throw new DriverError(
        `${doing}: Domain not found: no domain with matching uuid '${uuid}'`,
        'not_found',
      );
    if (!isActiveState(st.state)) throw new DriverError(`${doing}: domain is not running`, 'conflict');
    return st;
  }

  undefine(uuid: string): Promise<void> {
    // libvirt's undefine never touches disks; the config drive and console log stay too.
    return this.op(`undefining ${uuid}`, async (hv) => {
      const d = await lookup(hv, uuid);
      if (!d) return;
      // libvirt would make a running domain transient; kvmstack wants it stopped first.
      if (await isActive(d)) throw new DriverError(`domain ${uuid} is running`, 'conflict');
      if (await this.hasManagedSave(uuid)) await this.virsh(['managedsave-remove', uuid]);
      this.saved.delete(uuid);
      await d.undefine();
    });
  }

  pause(uuid: string): Promise<void> {
    return this.op(`pausing ${uuid}`, async (hv) => {
      const d = await need(hv, uuid);
      const { state } = await d.getInfo();
      if (POWER_STATE[state] === 'paused') return;
      if (POWER_STATE[state] !== 'running')
        throw new DriverError(`domain ${uuid} is not running`, 'conflict');
      await d.suspend();
    });
  }

  unpause(uuid: string): Promise<void> {
    return this.op(`unpausing ${uuid}`, async (hv) => {
      const d = await need(hv, uuid);
      const { state } = await d.getInfo();
      if (POWER_STATE[state] === 'running') return;
      if (POWER_STATE[state] !== 'paused') throw new DriverError(`domain ${uuid} is not paused`, 'conflict');
      await d.resume();
    });
  }

  /** libvirt's managed save (`virsh managedsave`), as Nova's libvirt driver suspends. */
  async suspend(uuid: string): Promise<void> {
    const doing = `suspending ${uuid}`;
    const st = await this.getDomain(uuid);
    if (!st)
      throw new DriverError(
        `${doing}: Domain not found: no domain with matching uuid '${uuid}'`,
        'not_found',
      );
    if (st.state === 'suspended') return;
    if (!isActiveState(st.state)) throw new DriverError(`${doing}: domain is not running`, 'conflict');
    this.saved.delete(uuid);
    await this.virshOp(doing, ['managedsave', uuid]);
  }

  /** Starting a domain with a managed-save image restores it (virDomainCreate uses the image). */
  async resume(uuid: string): Promise<void> {
    const st = await this.getDomain(uuid);
    if (st?.state !== 'suspended' && st?.state !== 'running')
      throw new DriverError(`resuming ${uuid}: domain is not suspended`, 'conflict');
    await this.start(uuid);
  }

  async snapshot(
    uuid: string,
    target: string,
    targetPath: string,
  ): Promise<{ size: number; virtualSize: number }> {
    const doing = `snapshotting ${target} of ${uuid}`;
    const xml = await this.domainXml(uuid);
    const source = diskSourceOf(xml, target);
    if (!source) throw new DriverError(`${doing}: the domain has no disk ${target}`, 'not_found');
    const st = await this.getDomain(uuid);
    const pausedHere = st?.state === 'running';
    if (pausedHere) await this.pause(uuid);
    try {
      return await copyDisk(source, targetPath);
    } catch (err) {
      throw toDriverError(err, doing);
    } finally {
      if (pausedHere) await this.unpause(uuid).catch(() => undefined);
    }
  }

  async resetDisk(uuid: string, disk: DiskSpec): Promise<void> {
    const doing = `recreating ${disk.target} of ${uuid}`;
    const st = await this.getDomain(uuid);
    if (!st)
      throw new DriverError(
        `${doing}: Domain not found: no domain with matching uuid '${uuid}'`,
        'not_found',
      );
    if (st.state !== 'shutoff') throw new DriverError(`${doing}: the domain must be shut off`, 'conflict');
    if (diskSourceOf(await this.domainXml(uuid), disk.target) !== disk.path)
      throw new DriverError(`${doing}: ${disk.path} is not the domain's ${disk.target}`);
    try {
      await recreateOverlay(disk);
    } catch (err) {
      throw toDriverError(err, doing);
    }
  }

  /**
   * Peer-to-peer live migration. The domain's metadata is switched to the new ownership first (live and
   * persistent), so the definition that arrives on the destination already names its new owner; a failed
   * migration puts the old ownership back.
   */
  async migrate(uuid: string, target: MigrateTarget, own: Ownership): Promise<void> {
    const doing = `migrating ${uuid} to ${target.uri}`;
    const st = await this.runningDomain(uuid, doing);
    await this.setOwnership(uuid, own, st.persistent, doing);
    const args = ['migrate', '--live', '--p2p', '--persistent', '--undefinesource', '--verbose'];
    if (this.opts.unsafeMigration) args.push('--unsafe');
    args.push(uuid, target.uri);
    if (target.migrateUri) args.push('--migrateuri', target.migrateUri);
    try {
      if (target.maxDowntimeMs !== undefined) {
        await this.virsh([
          'migrate-setmaxdowntime',
          uuid,
          '--downtime',
          String(Math.round(target.maxDowntimeMs)),
        ]);
      }
      await this.virsh(args, this.opts.migrationTimeoutMs ?? 600_000);
    } catch (err) {
      // Killing virsh does not stop libvirt's migration job.
      if (err instanceof ExecError && err.timedOut)
        await this.virsh(['domjobabort', uuid]).catch(() => undefined);
      if (st.generation !== null && st.owner !== null && (await this.getDomain(uuid).catch(() => null))) {
        await this.setOwnership(
          uuid,
          { generation: st.generation, owner: st.owner },
          st.persistent,
          doing,
        ).catch(() => undefined);
      }
      throw toDriverError(err, doing);
    }
  }

  async attachDisk(uuid: string, disk: DiskSpec): Promise<void> {
    const doing = `attaching ${disk.target} to ${uuid}`;
    try {
      await this.ensureOverlay(disk);
    } catch (err) {
      throw toDriverError(err, doing);
    }
    await this.attach(uuid, diskXml(disk), doing);
  }

  detachDisk(uuid: string, target: string): Promise<void> {
    return this.detach(uuid, 'disk', target, `detaching ${target} from ${uuid}`);
  }

  plugNic(uuid: string, nic: NicSpec): Promise<void> {
    return this.attach(uuid, nicXml(nic), `plugging ${nic.mac} into ${uuid}`);
  }

  unplugNic(uuid: string, mac: string): Promise<void> {
    return this.detach(uuid, 'interface', mac, `unplugging ${mac} from ${uuid}`);
  }

  /** The persistent definition: what a recovery would define again (the live XML adds runtime detail). */
  domainXml(uuid: string): Promise<string> {
    return this.op(`reading the XML of ${uuid}`, async (hv) =>
      (await need(hv, uuid)).getXMLDesc(DomainGetXMLDescFlags.INACTIVE),
    );
  }

  close(): Promise<void> {
    return this.conn.close();
  }

  // ---- helpers ------------------------------------------------------------------------------------------

  /** A shut-off domain with a managed-save image is a suspended one (libvirt's "shut off (saved)"). */
  private async withSaved(st: DomainStatus): Promise<DomainStatus> {
    if (st.state !== 'shutoff') {
      this.saved.delete(st.uuid);
      return st;
    }
    let saved = this.saved.get(st.uuid);
    if (saved === undefined) {
      saved = await this.hasManagedSave(st.uuid);
      this.saved.set(st.uuid, saved);
    }
    return saved ? { ...st, state: 'suspended' } : st;
  }

  private async hasManagedSave(uuid: string): Promise<boolean> {
    const out = await this.virsh(['domstate', '--reason', uuid]).catch(() => '');
    return /\(saved\)/.test(out);
  }

  private async op<T>(doing: string, fn: (hv: Hypervisor) => Promise<T>): Promise<T> {
    try {
      return await this.conn.call(doing, fn);
    } catch (err) {
      throw toDriverError(err, doing);
    }
  }

  private virsh(args: string[], timeoutMs = 60_000): Promise<string> {
    return run('virsh', ['-c', this.opts.uri, ...args], { timeoutMs });
  }

  private async virshOp(doing: string, args: string[]): Promise<void> {
    try {
      await this.virsh(args);
    } catch (err) {
      throw toDriverError(err, doing);
    }
  }

  private async setOwnership(
    uuid: string,
    own: Ownership,
    persistent: boolean,
    doing: string,
  ): Promise<void> {
    const args = ['metadata', uuid, '--uri', KVMSTACK_NS, '--key', KVMSTACK_NS_PREFIX];
    args.push('--set', instanceMetadataXml(own), '--live');
    if (persistent) args.push('--config');
    await this.virshOp(doing, args);
  }

  /**
   * A missing qcow2 overlay over its backing image. Made under a temp name and hard-linked into place, which
   * fails if the disk appeared meanwhile: an existing disk is never overwritten, whoever made it.
   */
  private async ensureOverlay(disk: DiskSpec): Promise<void> {
    if (disk.backingPath === undefined || (await exists(disk.path))) return;
    if (disk.format !== 'qcow2')
      throw new DriverError(`${disk.path}: an overlay must be qcow2, not ${disk.format}`);
    await mkdir(dirname(disk.path), { recursive: true });
    const tmp = tmpBeside(disk.path);
    try {
      await run('qemu-img', overlayArgs(disk, tmp), { timeoutMs: 120_000 });
      await link(tmp, disk.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  private async tmpDir(): Promise<string> {
    const dir = join(this.opts.stateDir, 'tmp');
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** Runs virsh with a device XML fragment in a private temp file. */
  private async withFragment(fragment: string, fn: (file: string) => Promise<void>): Promise<void> {
    const dir = await mkdtemp(join(await this.tmpDir(), 'device-'));
    try {
      const file = join(dir, 'device.xml');
      await writeFile(file, fragment);
      await fn(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Into the persistent definition, and into the running domain too when there is one. */
  private async attach(uuid: string, fragment: string, doing: string): Promise<void> {
    try {
      const st = await this.getDomain(uuid);
      if (!st) throw new DriverError(`Domain not found: no domain with matching uuid '${uuid}'`, 'not_found');
      const flags = st.persistent ? ['--config'] : [];
      if (isActiveState(st.state)) flags.push('--live');
      await this.withFragment(fragment, (file) =>
        this.virsh(['attach-device', uuid, file, ...flags]).then(() => {}),
      );
    } catch (err) {
      throw toDriverError(err, doing);
    }
  }

  /**
   * Out of the running domain and the persistent definition, from each where it is: the device's text is
   * taken from libvirt's own XML, because detach-device matches what it is given.
   */
  private async detach(uuid: string, kind: 'disk' | 'interface', key: string, doing: string): Promise<void> {
    try {
      const { live, config } = await this.op(doing, async (hv) => {
        const d = await need(hv, uuid);
        const persistent = (await persistentUuids(hv)).has(uuid);
        return {
          live: (await isActive(d)) ? await d.getXMLDesc() : null,
          config: persistent ? await d.getXMLDesc(DomainGetXMLDescFlags.INACTIVE) : null,
        };
      });
      const inLive = live === null ? null : findDeviceXml(live, kind, key);
      const inConfig = config === null ? null : findDeviceXml(config, kind, key);
      if (inLive === null && inConfig === null)
        throw new DriverError(`no ${kind} ${key} in ${uuid}`, 'not_found');
      if (inLive !== null) {
        await this.withFragment(inLive, (f) =>
          this.virsh(['detach-device', uuid, f, '--live']).then(() => {}),
        );
      }
      if (inConfig !== null) {
        await this.withFragment(inConfig, (f) =>
          this.virsh(['detach-device', uuid, f, '--config']).then(() => {}),
        );
      }
    } catch (err) {
      throw toDriverError(err, doing);
    }
  }

  private staticFacts(): Promise<StaticFacts> {
    this.facts ??= (async () => {
      const [caps, version] = await Promise.all([this.virsh(['capabilities']), this.virsh(['version'])]);
      return { cpuModel: parseHostCpuModel(caps) ?? '', hypervisorVersion: parseHypervisorVersion(version) };
    })().catch((err: unknown) => {
      this.facts = null; // try again on the next heartbeat
      throw err;
    });
    return this.facts;
  }
}

function isActiveState(s: PowerState): boolean {
  return s !== 'shutoff' && s !== 'crashed' && s !== 'nostate';
}

async function isActive(d: Domain): Promise<boolean> {
  return ACTIVE_STATES.has((await d.getInfo()).state);
}

async function ignoreNotRunning(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!/not running/i.test(messageOf(err))) throw err;
  }
}

async function lookup(hv: Hypervisor, uuid: string): Promise<Domain | null> {
  try {
    return await hv.domainLookupByUUIDString(uuid);
  } catch (err) {
    if (kindOf(messageOf(err)) === 'not_found') return null;
    throw err;
  }
}

async function need(hv: Hypervisor, uuid: string): Promise<Domain> {
  const d = await lookup(hv, uuid);
  if (!d) throw new DriverError(`Domain not found: no domain with matching uuid '${uuid}'`, 'not_found');
  return d;
}

/** The binding has no virDomainIsPersistent: list the persistent ones instead. */
async function persistentUuids(hv: Hypervisor): Promise<Set<string>> {
  const ds = await hv.connectListAllDomains(ConnectListAllDomainsFlags.PERSISTENT);
  return new Set(await Promise.all(ds.map((d) => d.getUUIDString())));
}

async function statusOf(d: Domain, persistent: Set<string>): Promise<DomainStatus> {
  const uuid = await d.getUUIDString();
  const info = await d.getInfo();
  const own = parseInstanceMetadata(await d.getXMLDesc());
  return {
    uuid,
    name: await d.getName(),
    state: POWER_STATE[info.state] ?? 'nostate',
    generation: own?.generation ?? null,
    owner: own?.owner ?? null,
    persistent: persistent.has(uuid),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** The source file of a disk device (by target dev) in a domain's XML. */
export function diskSourceOf(xml: string, target: string): string | null {
  for (const m of xml.matchAll(/<disk\b[\s\S]*?<\/disk>/g)) {
    const disk = m[0];
    if (!new RegExp(`<target[^>]*dev=['"]${target}['"]`).test(disk)) continue;
    const src = /<source[^>]*file=['"]([^'"]+)['"]/.exec(disk);
    return src
      ? src[1]
          .replace(/&amp;/g, '&')
          .replace(/&apos;/g, "'")
          .replace(/&quot;/g, '"')
      : null;
  }
  return null;
}
