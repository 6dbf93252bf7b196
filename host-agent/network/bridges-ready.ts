/**
 * A VM's bridges must exist before libvirt defines and starts it, and the network loop makes them only on its
 * next round after the port was bound here (up to network_sync_interval later). Nova waits for Neutron's
 * network-vif-plugged for the same reason; the agent instead runs the network round at once, and again until
 * the bridges are there, so `network create; server create` in a script never races the bridge.
 */
import { DriverError } from '../driver/types.js';

export interface BridgesReadyDeps {
  /** Which of these links are absent on this host (`ip link`). */
  missing: (names: readonly string[]) => Promise<string[]>;
  /** One network round now (serialized with the periodic ones). */
  syncNow: () => Promise<unknown>;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
}

export async function waitForBridges(
  bridges: readonly string[],
  deps: BridgesReadyDeps,
  timeoutMs: number,
  everyMs = 500,
): Promise<void> {
  const wanted = [...new Set(bridges)];
  if (!wanted.length) return;
  let left = await deps.missing(wanted);
  const deadline = deps.now() + timeoutMs;
  while (left.length) {
    if (deps.now() > deadline)
      throw new DriverError(
        `bridge ${left.join(', ')} is not on this host after ${timeoutMs / 1000} s: ` +
          'the network agent has not realized the network here (see its log for why)',
      );
    await deps.syncNow();
    left = await deps.missing(left);
    if (left.length) await deps.sleep(everyMs);
  }
}
