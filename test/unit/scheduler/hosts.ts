/** Hosts for the scheduler's unit tests: 4 CPUs, 8.5 GB (8 GB usable after the 512 MB reserve), 100 GB, up. */
import type { Allocation, HostCandidate } from '../../../src/scheduler/filters.js';

export const NOW = 1_700_000_000_000;
export const ALLOC: Allocation = {
  cpuRatio: 4,
  ramRatio: 1,
  diskRatio: 1,
  reservedMemoryMb: 512,
  reservedCpus: 0,
};

export function host(id: number, over: Partial<HostCandidate> = {}): HostCandidate {
  return {
    id,
    hostname: `cmp${id}`,
    zone: 'nova',
    enabled: true,
    forcedDown: false,
    revokedAt: null,
    lastReportAt: NOW - 1000,
    inventory: { vcpus: 4, memoryMb: 8704, localDiskGb: 100, virtType: 'kvm' },
    used: { vcpus: 0, memoryMb: 0, diskGb: 0, instances: 0 },
    groupMembers: 0,
    policy: 'performance',
    ...over,
  };
}
