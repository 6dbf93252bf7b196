/**
 * Every configuration option, declared once: section, name, type, default and a one-line description.
 * The README's option table is generated from this list (`kvmstack config doc`), and the loader
 * derives each option's environment variable from it (KVMSTACK_<SECTION>_<NAME>, DEFAULT has no section part).
 */
export type OptionType = 'string' | 'int' | 'float' | 'bool';

export interface OptionSpec {
  section: string;
  name: string;
  type: OptionType;
  /** Default value; a string may reference other options as ${section.name}. null: unset. */
  default: string | number | boolean | null;
  description: string;
  /** Shown instead of the value in `config show` and logs. */
  secret?: boolean;
  min?: number;
  max?: number;
  /** For a string: the only values accepted. */
  choices?: readonly string[];
}

export const OPTIONS = [
  // [DEFAULT]
  {
    section: 'DEFAULT',
    name: 'data_dir',
    type: 'string',
    default: '/var/lib/kvmstack',
    description: 'Where the SQLite database, token signing keys, pid and log files live.',
  },
  {
    section: 'DEFAULT',
    name: 'log_level',
    type: 'string',
    default: 'info',
    description: 'pino log level: trace, debug, info, warn, error, fatal.',
  },
  {
    section: 'DEFAULT',
    name: 'log_file',
    type: 'string',
    default: '',
    description: 'Log file of the API service; empty logs to standard output.',
  },
  {
    section: 'DEFAULT',
    name: 'region',
    type: 'string',
    default: 'RegionOne',
    description: 'Region name used in the service catalog.',
  },

  // [api]
  {
    section: 'api',
    name: 'listen',
    type: 'string',
    default: '0.0.0.0',
    description: 'Address the API service listens on.',
  },
  {
    section: 'api',
    name: 'port',
    type: 'int',
    default: 5000,
    min: 1,
    max: 65535,
    description:
      'Port of the API service; every OpenStack service is served on it under a DevStack-style prefix.',
  },
  {
    section: 'api',
    name: 'public_url',
    type: 'string',
    default: '',
    description:
      'Base URL clients reach the API at (catalog endpoints are built from it); empty: http://<hostname>:<port>.',
  },
  {
    section: 'api',
    name: 'max_request_body_size',
    type: 'int',
    default: 114688,
    min: 1024,
    description: 'Largest JSON request body in bytes (oslo default 112 KiB); larger bodies get 413.',
  },
  {
    section: 'api',
    name: 'max_limit',
    type: 'int',
    default: 1000,
    min: 1,
    description:
      "Most items one page of a list returns (Nova's osapi_max_limit); clients page on with limit and marker.",
  },
  {
    section: 'api',
    name: 'metrics_enabled',
    type: 'bool',
    default: true,
    description: 'Serve Prometheus metrics at GET /metrics.',
  },
  {
    section: 'api',
    name: 'pid_file',
    type: 'string',
    default: '${DEFAULT.data_dir}/kvmstack-api.pid',
    description: 'Pid file of the API service started in the background.',
  },

  // [database]
  {
    section: 'database',
    name: 'connection',
    type: 'string',
    default: 'sqlite://${DEFAULT.data_dir}/kvmstack.sqlite',
    secret: true,
    description:
      'sqlite:///absolute/path.sqlite (embedded) or mysql://user:password@host[:port]/database (MariaDB/MySQL).',
  },
  {
    section: 'database',
    name: 'max_pool_size',
    type: 'int',
    default: 10,
    min: 1,
    description: 'Largest number of connections to MariaDB/MySQL per API process.',
  },

  // [token]
  {
    section: 'token',
    name: 'expiration',
    type: 'int',
    default: 3600,
    min: 60,
    description: 'Lifetime of a token in seconds.',
  },
  {
    section: 'token',
    name: 'key_repository',
    type: 'string',
    default: '${DEFAULT.data_dir}/jws-keys',
    description: 'Directory of the ES256 signing keys (private/ and public/), shared by every API process.',
  },
  {
    section: 'token',
    name: 'max_active_keys',
    type: 'int',
    default: 3,
    min: 2,
    description: 'Public keys kept by `kvmstack keys rotate`: tokens signed by older keys stop validating.',
  },
  {
    section: 'token',
    name: 'revocation_refresh_interval',
    type: 'float',
    default: 1,
    min: 0.1,
    description: 'Seconds between reloads of revocation events made by other API processes.',
  },
  {
    section: 'token',
    name: 'allow_rescope_scoped_token',
    type: 'bool',
    default: true,
    description: 'Whether a project-scoped token may be exchanged for a token of another scope.',
  },

  // [identity]
  {
    section: 'identity',
    name: 'password_hash_rounds',
    type: 'int',
    default: 10,
    min: 4,
    max: 31,
    description:
      'bcrypt cost factor for passwords and application-credential secrets (Keystone-compatible hashes).',
  },
  {
    section: 'identity',
    name: 'default_domain_id',
    type: 'string',
    default: 'default',
    description: 'Id of the domain created at bootstrap and used when a request names none.',
  },

  // [bootstrap]
  {
    section: 'bootstrap',
    name: 'admin_username',
    type: 'string',
    default: 'admin',
    description: 'Name of the administrator created by `kvmstack bootstrap`.',
  },
  {
    section: 'bootstrap',
    name: 'admin_password',
    type: 'string',
    default: '',
    secret: true,
    description: 'Password of that administrator; empty: one is generated and printed once.',
  },
  {
    section: 'bootstrap',
    name: 'admin_project',
    type: 'string',
    default: 'admin',
    description: 'Project the administrator holds the admin role on.',
  },

  // [cluster]
  {
    section: 'cluster',
    name: 'enrollment_secret',
    type: 'string',
    default: '',
    secret: true,
    description:
      'Secret a host agent presents to join the cluster (auto-discovery); empty: no host can join.',
  },
  {
    section: 'cluster',
    name: 'agent_timeout',
    type: 'float',
    default: 30,
    min: 1,
    description: 'Seconds the API waits for an agent to answer one RPC command.',
  },

  // [compute]
  {
    section: 'compute',
    name: 'novaclient_max_microversion',
    type: 'string',
    default: '2.13',
    description:
      'Highest compute microversion shown to python-novaclient, so that `nova evacuate --on-shared-storage` keeps working; empty: no special case.',
  },
  {
    section: 'compute',
    name: 'service_down_time',
    type: 'int',
    default: 60,
    min: 1,
    description:
      "Seconds without a host report after which its nova-compute service and hypervisor show `down` (Nova's service_down_time).",
  },
  {
    section: 'compute',
    name: 'default_availability_zone',
    type: 'string',
    default: 'nova',
    description: 'Availability zone of a host that is in no aggregate with an availability_zone.',
  },
  // (more [compute] options go here)
  {
    section: 'compute',
    name: 'shutdown_timeout',
    type: 'int',
    default: 60,
    min: 0,
    description:
      "Seconds a stop or soft reboot waits for the guest to power off after the ACPI request before it is powered off (Nova's shutdown_timeout).",
  },
  {
    section: 'compute',
    name: 'task_takeover_after',
    type: 'float',
    default: 30,
    min: 1,
    description:
      'Seconds without a heartbeat from the API process running a task (boot, delete, action) after which another API process takes it over.',
  },
  {
    section: 'compute',
    name: 'max_concurrent_builds',
    type: 'int',
    default: 4,
    min: 1,
    description:
      "Boots one API process runs on one host at a time (Nova's max_concurrent_builds); a batch create waits its turn per host.",
  },
  {
    section: 'compute',
    name: 'quota_key_pairs',
    type: 'int',
    default: 100,
    min: -1,
    description: "Key pairs one user may own (Nova's [quota] key_pairs); -1: unlimited.",
  },
  {
    section: 'compute',
    name: 'quota_instances',
    type: 'int',
    default: 10,
    min: -1,
    description: "Servers one project may have (Nova's [quota] instances); -1: unlimited.",
  },
  {
    section: 'compute',
    name: 'quota_cores',
    type: 'int',
    default: 20,
    min: -1,
    description: "vCPUs the servers of one project may have in total (Nova's [quota] cores); -1: unlimited.",
  },
  {
    section: 'compute',
    name: 'quota_ram',
    type: 'int',
    default: 51200,
    min: -1,
    description:
      "MiB of RAM the servers of one project may have in total (Nova's [quota] ram); -1: unlimited.",
  },
  {
    section: 'compute',
    name: 'quota_metadata_items',
    type: 'int',
    default: 128,
    min: -1,
    description: "Metadata items per server (Nova's [quota] metadata_items); -1: unlimited.",
  },
  {
    section: 'compute',
    name: 'quota_injected_files',
    type: 'int',
    default: 5,
    min: -1,
    description: "Injected files (personality) per server (Nova's [quota] injected_files); -1: unlimited.",
  },
  {
    section: 'compute',
    name: 'quota_injected_file_content_bytes',
    type: 'int',
    default: 10240,
    min: -1,
    description: "Bytes per injected file (Nova's [quota] injected_file_content_bytes); -1: unlimited.",
  },
  {
    section: 'compute',
    name: 'quota_injected_file_path_length',
    type: 'int',
    default: 255,
    min: -1,
    description:
      "Characters in an injected file's path (Nova's [quota] injected_file_path_length); -1: unlimited.",
  },
  {
    section: 'compute',
    name: 'quota_server_groups',
    type: 'int',
    default: 10,
    min: -1,
    description: "Server groups one project may have (Nova's [quota] server_groups); -1: unlimited.",
  },
  {
    section: 'compute',
    name: 'quota_server_group_members',
    type: 'int',
    default: 10,
    min: -1,
    description:
      "Servers of one user in one server group (Nova's [quota] server_group_members); -1: unlimited.",
  },

  // [scheduler]
  {
    section: 'scheduler',
    name: 'placement_policy',
    type: 'string',
    default: 'performance',
    choices: ['performance', 'progressive'],
    description:
      'How new servers are placed: performance spreads them (most free RAM, then vCPUs, first) and progressive stacks them (the most used host that still fits first); a host aggregate overrides it with its placement_policy metadata (the lowest aggregate id wins when a host has several).',
  },
  {
    section: 'scheduler',
    name: 'cpu_allocation_ratio',
    type: 'float',
    default: 4.0,
    min: 0.0001,
    description: "Virtual CPUs placed per physical CPU of a host (Nova's initial_cpu_allocation_ratio).",
  },
  {
    section: 'scheduler',
    name: 'ram_allocation_ratio',
    type: 'float',
    default: 1.0,
    min: 0.0001,
    description: "Guest memory placed per MiB of a host's RAM (Nova's initial_ram_allocation_ratio).",
  },
  {
    section: 'scheduler',
    name: 'disk_allocation_ratio',
    type: 'float',
    default: 1.0,
    min: 0.0001,
    description:
      "Root disk GiB placed per GiB of a host's local disk (Nova's initial_disk_allocation_ratio); a host reporting no local disk takes only 0-GiB flavors.",
  },
  {
    section: 'scheduler',
    name: 'reserved_host_memory_mb',
    type: 'int',
    default: 512,
    min: 0,
    description:
      "MiB of each host's RAM kept for the host itself, never given to guests (Nova's reserved_host_memory_mb).",
  },
  {
    section: 'scheduler',
    name: 'reserved_host_cpus',
    type: 'int',
    default: 0,
    min: 0,
    description: "Physical CPUs of each host kept for the host itself (Nova's reserved_host_cpus).",
  },

  // [image] (Glance options go here)
  {
    section: 'image',
    name: 'store_dir',
    type: 'string',
    default: '${DEFAULT.data_dir}/stores/local',
    description:
      'Directory of the shared store that holds image files (under images/); the same directory the agents mount as [store <store_name>].',
  },
  {
    section: 'image',
    name: 'store_name',
    type: 'string',
    default: 'local',
    description:
      "Name of the agents' [store NAME] that mounts store_dir: image locations are kept relative to it, so every host resolves them through its own mount.",
  },
  {
    section: 'image',
    name: 'project_storage_quota',
    type: 'int',
    default: 0,
    min: 0,
    description: 'Bytes of image data one project may store (sum of its image sizes); 0: unlimited.',
  },
  {
    section: 'image',
    name: 'image_size_cap',
    type: 'int',
    default: 1099511627776,
    min: 1,
    description: "Largest image upload in bytes (Glance's image_size_cap, 1 TiB); larger uploads get 413.",
  },
  {
    section: 'image',
    name: 'disk_formats',
    type: 'string',
    default: 'ami,ari,aki,vhd,vhdx,vmdk,raw,qcow2,vdi,iso,ploop',
    description:
      "Comma-separated values accepted for an image's disk_format (Glance's [image_format] disk_formats).",
  },
  {
    section: 'image',
    name: 'container_formats',
    type: 'string',
    default: 'ami,ari,aki,bare,ovf,ova,docker,compressed',
    description:
      "Comma-separated values accepted for an image's container_format (Glance's [image_format] container_formats).",
  },
  {
    section: 'image',
    name: 'inspect_timeout',
    type: 'float',
    default: 60,
    min: 1,
    description:
      'Seconds `qemu-img info` may take to inspect an uploaded image before the upload is refused.',
  },

  // [network] (Neutron options go here)
  {
    section: 'network',
    name: 'default_mtu',
    type: 'int',
    default: 1500,
    min: 68,
    max: 9216,
    description: "MTU of new networks when the request gives none (Neutron's global_physnet_mtu).",
  },
  {
    section: 'network',
    name: 'tenant_network_type',
    type: 'string',
    default: 'vlan',
    choices: ['vlan', 'vxlan'],
    description:
      'Segment type given to networks created without provider attributes (project networks): vlan (from network_vlan_ranges) or vxlan (from vni_ranges).',
  },
  {
    section: 'network',
    name: 'vni_ranges',
    type: 'string',
    default: '1:1000',
    description:
      'VXLAN network identifiers project networks are allocated from, as min:max, comma separated (ML2 [ml2_type_vxlan] vni_ranges); admins may give any VNI from 1 to 16777215.',
  },
  {
    section: 'network',
    name: 'network_vlan_ranges',
    type: 'string',
    default: 'physnet1:1000:1999',
    description:
      'VLAN ids project networks are allocated from, as physnet:min:max, comma separated (ML2 network_vlan_ranges); a bare physnet allows admin VLANs there without a tenant range.',
  },
  {
    section: 'network',
    name: 'flat_networks',
    type: 'string',
    default: '*',
    description: 'Physical networks on which admins may create flat networks, comma separated; * allows any.',
  },
] as const satisfies readonly OptionSpec[];

type Spec = (typeof OPTIONS)[number];
type ValueOf<T extends OptionType> = T extends 'int' | 'float' ? number : T extends 'bool' ? boolean : string;

/** The loaded configuration, typed from OPTIONS: config.api.port is a number, config.DEFAULT.data_dir a string. */
export type Config = {
  [S in Spec['section']]: { [O in Extract<Spec, { section: S }> as O['name']]: ValueOf<O['type']> };
};

export function envName(spec: Pick<OptionSpec, 'section' | 'name'>): string {
  return spec.section === 'DEFAULT'
    ? `KVMSTACK_${spec.name.toUpperCase()}`
    : `KVMSTACK_${spec.section.toUpperCase()}_${spec.name.toUpperCase()}`;
}
