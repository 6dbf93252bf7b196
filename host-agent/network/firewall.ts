/**
 * Security groups on the host (nftables). CONTRACT STUB: the security-groups work replaces the bodies; the
 * signatures are fixed. The network sync loop calls syncFirewall with every port bound to this host after each
 * change; it must replace the whole ruleset atomically and leave traffic of other devices alone.
 */
import type { RealizedPort } from '../../src/network/realization.js';

export interface FirewallOptions {
  /** Runs `nft` (injected so tests can run it in a scratch network namespace). */
  nft: (args: string[], stdin?: string) => Promise<string>;
}

export async function syncFirewall(ports: RealizedPort[], opts: FirewallOptions): Promise<void> {
  void ports;
  void opts;
}

/** Removes everything syncFirewall installed. */
export async function removeFirewall(opts: FirewallOptions): Promise<void> {
  void opts;
}
