/**
 * The scheduler's weighers, driven like the real scheduler: filter, weigh, "claim" on the winner, repeat.
 * performance spreads and round-robins ties; progressive stacks; soft group policies dominate; hosts of
 * different policies (aggregate overrides) are ranked by how well each matches its own policy.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  filterHosts,
  type GroupPolicy,
  type HostCandidate,
  type PlacementPolicy,
  type RequestSpec,
} from '../../../src/scheduler/filters.js';
import { weighHosts } from '../../../src/scheduler/weighers.js';
import { ALLOC, host, NOW } from './hosts.js';

const none = new Map<number, number>();

const spec = (memoryMb = 1024, vcpus = 1): RequestSpec => ({
  vcpus,
  memoryMb,
  rootGb: 0,
  availabilityZone: null,
  forcedHost: null,
  group: null,
  imageProperties: {},
  ignoreHosts: [],
});

/** Places `count` servers one after another, returning the host id of each. */
function place(
  hosts: HostCandidate[],
  count: number,
  opts: { memoryMb?: number; vcpus?: number; groupPolicy?: GroupPolicy } = {},
): number[] {
  const out: number[] = [];
  const lastChosen = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const s = spec(opts.memoryMb, opts.vcpus);
    const passed = filterHosts(hosts, s, { now: NOW, serviceDownTimeMs: 60_000, allocation: ALLOC }).hosts;
    if (passed.length === 0) {
      out.push(0);
      continue;
    }
    const [best] = weighHosts(passed, {
      allocation: ALLOC,
      groupPolicy: opts.groupPolicy ?? null,
      lastChosen,
    });
    lastChosen.set(best.id, i);
    best.used = {
      vcpus: best.used.vcpus + s.vcpus,
      memoryMb: best.used.memoryMb + s.memoryMb,
      diskGb: best.used.diskGb,
      instances: best.used.instances + 1,
    };
    if (opts.groupPolicy) best.groupMembers++;
    out.push(best.id);
  }
  return out;
}

const three = (policy: PlacementPolicy) => [1, 2, 3].map((id) => host(id, { policy }));

describe('scheduler weighers', () => {
  it('performance spreads 6 servers over 3 equal hosts: 2 each, in turn', () => {
    assert.deepEqual(place(three('performance'), 6), [1, 2, 3, 1, 2, 3]);
  });

  it('progressive stacks 6 servers on the first host while it fits, then the next', () => {
    assert.deepEqual(place(three('progressive'), 6), [1, 1, 1, 1, 1, 1]);
    // 8192 MB usable per host: 3 GB servers, two per host
    assert.deepEqual(place(three('progressive'), 7, { memoryMb: 3072 }), [1, 1, 2, 2, 3, 3, 0]);
  });

  it('progressive prefers the most used host that still fits, ties by lowest id', () => {
    const hosts = three('progressive');
    hosts[2].used = { vcpus: 1, memoryMb: 4096, diskGb: 0, instances: 1 };
    hosts[1].used = { vcpus: 2, memoryMb: 2048, diskGb: 0, instances: 2 };
    assert.deepEqual(
      weighHosts(hosts, { allocation: ALLOC, groupPolicy: null, lastChosen: none }).map((h) => h.id),
      [3, 2, 1],
    );
    // the most used one is full for this request: the next most used
    assert.deepEqual(place(hosts, 1, { memoryMb: 5000 }), [2]);
  });

  it('performance: most free RAM first, then most free vCPUs', () => {
    const hosts = three('performance');
    hosts[0].used = { vcpus: 0, memoryMb: 2048, diskGb: 0, instances: 1 };
    hosts[1].used = { vcpus: 3, memoryMb: 1024, diskGb: 0, instances: 1 };
    hosts[2].used = { vcpus: 1, memoryMb: 1024, diskGb: 0, instances: 1 };
    assert.deepEqual(
      weighHosts(hosts, { allocation: ALLOC, groupPolicy: null, lastChosen: none }).map((h) => h.id),
      [3, 2, 1],
    );
    // a bigger host wins over an emptier but smaller one: free RAM, not used RAM
    const big = host(4, { inventory: { vcpus: 4, memoryMb: 17408 } });
    big.used = { vcpus: 0, memoryMb: 8192, diskGb: 0, instances: 4 };
    assert.equal(
      weighHosts([host(1), big], { allocation: ALLOC, groupPolicy: null, lastChosen: none })[0].id,
      4,
    );
  });

  it('performance ties: fewest instances first, then the host this process chose least recently', () => {
    const hosts = three('performance');
    hosts[0].used = { vcpus: 2, memoryMb: 1024, diskGb: 0, instances: 2 };
    hosts[1].used = { vcpus: 2, memoryMb: 1024, diskGb: 0, instances: 1 };
    hosts[2].used = { vcpus: 2, memoryMb: 1024, diskGb: 0, instances: 1 };
    const order = (lastChosen: Map<number, number>) =>
      weighHosts(hosts, { allocation: ALLOC, groupPolicy: null, lastChosen }).map((h) => h.id);
    assert.deepEqual(order(none), [2, 3, 1]); // never chosen: lowest id
    assert.deepEqual(order(new Map([[2, 10]])), [3, 2, 1]); // never chosen beats chosen
    assert.deepEqual(
      order(
        new Map([
          [2, 10],
          [3, 11],
        ]),
      ),
      [2, 3, 1],
    ); // least recently chosen
    // instances still come before recency: host 1 was never chosen but has more instances
    assert.deepEqual(
      order(
        new Map([
          [2, 10],
          [3, 11],
        ]),
      )[2],
      1,
    );
  });

  it('round-robin over fully tied hosts when servers leave as fast as they come', () => {
    const idle = three('performance');
    const lastChosen = new Map<number, number>();
    const picks: number[] = [];
    for (let i = 0; i < 7; i++) {
      const [best] = weighHosts(idle, { allocation: ALLOC, groupPolicy: null, lastChosen });
      lastChosen.set(best.id, i); // no claim kept: every host stays empty
      picks.push(best.id);
    }
    assert.deepEqual(picks, [1, 2, 3, 1, 2, 3, 1]);
  });

  it('progressive ties ignore recency: lowest id', () => {
    const recent = new Map([
      [1, 5],
      [2, 1],
    ]);
    assert.equal(
      weighHosts(three('progressive'), { allocation: ALLOC, groupPolicy: null, lastChosen: recent })[0].id,
      1,
    );
  });

  it('soft-affinity packs group members together, even against the spread policy', () => {
    assert.deepEqual(place(three('performance'), 4, { groupPolicy: 'soft-affinity' }), [1, 1, 1, 1]);
    // ...but moves on when the members' host is full (it is a preference, not a filter)
    assert.deepEqual(
      place(three('performance'), 4, { groupPolicy: 'soft-affinity', memoryMb: 3072 }),
      [1, 1, 2, 2],
    );
  });

  it('soft-anti-affinity spreads group members, even against the stack policy, and doubles up when it must', () => {
    assert.deepEqual(place(three('progressive'), 4, { groupPolicy: 'soft-anti-affinity' }), [1, 2, 3, 1]);
  });

  it('mixed policies (aggregate overrides): each host scored by its own policy', () => {
    const hosts = [host(1, { policy: 'progressive' }), host(2), host(3)];
    hosts[0].used = { vcpus: 1, memoryMb: 4096, diskGb: 0, instances: 1 }; // the most used stacking host
    hosts[1].used = { vcpus: 2, memoryMb: 2048, diskGb: 0, instances: 1 };
    // host 3 (emptiest spreading host) and host 1 (most used stacking host) both score 1 on RAM;
    // on vCPUs host 3 is the freest (1) while host 1 is only half-way to the most used (0.5)
    assert.deepEqual(
      weighHosts(hosts, { allocation: ALLOC, groupPolicy: null, lastChosen: none }).map((h) => h.id),
      [3, 1, 2],
    );
  });

  it('one or no host is returned as it is', () => {
    assert.deepEqual(weighHosts([], { allocation: ALLOC, groupPolicy: null, lastChosen: none }), []);
    assert.equal(weighHosts([host(9)], { allocation: ALLOC, groupPolicy: null, lastChosen: none })[0].id, 9);
  });
});
