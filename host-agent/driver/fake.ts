import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
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
} from './types.js';
import { blankDisk } from './disk-files.js';

/**
 * What a booting guest prints on its serial console, written where QEMU would write it (truncated at each
 * start, as QEMU's append='off'), so os-getConsoleOutput has the same source as with libvirt. Best effort: a
 * fake host whose store path cannot be written simply has no console log.
 */
function writeFakeConsole(spec: DomainSpec): void {
  const lines = [
    `fake hypervisor: starting ${spec.name} (${spec.uuid})`,
    ...Array.from({ length: 8 }, (_, i) => `[    ${i}.000000] fake kernel: boot step ${i + 1} of 8`),
    `${spec.name} login:`,
  ];
  try {
    mkdirSync(dirname(spec.consoleLog), { recursive: true });
    writeFileSync(spec.consoleLog, `${lines.join('\n')}\n`);
  } catch {
    // no console log on this fake host
  }
}

interface FakeDomain {
  spec: DomainSpec;
  own: Ownership;
  state: DomainStatus['state'];
}

/**
 * A hypervisor in memory: the same contract as the libvirt driver, for fast tests and for simulating hundreds
 * of hosts. Selected only by `[agent] driver = fake`, never as a fallback. Fake hosts registered in one
 * FakeCluster can migrate domains to each other, and a disk can be "locked" by one running domain at a time,
 * as QEMU's image locks make it on real hosts.
 */
export class FakeDriver implements HypervisorDriver {
  readonly kind = 'fake' as const;
  private domains = new Map<string, FakeDomain>();

  constructor(
    readonly hostName: string,
    private readonly cluster: FakeCluster = new FakeCluster(),
    private readonly size: { vcpus: number; memoryMb: number; diskGb: number } = {
      vcpus: 16,
      memoryMb: 65536,
      diskGb: 500,
    },
  ) {
    cluster.hosts.set(hostName, this);
  }

  async inventory(): Promise<HostInventory> {
    return {
      vcpus: this.size.vcpus,
      memoryMb: this.size.memoryMb,
      cpuModel: 'fake',
      hypervisorType: 'fake',
      hypervisorVersion: 1000,
      virtType: 'fake',
      localDiskGb: this.size.diskGb,
      localDiskFreeGb: this.size.diskGb,
    };
  }

  async listDomains(): Promise<DomainStatus[]> {
    return [...this.domains.values()].map((d) => this.status(d));
  }

  async getDomain(uuid: string): Promise<DomainStatus | null> {
    const d = this.domains.get(uuid);
    return d ? this.status(d) : null;
  }

  async define(spec: DomainSpec, own: Ownership): Promise<DomainStatus> {
    const existing = this.domains.get(spec.uuid);
    const d: FakeDomain = { spec, own, state: existing?.state ?? 'shutoff' };
    this.domains.set(spec.uuid, d);
    return this.status(d);
  }

  async start(uuid: string): Promise<void> {
    const d = this.need(uuid);
    if (d.state === 'running') return;
    if (d.state === 'paused') throw new DriverError(`domain ${uuid} is paused`, 'conflict');
    for (const disk of d.spec.disks.filter((x) => !x.readOnly)) {
      const holder = this.cluster.lockHolder(disk.path, uuid);
      if (holder)
        throw new DriverError(`Failed to get "write" lock: ${disk.path} is in use by ${holder}`, 'conflict');
    }
    d.state = 'running';
    writeFakeConsole(d.spec);
  }

  async shutdown(uuid: string): Promise<void> {
    this.need(uuid).state = 'shutoff';
  }

  async destroy(uuid: string): Promise<void> {
    const d = this.domains.get(uuid);
    if (d) d.state = 'shutoff';
  }

  async reboot(uuid: string): Promise<void> {
    const d = this.need(uuid);
    if (d.state !== 'running') throw new DriverError(`domain ${uuid} is not running`, 'conflict');
  }

  async undefine(uuid: string): Promise<void> {
    const d = this.domains.get(uuid);
    if (d?.state === 'running') throw new DriverError(`domain ${uuid} is running`, 'conflict');
    this.domains.delete(uuid);
  }

  async pause(uuid: string): Promise<void> {
    const d = this.need(uuid);
    if (d.state === 'paused') return;
    if (d.state !== 'running') throw new DriverError(`domain ${uuid} is not running`, 'conflict');
    d.state = 'paused';
  }

  async unpause(uuid: string): Promise<void> {
    const d = this.need(uuid);
    if (d.state === 'running') return;
    if (d.state !== 'paused') throw new DriverError(`domain ${uuid} is not paused`, 'conflict');
    d.state = 'running';
  }

  async suspend(uuid: string): Promise<void> {
    const d = this.need(uuid);
    if (d.state === 'suspended') return;
    if (d.state !== 'running' && d.state !== 'paused')
      throw new DriverError(`domain ${uuid} is not running`, 'conflict');
    d.state = 'suspended';
  }

  async resume(uuid: string): Promise<void> {
    const d = this.need(uuid);
    if (d.state === 'running') return;
    if (d.state !== 'suspended') throw new DriverError(`domain ${uuid} is not suspended`, 'conflict');
    d.state = 'running';
  }

  /** The fake has no disk contents: its snapshot is an empty qcow2 of the disk's size (1 GiB if unsized). */
  async snapshot(
    uuid: string,
    target: string,
    targetPath: string,
  ): Promise<{ size: number; virtualSize: number }> {
    const disk = this.need(uuid).spec.disks.find((x) => x.target === target);
    if (!disk) throw new DriverError(`the domain has no disk ${target}`, 'not_found');
    return blankDisk(targetPath, (disk.sizeGb ?? 1) * 2 ** 30);
  }

  async resetDisk(uuid: string, disk: DiskSpec): Promise<void> {
    const d = this.need(uuid);
    if (d.state !== 'shutoff') throw new DriverError(`domain ${uuid} must be shut off`, 'conflict');
    if (!d.spec.disks.some((x) => x.target === disk.target && x.path === disk.path))
      throw new DriverError(`${disk.path} is not the domain's ${disk.target}`);
  }

  async migrate(uuid: string, target: MigrateTarget, own: Ownership): Promise<void> {
    const d = this.need(uuid);
    if (d.state !== 'running' && d.state !== 'paused')
      throw new DriverError(`domain ${uuid} is not running`, 'conflict');
    const dest = this.cluster.hosts.get(new URL(target.uri).hostname);
    if (!dest || dest === this) throw new DriverError(`no fake host at ${target.uri}`, 'failed');
    dest.domains.set(uuid, { spec: d.spec, own, state: d.state });
    this.domains.delete(uuid);
  }

  async attachDisk(uuid: string, disk: DiskSpec): Promise<void> {
    const d = this.need(uuid);
    if (d.spec.disks.some((x) => x.target === disk.target))
      throw new DriverError(`target ${disk.target} is in use`, 'conflict');
    d.spec = { ...d.spec, disks: [...d.spec.disks, disk] };
  }

  async detachDisk(uuid: string, target: string): Promise<void> {
    const d = this.need(uuid);
    if (!d.spec.disks.some((x) => x.target === target))
      throw new DriverError(`no disk ${target}`, 'not_found');
    d.spec = { ...d.spec, disks: d.spec.disks.filter((x) => x.target !== target) };
  }

  async plugNic(uuid: string, nic: NicSpec): Promise<void> {
    const d = this.need(uuid);
    if (d.spec.nics.some((x) => x.mac === nic.mac))
      throw new DriverError(`mac ${nic.mac} is in use`, 'conflict');
    d.spec = { ...d.spec, nics: [...d.spec.nics, nic] };
  }

  async unplugNic(uuid: string, mac: string): Promise<void> {
    const d = this.need(uuid);
    if (!d.spec.nics.some((x) => x.mac === mac)) throw new DriverError(`no nic ${mac}`, 'not_found');
    d.spec = { ...d.spec, nics: d.spec.nics.filter((x) => x.mac !== mac) };
  }

  async domainXml(): Promise<string> {
    return '';
  }

  async close(): Promise<void> {}

  /** Test hook: the spec a domain was defined with. */
  specOf(uuid: string): DomainSpec | undefined {
    return this.domains.get(uuid)?.spec;
  }

  /** Test hook: the host "dies": its domains vanish with it, releasing their disk locks. */
  crash(): void {
    this.domains.clear();
  }

  private need(uuid: string): FakeDomain {
    const d = this.domains.get(uuid);
    if (!d) throw new DriverError(`Domain not found: no domain with matching uuid '${uuid}'`, 'not_found');
    return d;
  }

  private status(d: FakeDomain): DomainStatus {
    return {
      uuid: d.spec.uuid,
      name: d.spec.name,
      state: d.state,
      generation: d.own.generation,
      owner: d.own.owner,
      persistent: true,
    };
  }

  /** Which running domain (on any host of the cluster) other than `except` holds a disk. */
  runningWith(path: string, except: string): string | null {
    for (const d of this.domains.values()) {
      if (
        d.spec.uuid !== except &&
        d.state === 'running' &&
        d.spec.disks.some((x) => x.path === path && !x.readOnly)
      ) {
        return `${this.hostName}/${d.spec.name}`;
      }
    }
    return null;
  }
}

/** Fake hosts that share "storage": migration targets and disk locks across hosts. */
export class FakeCluster {
  readonly hosts = new Map<string, FakeDriver>();

  lockHolder(path: string, except: string): string | null {
    for (const h of this.hosts.values()) {
      const holder = h.runningWith(path, except);
      if (holder) return holder;
    }
    return null;
  }
}
