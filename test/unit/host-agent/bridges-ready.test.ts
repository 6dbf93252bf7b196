/**
 * A define waits for its bridges: a round of the network loop runs at once when one is missing, and again
 * until it appears; a bridge that never comes fails the define with the bridge's name after the timeout.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitForBridges } from '../../../host-agent/network/bridges-ready.js';

function host(present: Set<string>, appearAfterRounds: Map<string, number>) {
  let clock = 0;
  let rounds = 0;
  return {
    rounds: () => rounds,
    deps: {
      missing: async (names: readonly string[]) => names.filter((n) => !present.has(n)),
      syncNow: async () => {
        rounds += 1;
        for (const [b, after] of appearAfterRounds) if (rounds >= after) present.add(b);
      },
      sleep: async (ms: number) => {
        clock += ms;
      },
      now: () => clock,
    },
  };
}

describe('waitForBridges', () => {
  it('does nothing when every bridge is there (no network round)', async () => {
    const h = host(new Set(['brqa', 'br0']), new Map());
    await waitForBridges(['brqa', 'br0', 'brqa'], h.deps, 60_000);
    assert.equal(h.rounds(), 0);
  });

  it('runs a round at once for a missing bridge, and more until it appears', async () => {
    const h = host(new Set(['br0']), new Map([['brqb', 3]]));
    await waitForBridges(['br0', 'brqb'], h.deps, 60_000);
    assert.equal(h.rounds(), 3);
  });

  it('fails with the missing bridge after the timeout', async () => {
    const h = host(new Set(), new Map());
    await assert.rejects(
      waitForBridges(['brqnever'], h.deps, 2_000),
      /bridge brqnever is not on this host after 2 s/,
    );
    assert.ok(h.rounds() >= 4 && h.rounds() <= 6, `rounds: ${h.rounds()}`);
  });
});
