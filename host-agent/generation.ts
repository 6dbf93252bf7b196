/**
 * A VM's generation grows each time it moves (migration, evacuation). A host must never act on an older
 * generation than the newest it has seen for that VM: a command meant for the VM's previous incarnation —
 * e.g. from an API process that did not see the move — is refused.
 */
export class StaleGeneration extends Error {
  constructor(
    readonly uuid: string,
    readonly got: number,
    readonly newest: number,
  ) {
    super(`stale generation ${got} for domain ${uuid}: this host has seen generation ${newest}`);
  }
}

/** The newest generation seen per VM, persisted by the agent so a restart does not forget it. */
export class GenerationBook {
  private newest = new Map<string, number>();

  constructor(initial: Record<string, number> = {}) {
    for (const [uuid, g] of Object.entries(initial)) this.newest.set(uuid, g);
  }

  /** Throws StaleGeneration if `generation` is older than the newest seen (from this book or the domain itself). */
  check(uuid: string, generation: number, domainGeneration: number | null = null): void {
    const newest = Math.max(this.newest.get(uuid) ?? 0, domainGeneration ?? 0);
    if (generation < newest) throw new StaleGeneration(uuid, generation, newest);
  }

  /** Records a generation as applied; returns whether the book changed (and so needs saving). */
  record(uuid: string, generation: number): boolean {
    if ((this.newest.get(uuid) ?? 0) >= generation) return false;
    this.newest.set(uuid, generation);
    return true;
  }

  get(uuid: string): number | null {
    return this.newest.get(uuid) ?? null;
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries(this.newest);
  }
}
