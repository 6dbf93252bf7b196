import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LeaseKeeper, type LeaseIo, type LeaseRecord } from '../../../host-agent/leases/keeper.js';
import { WorkerLeaseIo } from '../../../host-agent/leases/worker-io.js';

/** Lease files in memory, with a switch to make one store fail as a dead mount would. */
class MemoryStores implements LeaseIo {
  files = new Map<string, Map<string, LeaseRecord>>();
  broken = new Set<string>();
  async write(store: string, record: LeaseRecord) {
    if (this.broken.has(store)) throw new Error('Transport endpoint is not connected');
    if (!this.files.has(store)) this.files.set(store, new Map());
    this.files.get(store)?.set(record.host_id, record);
  }
  async readAll(store: string) {
    if (this.broken.has(store)) throw new Error('Transport endpoint is not connected');
    return [...(this.files.get(store)?.values() ?? [])];
  }
}

class Clock {
  ms = 1_000_000;
  now = () => this.ms;
}

describe('storage leases (fake clock)', () => {
  it("each host sees its peers' counters advance, and stop advancing when a peer dies", async () => {
    const io = new MemoryStores();
    const clock = new Clock();
    const fenced: string[] = [];
    const a = new LeaseKeeper('A', ['/s'], io, clock.now, 12_000, async () => void fenced.push('A'), 100);
    const b = new LeaseKeeper('B', ['/s'], io, clock.now, 12_000, async () => void fenced.push('B'), 500);
    for (let i = 0; i < 3; i++) {
      clock.ms += 2000;
      await a.tick();
      await b.tick();
    }
    // A ticks before B in each round, so it has read B's previous counter.
    assert.deepEqual(a.peerReport(), [{ host_id: 'B', counter: 502, changed_ms_ago: 0 }]);
    // B dies: only A keeps ticking. A reads B's last counter once more, then never a change again.
    for (let i = 0; i < 5; i++) {
      clock.ms += 2000;
      await a.tick();
    }
    assert.deepEqual(a.peerReport(), [{ host_id: 'B', counter: 503, changed_ms_ago: 8_000 }]);
    assert.deepEqual(fenced, []);
  });

  it('fences once after self_fence_after without a successful renewal, and again after a recovery and a new outage', async () => {
    const io = new MemoryStores();
    const clock = new Clock();
    const fences: string[] = [];
    const k = new LeaseKeeper(
      'A',
      ['/s1', '/s2'],
      io,
      clock.now,
      12_000,
      async (why) => void fences.push(why),
    );
    await k.tick();
    io.broken.add('/s2'); // one of two stores gone is enough: the VMs may live on it
    for (let t = 0; t < 10; t += 2) {
      clock.ms += 2000;
      await k.tick();
    }
    assert.equal(fences.length, 0, '10 s without renewal: not yet');
    clock.ms += 2000;
    await k.tick();
    assert.equal(fences.length, 1);
    assert.match(fences[0], /no storage-lease renewal for 12 s .*\/s2: Transport endpoint is not connected/);
    clock.ms += 2000;
    await k.tick();
    assert.equal(fences.length, 1, 'fences once per outage');
    assert.equal(k.state().fenced, true);
    io.broken.clear();
    clock.ms += 2000;
    await k.tick();
    assert.equal(k.state().fenced, false);
    io.broken.add('/s1');
    clock.ms += 14_000;
    await k.tick();
    assert.equal(fences.length, 2);
  });
});

describe('lease files through the worker thread', () => {
  it('writes durably and reads every host back', async () => {
    const store = mkdtempSync(join(tmpdir(), 'kvmstack-lease-'));
    const io = new WorkerLeaseIo(2000);
    try {
      const size = await io.write(store, { host_id: 'A', counter: 7, written_at: 1 });
      assert.ok(
        size.totalBytes > 0 && size.freeBytes > 0 && size.freeBytes <= size.totalBytes,
        'the store is measured too',
      );
      await io.write(store, { host_id: 'B', counter: 9, written_at: 2 });
      await io.write(store, { host_id: 'A', counter: 8, written_at: 3 });
      const all = (await io.readAll(store)).sort((x, y) => x.host_id.localeCompare(y.host_id));
      assert.deepEqual(
        all.map((r) => [r.host_id, r.counter]),
        [
          ['A', 8],
          ['B', 9],
        ],
      );
    } finally {
      await io.close();
    }
  });

  it('a write that hangs (as on a dead mount) fails after the timeout without blocking the event loop', async () => {
    const store = mkdtempSync(join(tmpdir(), 'kvmstack-lease-'));
    mkdirSync(join(store, '.kvmstack', 'leases'), { recursive: true });
    // Opening a FIFO for writing blocks until a reader comes: the worker thread hangs like on a stalled mount.
    execFileSync('mkfifo', [join(store, '.kvmstack', 'leases', 'A.lease.tmp')]);
    const io = new WorkerLeaseIo(300);
    try {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 20);
      const started = Date.now();
      await assert.rejects(
        io.write(store, { host_id: 'A', counter: 1, written_at: 1 }),
        /longer than 300 ms/,
      );
      clearInterval(timer);
      assert.ok(Date.now() - started < 1500);
      assert.ok(ticks >= 5, 'the event loop kept running');
      // Another host's lease on a healthy path still works through a fresh worker.
      await io.write(store, { host_id: 'B', counter: 1, written_at: 1 });
    } finally {
      // Unblock the abandoned worker so the test process can exit.
      execFileSync('sh', [
        '-c',
        `cat '${join(store, '.kvmstack', 'leases', 'A.lease.tmp')}' > /dev/null & sleep 0.2`,
      ]);
      await io.close();
    }
  });
});
