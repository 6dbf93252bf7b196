import type {
  DiskSpec,
  DomainSpec,
  DomainStatus,
  MigrateTarget,
  NicSpec,
} from '../../host-agent/driver/types.js';
import { ApiError, Conflict, NotFound } from '../common/errors.js';
import type { Host } from './hosts/service.js';

/** The agent could not be reached, or failed in a way that is not the caller's fault. */
export class AgentUnavailable extends ApiError {
  readonly status = 503;
}

/**
 * The API's side of the agent RPC: one authenticated JSON call per command, each carrying the VM's generation
 * so that an agent refuses commands meant for an older incarnation of the VM.
 */
export class AgentClient {
  constructor(
    private readonly host: Pick<Host, 'hostname' | 'rpcUrl' | 'rpcSecret'>,
    private readonly timeoutMs = 30_000,
  ) {}

  define(spec: DomainSpec, generation: number, owner: string): Promise<DomainStatus> {
    return this.call('POST', `/v1/domains/${spec.uuid}/define`, { generation, owner, spec });
  }
  start(uuid: string, generation: number): Promise<DomainStatus> {
    return this.call('POST', `/v1/domains/${uuid}/start`, { generation });
  }
  shutdown(uuid: string, generation: number): Promise<DomainStatus> {
    return this.call('POST', `/v1/domains/${uuid}/shutdown`, { generation });
  }
  destroy(uuid: string, generation: number): Promise<DomainStatus> {
    return this.call('POST', `/v1/domains/${uuid}/destroy`, { generation });
  }
  reboot(uuid: string, generation: number, hard: boolean): Promise<DomainStatus> {
    return this.call('POST', `/v1/domains/${uuid}/reboot`, { generation, hard });
  }
  pause(uuid: string, generation: number): Promise<DomainStatus> {
    return this.call('POST', `/v1/domains/${uuid}/pause`, { generation });
  }
  unpause(uuid: string, generation: number): Promise<DomainStatus> {
    return this.call('POST', `/v1/domains/${uuid}/unpause`, { generation });
  }
  suspend(uuid: string, generation: number): Promise<DomainStatus> {
    return this.call('POST', `/v1/domains/${uuid}/suspend`, { generation });
  }
  resume(uuid: string, generation: number): Promise<DomainStatus> {
    return this.call('POST', `/v1/domains/${uuid}/resume`, { generation });
  }
  /** A flattened qcow2 of the root disk at targetPath (under <store>/snapshots/ on the host). */
  snapshot(
    uuid: string,
    generation: number,
    targetPath: string,
  ): Promise<{ size: number; virtualSize: number }> {
    return this.call('POST', `/v1/domains/${uuid}/snapshot`, { generation, targetPath });
  }
  resetRootDisk(uuid: string, generation: number, disk: DiskSpec): Promise<void> {
    return this.call('POST', `/v1/domains/${uuid}/reset-root-disk`, { generation, disk });
  }
  /** Removes a deleted server's files on the host (only under <store>/instances/). */
  purge(uuid: string, paths: string[]): Promise<void> {
    return this.call('POST', `/v1/domains/${uuid}/purge`, { paths });
  }
  undefine(uuid: string, generation: number): Promise<void> {
    return this.call('POST', `/v1/domains/${uuid}/undefine`, { generation });
  }
  migrate(uuid: string, generation: number, target: MigrateTarget & { owner: string }): Promise<void> {
    return this.call('POST', `/v1/domains/${uuid}/migrate`, { generation, target });
  }
  attachDisk(uuid: string, generation: number, disk: DiskSpec): Promise<void> {
    return this.call('POST', `/v1/domains/${uuid}/disks`, { generation, disk });
  }
  detachDisk(uuid: string, generation: number, target: string): Promise<void> {
    return this.call('POST', `/v1/domains/${uuid}/disks/${target}/detach`, { generation });
  }
  plugNic(uuid: string, generation: number, nic: NicSpec): Promise<void> {
    return this.call('POST', `/v1/domains/${uuid}/nics`, { generation, nic });
  }
  unplugNic(uuid: string, generation: number, mac: string): Promise<void> {
    return this.call('POST', `/v1/domains/${uuid}/nics/${encodeURIComponent(mac)}/unplug`, { generation });
  }
  status(uuid: string): Promise<DomainStatus> {
    return this.call('GET', `/v1/domains/${uuid}`);
  }
  consoleLog(uuid: string, lines?: number): Promise<{ output: string }> {
    return this.call('GET', `/v1/domains/${uuid}/console${lines ? `?lines=${lines}` : ''}`);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.host.rpcUrl}${path}`, {
        method,
        headers: { Authorization: `Bearer ${this.host.rpcSecret}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new AgentUnavailable(
        `The agent of host ${this.host.hostname} did not answer: ${(err as Error).message}`,
      );
    }
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (res.ok) return parsed as T;
    const message = String((parsed.error as { message?: string } | undefined)?.message ?? text);
    if (res.status === 404) throw new NotFound(message);
    if (res.status === 409) throw new Conflict(message);
    throw new AgentUnavailable(`Host ${this.host.hostname}: ${res.status} ${message}`);
  }
}
