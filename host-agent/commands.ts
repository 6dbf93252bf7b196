import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { rm, rmdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import type { Logger } from 'pino';
import { BadRequest, Conflict, NotFound } from '../src/common/errors.js';
import {
  DriverError,
  type DiskSpec,
  type DomainSpec,
  type DomainStatus,
  type HypervisorDriver,
  type NicSpec,
} from './driver/types.js';
import { GenerationBook, StaleGeneration } from './generation.js';

export interface CommandContext {
  /** This host's id; known once the agent has enrolled. */
  hostId: () => string;
  driver: HypervisorDriver;
  generations: GenerationBook;
  /** Console log path per domain, from its spec (os-getConsoleOutput reads it). */
  consoleLogs: Map<string, string>;
  /** Persists generations and console log paths; called after every change. */
  save: () => void;
  /** Writes the domain's XML backup to shared storage; failures are logged, not fatal. */
  backup: (uuid: string, rootDisk?: string) => Promise<void>;
  /** Mount points of this host's shared stores: a deleted server's files are removed only under them. */
  storeMounts: () => string[];
  /** Waits until this host has the NICs' bridges (absent: nothing to wait for, e.g. the fake driver). */
  nicsReady?: (nics: NicSpec[]) => Promise<void>;
  log: Logger;
}

/**
 * The agent's commands. Each carries the VM's generation and is refused with 409 when it is older than the
 * newest this host has seen; commands on one domain run one at a time, in arrival order.
 */
export class Commands {
  private locks = new Map<string, Promise<unknown>>();

  constructor(private readonly c: CommandContext) {}

  define(uuid: string, generation: number, owner: string, spec: DomainSpec): Promise<DomainStatus> {
    if (spec.uuid !== uuid) throw new BadRequest(`spec.uuid ${spec.uuid} does not match the domain ${uuid}`);
    if (owner !== this.c.hostId())
      throw new BadRequest(`owner ${owner} is not this host (${this.c.hostId()})`);
    return this.serial(uuid, async () => {
      const current = await this.c.driver.getDomain(uuid);
      this.check(uuid, generation, current);
      await this.c.nicsReady?.(spec.nics);
      const status = await this.c.driver.define(spec, { generation, owner });
      this.c.consoleLogs.set(uuid, spec.consoleLog);
      this.applied(uuid, generation);
      await this.c.backup(uuid, spec.disks[0]?.path);
      return status;
    });
  }

  start(uuid: string, generation: number): Promise<DomainStatus> {
    return this.onDomain(uuid, generation, async () => this.c.driver.start(uuid));
  }
  shutdown(uuid: string, generation: number): Promise<DomainStatus> {
    return this.onDomain(uuid, generation, async () => this.c.driver.shutdown(uuid));
  }
  destroy(uuid: string, generation: number): Promise<DomainStatus> {
    return this.onDomain(uuid, generation, async () => this.c.driver.destroy(uuid));
  }
  reboot(uuid: string, generation: number, hard: boolean): Promise<DomainStatus> {
    return this.onDomain(uuid, generation, async () => this.c.driver.reboot(uuid, hard));
  }

  undefine(uuid: string, generation: number): Promise<void> {
    return this.serial(uuid, async () => {
      const current = await this.need(uuid);
      this.check(uuid, generation, current);
      await this.c.driver.undefine(uuid);
      this.c.consoleLogs.delete(uuid);
      this.applied(uuid, generation);
    });
  }

  pause(uuid: string, generation: number): Promise<DomainStatus> {
    return this.onDomain(uuid, generation, async () => this.c.driver.pause(uuid));
  }
  unpause(uuid: string, generation: number): Promise<DomainStatus> {
    return this.onDomain(uuid, generation, async () => this.c.driver.unpause(uuid));
  }
  suspend(uuid: string, generation: number): Promise<DomainStatus> {
    return this.onDomain(uuid, generation, async () => this.c.driver.suspend(uuid));
  }
  resume(uuid: string, generation: number): Promise<DomainStatus> {
    return this.onDomain(uuid, generation, async () => this.c.driver.resume(uuid));
  }

  /** createImage: a flattened copy of the root disk (vda) at targetPath, on a shared store. */
  async snapshot(
    uuid: string,
    generation: number,
    targetPath: string,
  ): Promise<{ size: number; virtualSize: number }> {
    const path = this.underStore(targetPath, 'snapshots');
    return this.serial(uuid, async () => {
      const current = await this.need(uuid);
      this.check(uuid, generation, current);
      return this.c.driver.snapshot(uuid, 'vda', path);
    });
  }

  /** rebuild: the shut-off domain's root disk becomes a new overlay (the API then defines it again). */
  async resetRootDisk(uuid: string, generation: number, disk: DiskSpec): Promise<void> {
    if (disk.target !== 'vda') throw new BadRequest('only the root disk (vda) is rebuilt');
    this.underStore(disk.path, 'instances');
    return this.serial(uuid, async () => {
      const current = await this.need(uuid);
      this.check(uuid, generation, current);
      await this.c.driver.resetDisk(uuid, disk);
    });
  }

  /**
   * A deleted server's files (root overlay, config drive, console log), then their directory if it is empty.
   * Only files under <store>/instances/ go, and never while a domain with this uuid is defined here.
   */
  async purge(uuid: string, paths: string[]): Promise<void> {
    const files = paths.map((p) => this.underStore(p, 'instances'));
    return this.serial(uuid, async () => {
      if (await this.c.driver.getDomain(uuid))
        throw new Conflict(`Domain ${uuid} is still defined on this host.`);
      const dirs = new Set<string>();
      for (const f of files) {
        await rm(f, { force: true });
        dirs.add(dirname(f));
      }
      for (const d of dirs) await rmdir(d).catch(() => undefined); // not empty, or gone: left as it is
      this.c.consoleLogs.delete(uuid);
      this.c.save();
    });
  }

  /** An absolute, normalized path inside <mount of a configured store>/<area>/, or 400. */
  private underStore(path: string, area: 'instances' | 'snapshots'): string {
    if (!isAbsolute(path) || normalize(path) !== path || path.includes('\0'))
      throw new BadRequest(`${path} is not an absolute, normalized path`);
    const ok = this.c.storeMounts().some((m) => path.startsWith(`${join(m, area)}/`));
    if (!ok) throw new BadRequest(`${path} is not under the ${area} directory of a shared store`);
    return path;
  }

  /** Live migration to a peer; the VM's next generation belongs to the destination host from then on. */
  migrate(
    uuid: string,
    generation: number,
    target: { uri: string; migrateUri?: string; owner: string; maxDowntimeMs?: number },
  ): Promise<void> {
    return this.serial(uuid, async () => {
      const current = await this.need(uuid);
      this.check(uuid, generation, current);
      if (target.owner === this.c.hostId())
        throw new BadRequest('cannot migrate a domain to the host it runs on');
      const next = { generation: generation + 1, owner: target.owner };
      await this.c.driver.migrate(uuid, target, next);
      this.c.consoleLogs.delete(uuid);
      this.applied(uuid, next.generation);
    });
  }

  attachDisk(uuid: string, generation: number, disk: DiskSpec): Promise<void> {
    return this.onDomain(uuid, generation, async () => this.c.driver.attachDisk(uuid, disk)).then(() =>
      this.c.backup(uuid),
    );
  }
  detachDisk(uuid: string, generation: number, target: string): Promise<void> {
    return this.onDomain(uuid, generation, async () => this.c.driver.detachDisk(uuid, target)).then(() =>
      this.c.backup(uuid),
    );
  }
  plugNic(uuid: string, generation: number, nic: NicSpec): Promise<void> {
    return this.onDomain(uuid, generation, async () => {
      await this.c.nicsReady?.([nic]); // as at define: the network's bridge may not be on this host yet
      await this.c.driver.plugNic(uuid, nic);
    }).then(() => this.c.backup(uuid));
  }
  unplugNic(uuid: string, generation: number, mac: string): Promise<void> {
    return this.onDomain(uuid, generation, async () => this.c.driver.unplugNic(uuid, mac)).then(() =>
      this.c.backup(uuid),
    );
  }

  async status(uuid: string): Promise<DomainStatus> {
    return this.need(uuid);
  }

  /** The last `maxBytes` of the serial console log, as Nova's os-getConsoleOutput returns it. */
  async consoleOutput(uuid: string, lines?: number, maxBytes = 100 * 1024): Promise<string> {
    await this.need(uuid);
    const path = this.c.consoleLogs.get(uuid);
    if (!path) return '';
    let text: string;
    try {
      const size = statSync(path).size;
      const start = Math.max(0, size - maxBytes);
      const buf = Buffer.alloc(size - start);
      const fd = openSync(path, 'r');
      try {
        readSync(fd, buf, 0, buf.length, start);
      } finally {
        closeSync(fd);
      }
      text = buf.toString('utf8');
    } catch {
      return '';
    }
    if (lines === undefined) return text;
    if (lines <= 0) return '';
    // Nova's _tail_log exactly: the last `lines` pieces of a split on newlines (a final newline counts as one)
    return text.split('\n').slice(-lines).join('\n');
  }

  private onDomain(uuid: string, generation: number, act: () => Promise<void>): Promise<DomainStatus> {
    return this.serial(uuid, async () => {
      const current = await this.need(uuid);
      this.check(uuid, generation, current);
      await act();
      this.applied(uuid, generation);
      return (await this.c.driver.getDomain(uuid)) ?? current;
    });
  }

  private check(uuid: string, generation: number, current: DomainStatus | null): void {
    try {
      this.c.generations.check(uuid, generation, current?.generation ?? null);
    } catch (err) {
      if (err instanceof StaleGeneration) throw new Conflict(err.message);
      throw err;
    }
  }

  private applied(uuid: string, generation: number): void {
    this.c.generations.record(uuid, generation);
    this.c.save();
  }

  private async need(uuid: string): Promise<DomainStatus> {
    const d = await this.c.driver.getDomain(uuid);
    if (!d) throw new NotFound(`Domain ${uuid} is not defined on this host.`);
    return d;
  }

  private serial<T>(uuid: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(uuid) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => translate(work));
    this.locks.set(uuid, next);
    void next
      .finally(() => {
        if (this.locks.get(uuid) === next) this.locks.delete(uuid);
      })
      .catch(() => undefined);
    return next;
  }
}

/** Driver errors become the API errors the RPC renders: not found 404, conflict (e.g. a disk lock) 409. */
async function translate<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof DriverError) {
      if (err.kind === 'not_found') throw new NotFound(err.message);
      if (err.kind === 'conflict') throw new Conflict(err.message);
    }
    throw err;
  }
}
