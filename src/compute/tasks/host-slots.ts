/**
 * Bounded concurrency per host (Nova's max_concurrent_builds): a batch create spreads over the cluster at
 * once, but one host runs at most N boots of this process at a time, so a burst does not stall its disk and
 * CPU with N overlay creations and QEMU starts together.
 */
const queues = new Map<number, { running: number; waiting: (() => void)[] }>();

export async function withHostSlot<T>(hostId: number, limit: number, work: () => Promise<T>): Promise<T> {
  const q = queues.get(hostId) ?? { running: 0, waiting: [] };
  queues.set(hostId, q);
  if (q.running >= limit) await new Promise<void>((resolve) => q.waiting.push(resolve));
  q.running++;
  try {
    return await work();
  } finally {
    q.running--;
    const next = q.waiting.shift();
    if (next) next();
    else if (q.running === 0) queues.delete(hostId);
  }
}
