/**
 * The lab's Neutron networks, made through the real HTTP API as the admin (a token from Keystone, then the
 * networking endpoint), exactly as an operator would with `openstack network create`.
 */
import { LAB_EXTERNAL_NET, LAB_PROVIDER_NET } from './topology.js';

export interface AdminSession {
  url: string;
  token: string;
  projectId: string;
}

export class LabApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** A project-scoped admin token. */
export async function adminSession(
  url: string,
  c: { username: string; password: string; project: string },
): Promise<AdminSession> {
  const res = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: c.username, domain: { id: 'default' }, password: c.password } },
        },
        scope: { project: { name: c.project, domain: { id: 'default' } } },
      },
    }),
    signal: AbortSignal.timeout(15_000),
  });
  if (res.status !== 201) throw new LabApiError(`admin token: ${res.status} ${await res.text()}`, res.status);
  const body = (await res.json()) as { token: { project: { id: string } } };
  return { url, token: res.headers.get('X-Subject-Token') ?? '', projectId: body.token.project.id };
}

/** One Neutron call; rejects with the status and Neutron's message on anything but a 2xx. */
export async function neutron<T>(s: AdminSession, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${s.url}/networking/v2.0${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', 'X-Auth-Token': s.token },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (!res.ok) throw new LabApiError(`${method} ${path}: ${res.status} ${text}`, res.status);
  return (text ? JSON.parse(text) : null) as T;
}

/** Whether this API serves Neutron's networks yet (404 until the network service exists). */
export async function networkApiAvailable(s: AdminSession): Promise<boolean> {
  try {
    await neutron(s, 'GET', '/networks');
    return true;
  } catch (err) {
    if (err instanceof LabApiError && err.status === 404) return false;
    throw err;
  }
}

export interface LabNetworks {
  provider: { networkId: string; subnetId: string };
  external: { networkId: string; subnetId: string };
}

async function flatNetwork(
  s: AdminSession,
  n: typeof LAB_PROVIDER_NET | typeof LAB_EXTERNAL_NET,
  extra: Record<string, unknown>,
  enableDhcp: boolean,
): Promise<{ networkId: string; subnetId: string }> {
  const { network } = await neutron<{ network: { id: string } }>(s, 'POST', '/networks', {
    network: {
      name: n.name,
      'provider:network_type': 'flat',
      'provider:physical_network': n.physnet,
      ...extra,
    },
  });
  const { subnet } = await neutron<{ subnet: { id: string } }>(s, 'POST', '/subnets', {
    subnet: {
      name: `${n.name}-subnet`,
      network_id: network.id,
      ip_version: 4,
      cidr: n.cidr,
      gateway_ip: n.gateway,
      allocation_pools: [n.pool],
      enable_dhcp: enableDhcp,
    },
  });
  return { networkId: network.id, subnetId: subnet.id };
}

/**
 * The provider network on every host's br0 (shared, DHCP on) and the external network on brx
 * (router:external, no DHCP: its addresses are floating IPs).
 */
export async function createLabNetworks(s: AdminSession): Promise<LabNetworks> {
  const provider = await flatNetwork(s, LAB_PROVIDER_NET, { shared: true }, true);
  const external = await flatNetwork(s, LAB_EXTERNAL_NET, { 'router:external': true }, false);
  return { provider, external };
}
