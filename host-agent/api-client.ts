import type { HostNetworkState, NetworkSyncReport } from '../src/network/realization.js';
import type { DesiredState } from './reconcile.js';

export class ApiCallError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface Enrolled {
  hostId: string;
  credential: string;
  rpcSecret: string;
}

/** The agent's side of the agent protocol: enroll once, then report and reconcile with the host credential. */
export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async enroll(body: {
    enrollment_secret: string;
    hostname: string;
    host_uuid: string;
    host_ip: string;
    rpc_url: string;
    inventory: unknown;
  }): Promise<Enrolled> {
    const res = (await this.call('POST', '/kvmstack/v1/hosts/enroll', body)) as {
      host: { id: string };
      credential: string;
      rpc_secret: string;
    };
    return { hostId: res.host.id, credential: res.credential, rpcSecret: res.rpc_secret };
  }

  async report(e: Enrolled, body: unknown): Promise<void> {
    await this.call('POST', `/kvmstack/v1/hosts/${e.hostId}/report`, body, e.credential);
  }

  async desiredState(e: Enrolled, localUuids: string[]): Promise<DesiredState> {
    return (await this.call(
      'POST',
      `/kvmstack/v1/hosts/${e.hostId}/reconcile`,
      { domains: localUuids },
      e.credential,
    )) as DesiredState;
  }

  /** The network sync (src/network/realization.ts): what this host has realized in, its network state out. */
  async networkSync(e: Enrolled, report: NetworkSyncReport): Promise<HostNetworkState> {
    return (await this.call(
      'POST',
      `/kvmstack/v1/hosts/${e.hostId}/network`,
      report,
      e.credential,
    )) as HostNetworkState;
  }

  private async call(method: string, path: string, body: unknown, credential?: string): Promise<unknown> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (credential) headers.Authorization = `Bearer ${credential}`;
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        /* not JSON */
      }
      throw new ApiCallError(`${method} ${path}: ${res.status} ${message}`, res.status);
    }
    return text ? JSON.parse(text) : null;
  }
}
