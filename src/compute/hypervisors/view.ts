import type { Microversion } from '../../common/microversion.js';
import { hostState, type Host } from '../../cluster/hosts/service.js';
import type { HostUsage } from '../services/service.js';

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** The compute-node figures of a host: capacity from the agent's inventory, usage from placed instances. */
export function hypervisorFigures(h: Host, u: HostUsage): Record<string, number> {
  const inv = h.inventory;
  const localGb = num(inv.localDiskGb);
  const freeGb = num(inv.localDiskFreeGb);
  const memoryMb = num(inv.memoryMb);
  // local_gb_used is what the filesystem says is used: instance disks live on shared stores, not counted here.
  const localGbUsed = Math.max(0, localGb - freeGb);
  return {
    vcpus: num(inv.vcpus),
    memory_mb: memoryMb,
    local_gb: localGb,
    vcpus_used: u.vcpus,
    memory_mb_used: u.memoryMb,
    local_gb_used: localGbUsed,
    free_ram_mb: memoryMb - u.memoryMb,
    free_disk_gb: localGb - localGbUsed,
    current_workload: 0,
    running_vms: u.runningVms,
    disk_available_least: freeGb,
  };
}

function cpuInfo(h: Host): Record<string, unknown> {
  const model = h.inventory.cpuModel;
  return typeof model === 'string' && model ? { model } : {};
}

/** One hypervisor at microversion mv: the summary fields, plus the details when `detail`. */
export function hypervisorView(
  h: Host,
  u: HostUsage,
  mv: Microversion,
  opts: { detail: boolean; now: number; downAfterMs: number; servers?: boolean },
): Record<string, unknown> {
  const uuidIds = mv.atLeast('2.53');
  const body: Record<string, unknown> = {
    id: uuidIds ? h.uuid : h.id, // 2.53: UUID ids
    hypervisor_hostname: h.hostname,
    state: hostState(h, opts.now, opts.downAfterMs),
    status: h.enabled ? 'enabled' : 'disabled',
  };
  if (opts.detail) {
    body.hypervisor_type = 'QEMU'; // libvirt reports QEMU for KVM and TCG guests alike
    body.hypervisor_version = num(h.inventory.hypervisorVersion);
    body.host_ip = h.hostIp;
    body.service = { id: uuidIds ? h.uuid : h.id, host: h.hostname, disabled_reason: h.disabledReason };
    Object.assign(body, hypervisorFigures(h, u));
    // cpu_info: a JSON string up to 2.27, an object from 2.28
    body.cpu_info = mv.atLeast('2.28') ? cpuInfo(h) : JSON.stringify(cpuInfo(h));
  }
  if (opts.servers) {
    if (u.servers.length > 0) body.servers = u.servers;
    else if (mv.atLeast('2.75')) body.servers = []; // 2.75: an empty list instead of no key
  }
  return body;
}

const STAT_KEYS = [
  'vcpus',
  'memory_mb',
  'local_gb',
  'vcpus_used',
  'memory_mb_used',
  'local_gb_used',
  'free_ram_mb',
  'free_disk_gb',
  'current_workload',
  'running_vms',
  'disk_available_least',
] as const;

/** GET /os-hypervisors/statistics: sums over the enabled hosts, as Nova's compute_node_statistics. */
export function statisticsView(rows: { host: Host; usage: HostUsage }[]): Record<string, number> {
  const out: Record<string, number> = { count: 0 };
  for (const k of STAT_KEYS) out[k] = 0;
  for (const { host, usage } of rows) {
    if (!host.enabled) continue;
    out.count += 1;
    const f = hypervisorFigures(host, usage);
    for (const k of STAT_KEYS) out[k] += f[k];
  }
  return out;
}
