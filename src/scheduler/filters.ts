/**
 * Host filters (design §8), pure: no database, no clock of their own. Each filter says yes or no for one
 * host and one request, as Nova's filter scheduler; the resource filters count what the host's placed
 * instances already claim, with Nova's placement arithmetic: capacity = (total - reserved) × allocation
 * ratio, and no single server may exceed the host's physical total (placement's max_unit).
 */
import { hostState, type Host } from '../cluster/hosts/service.js';

export type PlacementPolicy = 'performance' | 'progressive';
export const PLACEMENT_POLICIES: readonly PlacementPolicy[] = ['performance', 'progressive'];
export const isPlacementPolicy = (v: unknown): v is PlacementPolicy =>
  typeof v === 'string' && (PLACEMENT_POLICIES as readonly string[]).includes(v);

export type GroupPolicy = 'affinity' | 'anti-affinity' | 'soft-affinity' | 'soft-anti-affinity';

/** One host as the scheduler sees it: state, inventory, and what is already claimed on it. */
export interface HostCandidate {
  id: number;
  hostname: string;
  zone: string;
  enabled: boolean;
  forcedDown: boolean;
  revokedAt: number | null;
  lastReportAt: number | null;
  /** The agent's report: vcpus, memoryMb, localDiskGb, virtType, arch (absent: x86_64). */
  inventory: Record<string, unknown>;
  used: { vcpus: number; memoryMb: number; diskGb: number; instances: number };
  /** Members of the request's server group already placed on this host. */
  groupMembers: number;
  /** The host's placement policy: its first aggregate's (by id) placement_policy, else the cluster's. */
  policy: PlacementPolicy;
}

export interface RequestedGroup {
  policy: GroupPolicy;
  /** anti-affinity's `max_server_per_host` rule (2.64); null: 1. */
  maxServerPerHost: number | null;
  /** Members placed anywhere (not only on candidate hosts): affinity then has a host to follow. */
  membersPlaced: number;
}

export interface RequestSpec {
  vcpus: number;
  memoryMb: number;
  rootGb: number;
  availabilityZone: string | null;
  forcedHost: string | null;
  group: RequestedGroup | null;
  imageProperties: Record<string, unknown>;
  ignoreHosts: readonly number[];
}

export interface Allocation {
  cpuRatio: number;
  ramRatio: number;
  diskRatio: number;
  reservedMemoryMb: number;
  reservedCpus: number;
}

export interface FilterEnv {
  now: number;
  /** [compute] service_down_time, in ms. */
  serviceDownTimeMs: number;
  allocation: Allocation;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

export interface Capacity {
  /** What may be claimed in all (placement's (total - reserved) × ratio, rounded down). */
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  /** The physical totals: the most one server may ask for (placement's max_unit). */
  totalVcpus: number;
  totalMemoryMb: number;
  totalDiskGb: number;
}

export function capacity(h: HostCandidate, a: Allocation): Capacity {
  const totalVcpus = num(h.inventory.vcpus);
  const totalMemoryMb = num(h.inventory.memoryMb);
  const totalDiskGb = num(h.inventory.localDiskGb);
  return {
    vcpus: Math.floor(Math.max(0, totalVcpus - a.reservedCpus) * a.cpuRatio),
    memoryMb: Math.floor(Math.max(0, totalMemoryMb - a.reservedMemoryMb) * a.ramRatio),
    diskGb: Math.floor(totalDiskGb * a.diskRatio),
    totalVcpus,
    totalMemoryMb,
    totalDiskGb,
  };
}

export interface HostFilter {
  name: string;
  /** Nova bypasses filters for a forced host; kvmstack keeps those whose failure would only fail the boot later. */
  appliesToForcedHost: boolean;
  passes(h: HostCandidate, spec: RequestSpec, env: FilterEnv): boolean;
}

/** Enabled (not for a forced host: admins may boot on a disabled host, as in Nova), up, not revoked or forced down. */
const computeFilter: HostFilter = {
  name: 'ComputeFilter',
  appliesToForcedHost: true,
  passes(h, spec, env) {
    if (!h.enabled && spec.forcedHost === null) return false;
    // hostState reads only forcedDown, revokedAt and lastReportAt.
    return hostState(h as unknown as Host, env.now, env.serviceDownTimeMs) === 'up';
  },
};

const ignoreHostsFilter: HostFilter = {
  name: 'IgnoreHostsFilter',
  appliesToForcedHost: true,
  passes: (h, spec) => !spec.ignoreHosts.includes(h.id),
};

const forcedHostFilter: HostFilter = {
  name: 'ForcedHostFilter',
  appliesToForcedHost: true,
  passes: (h, spec) => spec.forcedHost === null || h.hostname === spec.forcedHost,
};

const availabilityZoneFilter: HostFilter = {
  name: 'AvailabilityZoneFilter',
  appliesToForcedHost: false,
  passes: (h, spec) => spec.availabilityZone === null || h.zone === spec.availabilityZone,
};

const ramFilter: HostFilter = {
  name: 'RamFilter',
  appliesToForcedHost: true,
  passes(h, spec, env) {
    const c = capacity(h, env.allocation);
    return spec.memoryMb <= c.totalMemoryMb && h.used.memoryMb + spec.memoryMb <= c.memoryMb;
  },
};

const coreFilter: HostFilter = {
  name: 'CoreFilter',
  appliesToForcedHost: true,
  passes(h, spec, env) {
    const c = capacity(h, env.allocation);
    return spec.vcpus <= c.totalVcpus && h.used.vcpus + spec.vcpus <= c.vcpus;
  },
};

/** A host reporting no local disk takes 0-GB flavors only (their disk is sized by the image, not the flavor). */
const diskFilter: HostFilter = {
  name: 'DiskFilter',
  appliesToForcedHost: true,
  passes(h, spec, env) {
    if (spec.rootGb <= 0) return true;
    const c = capacity(h, env.allocation);
    return spec.rootGb <= c.totalDiskGb && h.used.diskGb + spec.rootGb <= c.diskGb;
  },
};

const affinityFilter: HostFilter = {
  name: 'ServerGroupAffinityFilter',
  appliesToForcedHost: true,
  passes: (h, spec) =>
    spec.group?.policy !== 'affinity' || spec.group.membersPlaced === 0 || h.groupMembers > 0,
};

const antiAffinityFilter: HostFilter = {
  name: 'ServerGroupAntiAffinityFilter',
  appliesToForcedHost: true,
  passes: (h, spec) =>
    spec.group?.policy !== 'anti-affinity' || h.groupMembers < (spec.group.maxServerPerHost ?? 1),
};

// Nova's canonical names (nova.objects.fields): older spellings map onto them.
function canonicalArch(v: string): string {
  const a = v.toLowerCase();
  if (['i386', 'i486', 'i586', 'x86_32'].includes(a)) return 'i686';
  if (a === 'amd64' || a === 'x64') return 'x86_64';
  if (a === 'arm64') return 'aarch64';
  return a;
}
const canonicalHvType = (v: string): string => (v.toLowerCase() === 'xapi' ? 'xen' : v.toLowerCase());
function canonicalVmMode(v: string): string {
  const m = v.toLowerCase();
  if (m === 'pv') return 'xen';
  if (m === 'hv' || m === 'baremetal') return 'hvm';
  return m;
}

/** The first of these image properties that is a non-empty string (new name first, then the legacy one). */
function prop(props: Record<string, unknown>, ...names: string[]): string | null {
  for (const n of names) {
    const v = props[n];
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
  }
  return null;
}

/**
 * What a host runs, as libvirt's capabilities tell Nova: x86_64 hosts run x86_64 and i686 guests, always
 * with QEMU (TCG) and with KVM when the host has it; full virtualization only.
 */
export function supportedInstances(h: HostCandidate): {
  archs: string[];
  hvTypes: string[];
  vmModes: string[];
} {
  const arch = typeof h.inventory.arch === 'string' ? canonicalArch(h.inventory.arch) : 'x86_64';
  const archs = arch === 'x86_64' ? ['x86_64', 'i686'] : [arch];
  const hvTypes = h.inventory.virtType === 'qemu' ? ['qemu'] : ['kvm', 'qemu'];
  return { archs, hvTypes, vmModes: ['hvm'] };
}

/** hw_architecture/architecture, img_hv_type/hypervisor_type and hw_vm_mode/vm_mode must be ones the host runs. */
const imagePropertiesFilter: HostFilter = {
  name: 'ImagePropertiesFilter',
  appliesToForcedHost: true,
  passes(h, spec) {
    const p = spec.imageProperties;
    const arch = prop(p, 'hw_architecture', 'architecture');
    const hvType = prop(p, 'img_hv_type', 'hypervisor_type');
    const vmMode = prop(p, 'hw_vm_mode', 'vm_mode');
    if (arch === null && hvType === null && vmMode === null) return true;
    const s = supportedInstances(h);
    return (
      (arch === null || s.archs.includes(canonicalArch(arch))) &&
      (hvType === null || s.hvTypes.includes(canonicalHvType(hvType))) &&
      (vmMode === null || s.vmModes.includes(canonicalVmMode(vmMode)))
    );
  },
};

/** In Nova's default order: cheap state checks first, then zones, resources, groups and images. */
export const FILTERS: readonly HostFilter[] = [
  ignoreHostsFilter,
  forcedHostFilter,
  computeFilter,
  availabilityZoneFilter,
  ramFilter,
  coreFilter,
  diskFilter,
  affinityFilter,
  antiAffinityFilter,
  imagePropertiesFilter,
];

export interface FilterResult {
  hosts: HostCandidate[];
  /** Hosts left after each filter, for the log of a NoValidHost (Nova's "Filter X returned 0 hosts"). */
  trace: { filter: string; remaining: number }[];
  /** The filter that removed the last host; null when some host passed (or there were no hosts). */
  rejectedBy: string | null;
}

export function filterHosts(
  hosts: readonly HostCandidate[],
  spec: RequestSpec,
  env: FilterEnv,
  filters: readonly HostFilter[] = FILTERS,
): FilterResult {
  let left = [...hosts];
  const trace: FilterResult['trace'] = [];
  for (const f of filters) {
    if (spec.forcedHost !== null && !f.appliesToForcedHost) continue;
    const before = left.length;
    left = left.filter((h) => f.passes(h, spec, env));
    trace.push({ filter: f.name, remaining: left.length });
    if (left.length === 0) return { hosts: [], trace, rejectedBy: before > 0 ? f.name : null };
  }
  return { hosts: left, trace, rejectedBy: null };
}
