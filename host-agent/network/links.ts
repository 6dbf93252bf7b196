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
}

interface IpLinkJson {
  ifname: string;
  flags?: string[];
  mtu?: number;
  master?: string;
  address?: string;
  ifalias?: string;
  link?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number } };
}

export function parseLinks(json: string): Map<string, Link> {
  const out = new Map<string, Link>();
  for (const l of JSON.parse(json || '[]') as IpLinkJson[]) {
    // `ip` names a peer in another namespace "if12" / a VLAN parent as "eth0": only a parent in the same
    // namespace is usable, and `link` then is its plain name
    const kind = l.linkinfo?.info_kind ?? '';
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
