import { hostname } from 'node:os';
import { ConfigError, loadOptions } from '../src/common/config/load.js';
import type { OptionSpec } from '../src/common/config/options.js';
import { parseMappings } from './network/mappings.js';

export const DEFAULT_AGENT_CONFIG_FILE = '/etc/kvmstack/agent.conf';

/** Every option of the host agent, declared once (the README's agent table is generated from it). */
export const AGENT_OPTIONS = [
  {
    section: 'agent',
    name: 'api_url',
    type: 'string',
    default: 'http://127.0.0.1:5000',
    description: 'Base URL of the kvmstack API the agent reports to.',
  },
  {
    section: 'agent',
    name: 'enrollment_secret',
    type: 'string',
    default: '',
    secret: true,
    description:
      "The cluster's enrollment secret ([cluster] enrollment_secret of the API), used to join once.",
  },
  {
    section: 'agent',
    name: 'hostname',
    type: 'string',
    default: '',
    description: 'Name of this host in the cluster; empty: the system host name.',
  },
  {
    section: 'agent',
    name: 'host_ip',
    type: 'string',
    default: '127.0.0.1',
    description: 'Management address of this host (migration traffic and RPC go there).',
  },
  {
    section: 'agent',
    name: 'rpc_listen',
    type: 'string',
    default: '${agent.host_ip}',
    description: "Address the agent's RPC endpoint listens on.",
  },
  {
    section: 'agent',
    name: 'rpc_port',
    type: 'int',
    default: 5100,
    min: 0,
    max: 65535,
    description: "Port of the agent's RPC endpoint (0: any free port).",
  },
  {
    section: 'agent',
    name: 'state_dir',
    type: 'string',
    default: '/var/lib/kvmstack-agent',
    description: 'Where the agent keeps its credentials, pid file, log and local state.',
  },
  {
    section: 'agent',
    name: 'log_file',
    type: 'string',
    default: '',
    description: 'Log file; empty logs to standard output.',
  },
  { section: 'agent', name: 'log_level', type: 'string', default: 'info', description: 'pino log level.' },
  {
    section: 'agent',
    name: 'driver',
    type: 'string',
    default: 'libvirt',
    description: 'Hypervisor driver: libvirt, or fake (in memory, for tests and simulations only).',
  },
  {
    section: 'agent',
    name: 'libvirt_uri',
    type: 'string',
    default: 'qemu:///system',
    description: 'libvirt connection of this host.',
  },
  {
    section: 'agent',
    name: 'migration_uri_template',
    type: 'string',
    default: 'qemu+tcp://{host_ip}/system',
    description: "libvirt URI of a peer for live migration; {host_ip} is the peer's management address.",
  },
  {
    section: 'agent',
    name: 'virt_type',
    type: 'string',
    default: 'auto',
    description: 'kvm, qemu (TCG), or auto: kvm only where a probe guest really boots.',
  },
  {
    section: 'agent',
    name: 'probe_image',
    type: 'string',
    default: '',
    description:
      'Guest image booted once under KVM to decide virt_type = auto (`kvmstack image build-tiny` makes one); none: TCG.',
  },
  {
    section: 'agent',
    name: 'heartbeat_interval',
    type: 'float',
    default: 2,
    min: 0.1,
    description: 'Seconds between reports to the API.',
  },
  {
    section: 'agent',
    name: 'reconcile_interval',
    type: 'float',
    default: 30,
    min: 1,
    description: "Seconds between reconciliations with the database's desired state.",
  },
  {
    section: 'agent',
    name: 'lease_interval',
    type: 'float',
    default: 2,
    min: 0.1,
    description: 'Seconds between storage-lease renewals on every shared store.',
  },
  {
    section: 'agent',
    name: 'lease_io_timeout',
    type: 'float',
    default: 5,
    min: 0.1,
    description: 'Seconds one lease write or read may take before it counts as failed (a hung mount).',
  },
  {
    section: 'agent',
    name: 'self_fence_after',
    type: 'float',
    default: 12,
    min: 1,
    description: 'Seconds without a successful lease renewal after which the agent destroys its own domains.',
  },
  {
    section: 'network',
    name: 'physical_interface_mappings',
    type: 'string',
    default: '',
    description:
      'physical network:interface pairs, e.g. `physnet1:eth1,trunk:eth2`: a flat network on one gets a bridge brq<id> holding the interface, a VLAN network a bridge holding <interface>.<vlan>.',
  },
  {
    section: 'network',
    name: 'bridge_mappings',
    type: 'string',
    default: '',
    description:
      'physical network:bridge pairs, e.g. `provider:br0`: an existing bridge used as is by a flat network (taken before physical_interface_mappings); a VLAN network gets <bridge>.<vlan> in its own brq<id> bridge.',
  },
  {
    section: 'network',
    name: 'host_local_networks',
    type: 'string',
    default: '',
    description:
      'Physical networks that never leave this host (a one-host cloud), comma-separated: a VLAN network on one is a bridge of its own with no uplink and no tag.',
  },
  {
    section: 'network',
    name: 'network_sync_interval',
    type: 'float',
    default: 2,
    min: 0,
    description:
      "Seconds between network syncs with the API (bridges, DHCP, filters, active ports); 0: this host's networks are not managed.",
  },
  {
    section: 'network',
    name: 'dnsmasq_path',
    type: 'string',
    default: 'dnsmasq',
    description: 'The dnsmasq program serving DHCP, one per network in its qdhcp-<network id> namespace.',
  },
] as const satisfies readonly OptionSpec[];

export type StoreType = 'dir' | 'glusterfs' | 'nfs';

/** A shared store as named in `[store NAME]`: mounted at the same path on every host. */
export interface StoreConfig {
  name: string;
  type: StoreType;
  /** glusterfs: host:/volume; nfs: host:/export; dir: unused. */
  source: string;
  /** Mount point (or the directory itself for `dir`). */
  mount: string;
  /** Extra mount options (-o). */
  options: string;
}

export interface AgentConfig {
  agent: {
    apiUrl: string;
    enrollmentSecret: string;
    hostname: string;
    hostIp: string;
    rpcListen: string;
    rpcPort: number;
    stateDir: string;
    logFile: string;
    logLevel: string;
    driver: 'libvirt' | 'fake';
    libvirtUri: string;
    migrationUriTemplate: string;
    virtType: 'auto' | 'kvm' | 'qemu';
    probeImage: string;
    heartbeatIntervalMs: number;
    reconcileIntervalMs: number;
    leaseIntervalMs: number;
    leaseIoTimeoutMs: number;
    selfFenceAfterMs: number;
  };
  network: NetworkConfig;
  stores: StoreConfig[];
  file: string | null;
}

/** `[network]`: how this host reaches each physical network (host-agent/network/mappings.ts parses them). */
export interface NetworkConfig {
  /** physical network → interface */
  interfaceMappings: Map<string, string>;
  /** physical network → existing bridge */
  bridgeMappings: Map<string, string>;
  hostLocalNetworks: Set<string>;
  /** 0: the agent does not manage this host's networks. */
  syncIntervalMs: number;
  dnsmasqPath: string;
}

const oneOf = <T extends string>(value: string, allowed: readonly T[], where: string): T => {
  if (!(allowed as readonly string[]).includes(value))
    throw new ConfigError(`${where}: must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
};

export function loadAgentConfig(
  opts: {
    file?: string;
    env?: NodeJS.ProcessEnv;
    overrides?: Record<string, string | number | boolean>;
  } = {},
): AgentConfig {
  const file = opts.file ?? null;
  const { values, dynamic } = loadOptions(AGENT_OPTIONS, {
    ...opts,
    file: file ?? undefined,
    dynamicSections: /^store\s+\S+$/,
  });
  const a = values.agent as Record<string, string | number>;
  const stores: StoreConfig[] = Object.entries(dynamic).map(([section, v]) => {
    const name = section.replace(/^store\s+/, '');
    const type = oneOf(v.type ?? 'dir', ['dir', 'glusterfs', 'nfs'] as const, `[${section}] type`);
    if (!v.mount?.startsWith('/')) throw new ConfigError(`[${section}] mount: an absolute path is required`);
    if (type !== 'dir' && !/^[^\s:]+:\/\S*$/.test(v.source ?? ''))
      throw new ConfigError(`[${section}] source: expected host:/path, got "${v.source ?? ''}"`);
    const unknown = Object.keys(v).filter((k) => !['type', 'source', 'mount', 'options'].includes(k));
    if (unknown.length) throw new ConfigError(`[${section}]: unknown option ${unknown[0]}`);
    return { name, type, source: v.source ?? '', mount: v.mount, options: v.options ?? '' };
  });
  const seconds = (k: string) => Math.round(Number(a[k]) * 1000);
  const n = values.network as Record<string, string | number>;
  const cfg: AgentConfig = {
    agent: {
      apiUrl: String(a.api_url).replace(/\/+$/, ''),
      enrollmentSecret: String(a.enrollment_secret),
      hostname: String(a.hostname) || hostname(),
      hostIp: String(a.host_ip),
      rpcListen: String(a.rpc_listen),
      rpcPort: Number(a.rpc_port),
      stateDir: String(a.state_dir),
      logFile: String(a.log_file),
      logLevel: String(a.log_level),
      driver: oneOf(String(a.driver), ['libvirt', 'fake'] as const, '[agent] driver'),
      libvirtUri: String(a.libvirt_uri),
      migrationUriTemplate: String(a.migration_uri_template),
      virtType: oneOf(String(a.virt_type), ['auto', 'kvm', 'qemu'] as const, '[agent] virt_type'),
      probeImage: String(a.probe_image),
      heartbeatIntervalMs: seconds('heartbeat_interval'),
      reconcileIntervalMs: seconds('reconcile_interval'),
      leaseIntervalMs: seconds('lease_interval'),
      leaseIoTimeoutMs: seconds('lease_io_timeout'),
      selfFenceAfterMs: seconds('self_fence_after'),
    },
    network: networkConfig(n),
    stores,
    file,
  };
  if (cfg.agent.selfFenceAfterMs <= cfg.agent.leaseIntervalMs) {
    throw new ConfigError('[agent] self_fence_after must be longer than lease_interval');
  }
  return cfg;
}

function networkConfig(n: Record<string, string | number>): NetworkConfig {
  const mapping = (name: string) => {
    try {
      return parseMappings(String(n[name]));
    } catch (err) {
      throw new ConfigError(`[network] ${name}: ${(err as Error).message}`);
    }
  };
  const local = String(n.host_local_networks)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  return {
    interfaceMappings: mapping('physical_interface_mappings'),
    bridgeMappings: mapping('bridge_mappings'),
    hostLocalNetworks: new Set(local),
    syncIntervalMs: Math.round(Number(n.network_sync_interval) * 1000),
    dnsmasqPath: String(n.dnsmasq_path),
  };
}
