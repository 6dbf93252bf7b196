/**
 * The scheduler's filters, one behaviour per case: state (enabled/up/forced down/revoked), resources with
 * allocation ratios and reservations, zones, forced hosts, hard server-group policies and image properties.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  capacity,
  filterHosts,
  type FilterEnv,
  type HostCandidate,
  type RequestSpec,
} from '../../../src/scheduler/filters.js';
import { ALLOC, host, NOW } from './hosts.js';

const ENV: FilterEnv = { now: NOW, serviceDownTimeMs: 60_000, allocation: ALLOC };

function req(over: Partial<RequestSpec> = {}): RequestSpec {
  return {
    vcpus: 1,
    memoryMb: 1024,
    rootGb: 10,
    availabilityZone: null,
    forcedHost: null,
    group: null,
    imageProperties: {},
    ignoreHosts: [],
    ...over,
  };
}

const ids = (hosts: HostCandidate[], spec: RequestSpec, env: FilterEnv = ENV) =>
  filterHosts(hosts, spec, env).hosts.map((h) => h.id);

describe('scheduler filters', () => {
  it('ComputeFilter keeps enabled hosts that reported within service_down_time only', () => {
    const hosts = [
      host(1),
      host(2, { enabled: false }),
      host(3, { forcedDown: true }),
      host(4, { revokedAt: NOW - 5 }),
      host(5, { lastReportAt: null }),
      host(6, { lastReportAt: NOW - 60_001 }),
      host(7, { lastReportAt: NOW - 60_000 }),
    ];
    assert.deepEqual(ids(hosts, req()), [1, 7]);
  });

  it('reports which filter removed the last host, and the count after each filter', () => {
    const r = filterHosts([host(1, { enabled: false }), host(2, { lastReportAt: 0 })], req(), ENV);
    assert.deepEqual(r.hosts, []);
    assert.equal(r.rejectedBy, 'ComputeFilter');
    assert.deepEqual(r.trace.at(-1), { filter: 'ComputeFilter', remaining: 0 });
    assert.equal(filterHosts([], req(), ENV).rejectedBy, null);
    assert.equal(filterHosts([host(1)], req({ memoryMb: 9000 }), ENV).rejectedBy, 'RamFilter');
  });

  it('capacity is (total - reserved) x ratio, rounded down', () => {
    assert.deepEqual(capacity(host(1), ALLOC), {
      vcpus: 16,
      memoryMb: 8192,
      diskGb: 100,
      totalVcpus: 4,
      totalMemoryMb: 8704,
      totalDiskGb: 100,
    });
    const c = capacity(host(1, { inventory: { vcpus: 3, memoryMb: 1000, localDiskGb: 7 } }), {
      cpuRatio: 1.5,
      ramRatio: 1.5,
      diskRatio: 0.5,
      reservedMemoryMb: 0,
      reservedCpus: 1,
    });
    assert.deepEqual([c.vcpus, c.memoryMb, c.diskGb], [3, 1500, 3]);
    // missing or junk inventory is no capacity, never NaN
    const none = capacity(host(1, { inventory: { vcpus: 'x' } }), ALLOC);
    assert.deepEqual([none.vcpus, none.memoryMb, none.diskGb], [0, 0, 0]);
  });

  it('RamFilter counts claimed memory and the reserved host memory (ratio 1.0)', () => {
    const full = host(1, { used: { vcpus: 0, memoryMb: 7168, diskGb: 0, instances: 7 } });
    assert.deepEqual(ids([full], req({ memoryMb: 1024 })), [1]); // 7168 + 1024 = 8192: exactly full
    assert.deepEqual(ids([full], req({ memoryMb: 1025 })), []);
  });

  it('RamFilter applies ram_allocation_ratio, but one server never exceeds the physical RAM', () => {
    const env = { ...ENV, allocation: { ...ALLOC, ramRatio: 1.5 } };
    const h = host(1, { used: { vcpus: 0, memoryMb: 8192, diskGb: 0, instances: 8 } });
    assert.deepEqual(ids([h], req({ memoryMb: 4096 }), env), [1]); // 12288 = 8192 x 1.5
    assert.deepEqual(ids([h], req({ memoryMb: 4097 }), env), []);
    assert.deepEqual(ids([host(2)], req({ memoryMb: 8705 }), env), []); // > physical 8704 (max_unit)
  });

  it('CoreFilter overcommits vCPUs by cpu_allocation_ratio and honours reserved_host_cpus', () => {
    const h = host(1, { used: { vcpus: 15, memoryMb: 0, diskGb: 0, instances: 15 } });
    assert.deepEqual(ids([h], req({ vcpus: 1 })), [1]); // 16 = 4 x 4
    assert.deepEqual(ids([h], req({ vcpus: 2 })), []);
    assert.deepEqual(ids([host(2)], req({ vcpus: 5 })), []); // more than the host's 4 physical CPUs
    const reserved = { ...ENV, allocation: { ...ALLOC, reservedCpus: 1 } };
    assert.deepEqual(ids([h], req({ vcpus: 1 }), reserved), []); // (4 - 1) x 4 = 12 < 16
  });

  it('DiskFilter: claimed root disks count; a host with no local disk takes 0-GB flavors only', () => {
    const h = host(1, { used: { vcpus: 0, memoryMb: 0, diskGb: 95, instances: 2 } });
    assert.deepEqual(ids([h], req({ rootGb: 5 })), [1]);
    assert.deepEqual(ids([h], req({ rootGb: 6 })), []);
    assert.deepEqual(ids([h], req({ rootGb: 0 })), [1]);
    const diskless = host(2, { inventory: { vcpus: 4, memoryMb: 8704, localDiskGb: 0 } });
    assert.deepEqual(ids([diskless], req({ rootGb: 0 })), [2]);
    assert.deepEqual(ids([diskless], req({ rootGb: 1 })), []);
    const ratio = { ...ENV, allocation: { ...ALLOC, diskRatio: 2 } };
    assert.deepEqual(ids([h], req({ rootGb: 100 }), ratio), [1]);
    assert.deepEqual(ids([h], req({ rootGb: 106 }), ratio), []); // 95 + 106 > 200
  });

  it('AvailabilityZoneFilter: a requested zone keeps its hosts only; no zone keeps all', () => {
    const hosts = [host(1, { zone: 'az1' }), host(2, { zone: 'az2' }), host(3)];
    assert.deepEqual(ids(hosts, req({ availabilityZone: 'az2' })), [2]);
    assert.deepEqual(ids(hosts, req({ availabilityZone: 'nova' })), [3]);
    assert.deepEqual(ids(hosts, req()), [1, 2, 3]);
    assert.deepEqual(ids(hosts, req({ availabilityZone: 'nowhere' })), []);
  });

  it('a forced host: only that host, even disabled or in another zone, but it must be up and fit', () => {
    const hosts = [host(1), host(2, { enabled: false, zone: 'az9' }), host(3)];
    assert.deepEqual(ids(hosts, req({ forcedHost: 'cmp2', availabilityZone: 'nova' })), [2]);
    assert.deepEqual(ids(hosts, req({ forcedHost: 'cmp4' })), []);
    const down = [host(1, { hostname: 'x', lastReportAt: 0 })];
    assert.deepEqual(ids(down, req({ forcedHost: 'x' })), []);
    assert.deepEqual(ids(hosts, req({ forcedHost: 'cmp1', memoryMb: 9000 })), []);
  });

  it('ignoreHosts (reschedule) removes those hosts', () => {
    assert.deepEqual(ids([host(1), host(2), host(3)], req({ ignoreHosts: [1, 3] })), [2]);
  });

  it('hard affinity follows the members; with none placed any host will do', () => {
    const hosts = [host(1), host(2, { groupMembers: 2 }), host(3)];
    const group = { policy: 'affinity' as const, maxServerPerHost: null, membersPlaced: 2 };
    assert.deepEqual(ids(hosts, req({ group })), [2]);
    assert.deepEqual(ids(hosts, req({ group: { ...group, membersPlaced: 0 } })), [1, 2, 3]);
    // members placed elsewhere (e.g. another zone): no candidate may take the server
    assert.deepEqual(ids([host(1), host(3)], req({ group })), []);
  });

  it('hard anti-affinity avoids members, up to max_server_per_host (2.64)', () => {
    const hosts = [host(1, { groupMembers: 1 }), host(2, { groupMembers: 2 }), host(3)];
    const group = { policy: 'anti-affinity' as const, maxServerPerHost: null, membersPlaced: 3 };
    assert.deepEqual(ids(hosts, req({ group })), [3]);
    assert.deepEqual(ids(hosts, req({ group: { ...group, maxServerPerHost: 2 } })), [1, 3]);
    assert.deepEqual(ids(hosts, req({ group: { ...group, maxServerPerHost: 3 } })), [1, 2, 3]);
  });

  it('soft group policies filter nothing', () => {
    const hosts = [host(1, { groupMembers: 1 }), host(2)];
    for (const policy of ['soft-affinity', 'soft-anti-affinity'] as const)
      assert.deepEqual(
        ids(hosts, req({ group: { policy, maxServerPerHost: null, membersPlaced: 1 } })),
        [1, 2],
      );
  });

  it('ImagePropertiesFilter matches architecture, hypervisor type and vm mode (and their legacy names)', () => {
    const kvm = host(1);
    const tcg = host(2, { inventory: { ...host(2).inventory, virtType: 'qemu' } });
    const arm = host(3, { inventory: { ...host(3).inventory, arch: 'aarch64' } });
    const all = [kvm, tcg, arm];
    const with_ = (imageProperties: Record<string, unknown>) => ids(all, req({ imageProperties }));
    assert.deepEqual(with_({}), [1, 2, 3]);
    assert.deepEqual(with_({ hw_architecture: 'x86_64' }), [1, 2]);
    assert.deepEqual(with_({ architecture: 'AMD64' }), [1, 2]); // canonicalized
    assert.deepEqual(with_({ hw_architecture: 'i686' }), [1, 2]); // x86_64 hosts run 32-bit guests
    assert.deepEqual(with_({ hw_architecture: 'arm64' }), [3]);
    assert.deepEqual(with_({ hw_architecture: 'ppc64le' }), []);
    assert.deepEqual(with_({ img_hv_type: 'kvm' }), [1, 3]); // a TCG-only host has no KVM
    assert.deepEqual(with_({ hypervisor_type: 'QEMU' }), [1, 2, 3]);
    assert.deepEqual(with_({ img_hv_type: 'xen' }), []);
    assert.deepEqual(with_({ hw_vm_mode: 'hvm' }), [1, 2, 3]);
    assert.deepEqual(with_({ vm_mode: 'xen' }), []);
    assert.deepEqual(with_({ hw_architecture: 'x86_64', img_hv_type: 'kvm' }), [1]);
    // the new name wins over the legacy one
    assert.deepEqual(with_({ hw_architecture: 'aarch64', architecture: 'x86_64' }), [3]);
    // non-string or empty properties ask for nothing
    assert.deepEqual(with_({ hw_architecture: '', img_hv_type: 7 }), [1, 2, 3]);
  });
});
