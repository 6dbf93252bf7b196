/**
 * Host weighers (design §8), pure. The hosts that passed the filters are ranked, best first:
 *
 * 1. Soft server-group policies dominate: soft-affinity prefers the hosts with the most group members,
 *    soft-anti-affinity the hosts with the fewest (Nova's ServerGroupSoft*Weigher, with a multiplier large
 *    enough that nothing else outweighs them).
 * 2. The placement policy of each host: `performance` scores free RAM (then free vCPUs), `progressive` scores
 *    used RAM (then used vCPUs). Scores are normalized over the candidates (Nova's min-max normalization), so
 *    that hosts of different policies (aggregate overrides) can be compared: each host is scored by how well
 *    it matches its own policy. With one policy this is exactly "most free first" / "most used first".
 * 3. Ties: between performance hosts, fewer instances first, then the one this process chose least recently
 *    (round-robin, so a burst of identical boots on an idle cluster spreads deterministically); otherwise
 *    the lowest host id (progressive: fill the first host before the next).
 */
import { capacity, type Allocation, type GroupPolicy, type HostCandidate } from './filters.js';

export interface WeighEnv {
  allocation: Allocation;
  /** The request's server-group policy; only the soft ones weigh. */
  groupPolicy: GroupPolicy | null;
  /**
   * When this process last chose each host, as values of a per-process counter advanced once per decision
   * (absent: never): among tied performance hosts the least recently chosen comes first (round-robin).
   */
  lastChosen: ReadonlyMap<number, number>;
}

interface Scored {
  host: HostCandidate;
  group: number;
  ram: number;
  cpu: number;
  last: number;
}

function normalizer(values: number[]): (v: number) => number {
  const min = Math.min(...values);
  const max = Math.max(...values);
  return max === min ? () => 0 : (v) => (v - min) / (max - min);
}

function compare(a: Scored, b: Scored): number {
  if (a.group !== b.group) return b.group - a.group;
  if (a.ram !== b.ram) return b.ram - a.ram;
  if (a.cpu !== b.cpu) return b.cpu - a.cpu;
  if (a.host.policy === 'performance' && b.host.policy === 'performance') {
    if (a.host.used.instances !== b.host.used.instances) return a.host.used.instances - b.host.used.instances;
    if (a.last !== b.last) return a.last - b.last;
  }
  return a.host.id - b.host.id;
}

export function weighHosts(hosts: readonly HostCandidate[], env: WeighEnv): HostCandidate[] {
  if (hosts.length <= 1) return [...hosts];
  const freeRam = hosts.map((h) => capacity(h, env.allocation).memoryMb - h.used.memoryMb);
  const freeCpu = hosts.map((h) => capacity(h, env.allocation).vcpus - h.used.vcpus);
  const usedRam = hosts.map((h) => h.used.memoryMb);
  const usedCpu = hosts.map((h) => h.used.vcpus);
  const nFreeRam = normalizer(freeRam);
  const nFreeCpu = normalizer(freeCpu);
  const nUsedRam = normalizer(usedRam);
  const nUsedCpu = normalizer(usedCpu);
  const sign = env.groupPolicy === 'soft-affinity' ? 1 : env.groupPolicy === 'soft-anti-affinity' ? -1 : 0;
  const scored: Scored[] = hosts.map((host, i) => {
    const spread = host.policy === 'performance';
    return {
      host,
      group: sign * host.groupMembers,
      ram: spread ? nFreeRam(freeRam[i]) : nUsedRam(usedRam[i]),
      cpu: spread ? nFreeCpu(freeCpu[i]) : nUsedCpu(usedCpu[i]),
      last: env.lastChosen.get(host.id) ?? -Infinity,
    };
  });
  return scored.sort(compare).map((s) => s.host);
}
