/**
 * Writes a tempest.conf for a running kvmstack, so Tempest's identity, image and network tests run against it.
 *
 * What kvmstack serves is switched on, everything else off: Keystone (v3), Glance and Neutron are available, so
 * the tests of other services are skipped by configuration, and each feature flag says what kvmstack really
 * implements (no trusts, no OS-* extensions, no security compliance, no v2; no image import or locations; no
 * IPv6, routers or floating IPs yet).
 *
 * As a library: `tempestConf({...})` returns the file's text. As a command:
 *   node dist/test/tempest/tempest-conf.js --url http://127.0.0.1:5000 --password <admin password> [--out tempest.conf]
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EXTENSIONS } from '../../src/network/extensions.js';

export interface TempestConfOptions {
  /** Base URL of the kvmstack API (no path), e.g. http://127.0.0.1:5000. */
  url: string;
  adminPassword: string;
  adminUsername?: string;
  adminProject?: string;
  region?: string;
  /** Where Tempest writes its log; empty: no log file. */
  logFile?: string;
  /** Directory of Tempest's inter-worker lock files; default: oslo.concurrency's. */
  lockPath?: string;
  /** An external (router:external) network for the tests that look one up; none: they skip. */
  publicNetworkId?: string;
  /** What the compute tests boot: images, flavors and the network servers get (none: nova off). */
  compute?: {
    imageRef: string;
    imageRefAlt: string;
    flavorRef: string;
    flavorRefAlt: string;
    network: string;
  };
}

/** Identity features kvmstack implements: read by Tempest to skip what is not there. */
export const IDENTITY_FEATURES: Record<string, string> = {
  api_v2: 'false',
  api_v2_admin: 'false',
  api_v3: 'true',
  // OS-TRUST, OS-EC2, OS-INHERIT, OS-OAUTH1, OS-EP-FILTER: none are implemented.
  trust: 'false',
  api_extensions: '',
  security_compliance: 'false',
  project_tags: 'true',
  application_credentials: 'true',
  access_rules: 'false',
  domain_specific_drivers: 'false',
  immutable_user_source: 'false',
};

/**
 * Services Tempest may test besides identity (which Tempest always assumes: [service_available] has no
 * keystone switch). Block storage comes with its issue; until then its tests are skipped. Nova is switched on
 * by tempestConf when it is given what servers boot (options.compute).
 */
export const SERVICES_AVAILABLE: Record<string, string> = {
  nova: 'false',
  cinder: 'false',
  glance: 'true',
  neutron: 'true',
  swift: 'false',
  horizon: 'false',
};

/**
 * Neutron as kvmstack serves it: IPv4 only, no routers or floating IPs yet (so Tempest must not create
 * isolated networks: [auth] create_isolated_networks = false), api_extensions exactly GET /v2.0/extensions.
 */
export const NETWORK = {
  catalog_type: 'network',
  project_network_cidr: '10.100.0.0/16',
  project_network_mask_bits: '28',
  project_networks_reachable: 'false',
};
export const NETWORK_FEATURES: Record<string, string> = {
  api_extensions: EXTENSIONS.map((e) => e.alias).join(','),
  ipv6: 'false',
  ipv6_subnet_attributes: 'false',
  floating_ips: 'false',
  port_security: 'true',
  port_admin_state_change: 'true',
};

/**
 * Glance as kvmstack serves it: no image import (so no tasks, no stores API), no location management; os_glance_*
 * properties are reserved. Uploads are inspected as Glance's format inspector does, and Tempest uploads random
 * bytes in disk_formats[0] and in the first pairs of container × disk formats: only formats whose data is not
 * inspected come first.
 */
export const IMAGE: Record<string, string> = {
  catalog_type: 'image',
  container_formats: 'bare,ami,ari,aki,ovf,ova',
  disk_formats: 'raw,ami,ari,aki,iso,ploop',
};
export const IMAGE_FEATURES: Record<string, string> = {
  api_v1: 'false',
  api_v2: 'true',
  import_image: 'false',
  manage_locations: 'false',
  os_glance_reserved: 'true',
};

/**
 * Nova as kvmstack serves it today: no resize, migrations, shelve, rescue, consoles other than the serial log,
 * guest agent (password) or metadata service; a config drive always; snapshots, pause, suspend and interface
 * attach yes (Tempest's attach tests still skip: they need [validation] run_validation, SSH into the guest,
 * which fake-driver hosts cannot give); personality files are refused from 2.57 and not written before.
 */
export const COMPUTE_FEATURES: Record<string, string> = {
  disk_config: 'false',
  change_password: 'false',
  console_output: 'true',
  resize: 'false',
  pause: 'true',
  shelve: 'false',
  shelve_migrate: 'false',
  suspend: 'true',
  cold_migration: 'false',
  live_migration: 'false',
  live_migrate_back_and_forth: 'false',
  metadata_service: 'false',
  block_migration_for_live_migration: 'false',
  vnc_console: 'false',
  spice_console: 'false',
  rdp_console: 'false',
  serial_console: 'false',
  rescue: 'false',
  stable_rescue: 'false',
  enable_instance_password: 'true',
  interface_attach: 'true',
  snapshot: 'true',
  personality: 'false',
  attach_encrypted_volume: 'false',
  config_drive: 'true',
  swap_volume: 'false',
  volume_multiattach: 'false',
  ide_bus: 'false',
  unified_limits: 'false',
};

function section(name: string, values: Record<string, string>): string {
  return [`[${name}]`, ...Object.entries(values).map(([k, v]) => `${k} = ${v}`), ''].join('\n');
}

export function tempestConf(o: TempestConfOptions): string {
  const base = o.url.replace(/\/+$/, '');
  return [
    '# Generated by test/tempest/tempest-conf.ts for a kvmstack API: do not edit by hand.',
    section('DEFAULT', { debug: 'true', log_file: o.logFile ?? '', use_stderr: 'false' }),
    section('auth', {
      use_dynamic_credentials: 'true',
      create_isolated_networks: 'false',
      admin_username: o.adminUsername ?? 'admin',
      admin_password: o.adminPassword,
      admin_project_name: o.adminProject ?? 'admin',
      admin_domain_name: 'Default',
      default_credentials_domain_name: 'Default',
    }),
    section('identity', {
      auth_version: 'v3',
      uri_v3: `${base}/identity/v3`,
      v3_endpoint_type: 'public',
      region: o.region ?? 'RegionOne',
      catalog_type: 'identity',
      admin_role: 'admin',
      default_domain_id: 'default',
    }),
    section('identity-feature-enabled', IDENTITY_FEATURES),
    section('service_available', { ...SERVICES_AVAILABLE, nova: o.compute ? 'true' : 'false' }),
    ...(o.compute
      ? [
          section('compute', {
            image_ref: o.compute.imageRef,
            image_ref_alt: o.compute.imageRefAlt,
            flavor_ref: o.compute.flavorRef,
            flavor_ref_alt: o.compute.flavorRefAlt,
            fixed_network_name: o.compute.network,
            min_microversion: '2.1',
            max_microversion: '2.79',
            build_timeout: '60',
            build_interval: '1',
            region: o.region ?? 'RegionOne',
            endpoint_type: 'publicURL',
          }),
          section('compute-feature-enabled', COMPUTE_FEATURES),
        ]
      : []),
    section('network', {
      ...NETWORK,
      ...(o.publicNetworkId ? { public_network_id: o.publicNetworkId } : {}),
    }),
    section('network-feature-enabled', NETWORK_FEATURES),
    section('image', IMAGE),
    section('image-feature-enabled', IMAGE_FEATURES),
    section('enforce_scope', { keystone: 'false' }),
    section('validation', { run_validation: 'false' }),
    ...(o.lockPath ? [section('oslo_concurrency', { lock_path: o.lockPath })] : []),
  ].join('\n');
}

function main(): void {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      password: { type: 'string' },
      username: { type: 'string' },
      project: { type: 'string' },
      region: { type: 'string' },
      'log-file': { type: 'string' },
      'lock-path': { type: 'string' },
      out: { type: 'string' },
    },
  });
  if (!values.url || !values.password) {
    console.error('usage: tempest-conf --url <kvmstack base url> --password <admin password> [--out file]');
    process.exit(2);
  }
  const text = tempestConf({
    url: values.url,
    adminPassword: values.password,
    adminUsername: values.username,
    adminProject: values.project,
    region: values.region,
    logFile: values['log-file'],
    lockPath: values['lock-path'],
  });
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
