/** The host's network devices as `ip -d -j link show` reports them: what the realizer diffs against. */

/** Runs a program with an argument array (src/common/exec.ts `run`, or a wrapper entering a namespace). */
export type Runner = (file: string, args: readonly string[], opts?: { input?: string }) => Promise<string>;

export interface Link {
  name: string;
  /** bridge, vlan, veth, tun, ... ('' for a plain device). */
  kind: string;
  master: string | null;
  mtu: number;
  up: boolean;
  mac: string;
  alias: string | null;
  /** VLAN devices: their id and parent. */
  vlanId: number | null;
  parent: string | null;
  /** VXLAN devices: VNI, local address, UDP port and whether they learn remote MACs (absent: not VXLAN). */
  vxlan?: { vni: number; local: string | null; port: number; learning: boolean };
}

interface IpLinkJson {
  ifname: string;
  flags?: string[];
  mtu?: number;
  master?: string;
  address?: string;
  ifalias?: string;
  link?: string;
  linkinfo?: {
    info_kind?: string;
    info_data?: { id?: number; local?: string; port?: number; learning?: boolean };
  };
}

export function parseLinks(json: string): Map<string, Link> {
  const out = new Map<string, Link>();
  for (const l of JSON.parse(json || '[]') as IpLinkJson[]) {
    // `ip` names a peer in another namespace "if12" / a VLAN parent as "eth0": only a parent in the same
    // namespace is usable, and `link` then is its plain name
    const kind = l.linkinfo?.info_kind ?? '';
    const data = l.linkinfo?.info_data ?? {};
    out.set(l.ifname, {
      name: l.ifname,
      kind,
      master: l.master ?? null,
      mtu: l.mtu ?? 0,
      up: (l.flags ?? []).includes('UP'),
      mac: (l.address ?? '').toLowerCase(),
      alias: l.ifalias ?? null,
      vlanId: kind === 'vlan' ? (l.linkinfo?.info_data?.id ?? null) : null,
      parent: kind === 'vlan' ? (l.link ?? null) : null,
      ...(kind === 'vxlan'
        ? {
            vxlan: {
              vni: data.id ?? 0,
              local: data.local ?? null,
              port: data.port ?? 0,
              learning: data.learning ?? false,
            },
          }
        : {}),
    });
  }
  return out;
}

export async function readLinks(cmd: Runner): Promise<Map<string, Link>> {
  return parseLinks(await cmd('ip', ['-d', '-j', 'link', 'show']));
}

/** The network namespaces `ip netns list` knows (in the agent's mount namespace). */
export async function readNamespaces(cmd: Runner): Promise<Set<string>> {
  const out = await cmd('ip', ['netns', 'list']);
  return new Set(
    out
      .split('\n')
      .map((l) => l.split(' ')[0]?.trim())
      .filter((n): n is string => Boolean(n)),
  );
}

/** The flood list of a VXLAN device: the destinations of its all-zeros FDB entries (`bridge -j fdb show`). */
export const FLOOD_MAC = '00:00:00:00:00:00';

export function parseFloodDestinations(json: string): string[] {
  const entries = JSON.parse(json || '[]') as { mac?: string; dst?: string }[];
  return [...new Set(entries.filter((e) => e.mac === FLOOD_MAC && e.dst).map((e) => e.dst as string))].sort();
}

export async function readFloodDestinations(cmd: Runner, dev: string): Promise<string[]> {
  return parseFloodDestinations(await cmd('bridge', ['-j', 'fdb', 'show', 'dev', dev]));
}
