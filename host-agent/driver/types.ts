/**
 * What the agent asks of a hypervisor, whatever drives it: libvirt (libvirt.ts) or memory (fake.ts).
 * The API never sends XML: it sends a DomainSpec, and the driver builds the domain from it.
 */

/** A VM as the API describes it. Every path is on a store mounted at the same place on every host. */
export interface DomainSpec {
  uuid: string;
  /** libvirt domain name; kvmstack uses instance-<uuid-prefix> style names the API chooses. */
  name: string;
  vcpus: number;
  memoryMb: number;
  disks: DiskSpec[];
  nics: NicSpec[];
  /** OpenStack config-drive content, written as an ISO9660 image labelled config-2. */
  configDrive?: ConfigDriveSpec;
  /** Where the serial console is logged (os-getConsoleOutput reads it). */
  consoleLog: string;
}

export interface DiskSpec {
  /** Guest device name: vda, vdb, ... */
  target: string;
  /** The disk file. For a root disk with a backing image it is created as a qcow2 overlay if absent. */
  path: string;
  format: 'qcow2' | 'raw';
  /** The image the overlay is backed by (a linked clone: the boot copies nothing). */
  backingPath?: string;
  backingFormat?: 'qcow2' | 'raw';
  /** Virtual size of a new overlay; defaults to the backing image's. */
  sizeGb?: number;
  readOnly?: boolean;
  /** Libvirt serial, e.g. a Cinder volume id. */
  serial?: string;
}

export interface NicSpec {
  mac: string;
  /** The Linux bridge of the network on this host. */
  bridge: string;
  mtu?: number;
  /**
   * The host-side tap's name: tap<11 of the port id> (src/network/realization.ts tapNameFor), so the network
   * agent finds the VM's NIC by its port. Absent: libvirt picks vnetN.
   */
  target?: string;
}

export interface ConfigDriveSpec {
  /** openstack/latest/meta_data.json */
  metaData: Record<string, unknown>;
  /** openstack/latest/network_data.json */
  networkData: Record<string, unknown>;
  /** openstack/latest/user_data: its bytes as a latin1 string (one character per byte, already base64-decoded). */
  userData?: string;
  vendorData?: Record<string, unknown>;
}

export type PowerState = 'running' | 'paused' | 'shutdown' | 'shutoff' | 'crashed' | 'suspended' | 'nostate';

/** A domain as the hypervisor reports it, with the kvmstack metadata stored in it. */
export interface DomainStatus {
  uuid: string;
  name: string;
  state: PowerState;
  /** From the domain's kvmstack metadata; null for a domain kvmstack did not define. */
  generation: number | null;
  /** Host id that defined it, from the metadata. */
  owner: string | null;
  persistent: boolean;
}

/** What a host offers, reported with every heartbeat. */
export interface HostInventory {
  vcpus: number;
  memoryMb: number;
  cpuModel: string;
  hypervisorType: 'QEMU' | 'fake';
  /** libvirt's packed version, e.g. 7002000 for 7.2.0 (Nova reports the QEMU version this way). */
  hypervisorVersion: number;
  /** 'kvm' or 'qemu' (TCG), as chosen for this host. */
  virtType: 'kvm' | 'qemu' | 'fake';
  /** Local disk of the state directory, GiB. */
  localDiskGb: number;
  localDiskFreeGb: number;
}

/** Identifies which generation of a domain a command is for, and which host owns it. */
export interface Ownership {
  generation: number;
  owner: string;
}

export interface MigrateTarget {
  /** libvirt URI of the destination, e.g. qemu+tcp://10.99.0.12/system */
  uri: string;
  /** Where the migration stream goes, e.g. tcp://10.99.0.12 */
  migrateUri?: string;
  /** Milliseconds of downtime libvirt may allow at switch-over. */
  maxDowntimeMs?: number;
}

export class DriverError extends Error {
  constructor(
    message: string,
    /** 'not_found' | 'conflict' (e.g. the disk is locked by another QEMU) | 'failed' */
    readonly kind: 'not_found' | 'conflict' | 'failed' = 'failed',
  ) {
    super(message);
  }
}

/**
 * One hypervisor host. Methods are idempotent where the agent needs them to be (define of an identical spec,
 * start of a running domain, destroy of a stopped one): the agent may repeat a command after a crash.
 */
export interface HypervisorDriver {
  readonly kind: 'libvirt' | 'fake';
  inventory(): Promise<HostInventory>;
  listDomains(): Promise<DomainStatus[]>;
  /** null when no such domain. */
  getDomain(uuid: string): Promise<DomainStatus | null>;
  /** Creates missing disk overlays and the config drive, then defines (or redefines) the persistent domain. */
  define(spec: DomainSpec, own: Ownership): Promise<DomainStatus>;
  start(uuid: string): Promise<void>;
  /** ACPI shutdown; resolves once requested, not when done. */
  shutdown(uuid: string): Promise<void>;
  /** Hard power-off. */
  destroy(uuid: string): Promise<void>;
  reboot(uuid: string, hard: boolean): Promise<void>;
  /** Removes the definition (and a managed-save image); never deletes a disk on a shared store. */
  undefine(uuid: string): Promise<void>;
  /** Freezes a running guest's vCPUs (Nova's pause); conflict when it is not running. */
  pause(uuid: string): Promise<void>;
  unpause(uuid: string): Promise<void>;
  /**
   * Saves a running guest's memory to a managed-save image and stops it (Nova's libvirt suspend); the domain
   * then reports 'suspended' until resume (or start) restores it.
   */
  suspend(uuid: string): Promise<void>;
  resume(uuid: string): Promise<void>;
  /**
   * A standalone qcow2 (no backing file) of the domain's disk `target`, written atomically to targetPath; a
   * running guest is paused for the copy (crash-consistent) and resumed after.
   */
  snapshot(uuid: string, target: string, targetPath: string): Promise<{ size: number; virtualSize: number }>;
  /** Rebuild: the shut-off domain's disk becomes a fresh overlay on disk.backingPath, at the same path. */
  resetDisk(uuid: string, disk: DiskSpec): Promise<void>;
  /** Live migration, peer to peer, shared storage only; the domain is defined on the destination on success. */
  migrate(uuid: string, target: MigrateTarget, own: Ownership): Promise<void>;
  attachDisk(uuid: string, disk: DiskSpec): Promise<void>;
  detachDisk(uuid: string, target: string): Promise<void>;
  plugNic(uuid: string, nic: NicSpec): Promise<void>;
  unplugNic(uuid: string, mac: string): Promise<void>;
  /** The domain's current XML (for the backup on shared storage); '' for the fake driver. */
  domainXml(uuid: string): Promise<string>;
  close(): Promise<void>;
}
