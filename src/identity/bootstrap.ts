import type { Knex } from 'knex';
import type { Config } from '../common/config/options.js';
import { newHexId, newSecret } from '../common/ids.js';
import type { PasswordHasher } from './passwords.js';
import { GLOBAL_ROLE_DOMAIN } from './roles/service.js';

export interface BootstrapResult {
  /** What this run created or changed, for the operator to read. */
  changes: string[];
  adminUserId: string;
  adminProjectId: string;
  /** Set only when this run generated or set the password. */
  adminPassword: string | null;
}

/** The catalog: every service on one port under its DevStack-style prefix. */
export function catalogEntries(publicUrl: string): { type: string; name: string; url: string }[] {
  return [
    { type: 'identity', name: 'keystone', url: `${publicUrl}/identity/v3` },
    { type: 'compute', name: 'nova', url: `${publicUrl}/compute/v2.1` },
    { type: 'volumev3', name: 'cinderv3', url: `${publicUrl}/volume/v3/$(project_id)s` },
    { type: 'block-storage', name: 'cinder', url: `${publicUrl}/volume/v3/$(project_id)s` },
    { type: 'image', name: 'glance', url: `${publicUrl}/image` },
    { type: 'network', name: 'neutron', url: `${publicUrl}/networking` },
  ];
}

/**
 * Idempotent, as `keystone-manage bootstrap`: the default domain, the admin ⊃ member ⊃ reader roles, the admin
 * project and user with the admin role, the region and the catalog. A second run changes nothing unless the
 * public URL or an explicitly given admin password changed.
 */
export async function bootstrap(
  db: Knex,
  config: Config,
  passwords: PasswordHasher,
  now: number,
): Promise<BootstrapResult> {
  const changes: string[] = [];
  const given = config.bootstrap.admin_password || null;
  const domainId = config.identity.default_domain_id;
  const existingAdmin = await db('users')
    .where({ name: config.bootstrap.admin_username, domain_id: domainId })
    .first();
  // A given password that already matches is not a change: a rerun with the same environment stays a no-op.
  const alreadySet =
    !!given && !!existingAdmin && (await passwords.verify(given, existingAdmin.password_hash ?? null));
  const password = alreadySet ? null : (given ?? (existingAdmin ? null : newSecret(18)));
  const hash = password ? await passwords.hash(password) : null;

  const result = await db.transaction(async (trx) => {
    if (!(await trx('domains').where({ id: domainId }).first())) {
      await trx('domains').insert({
        id: domainId,
        name: 'Default',
        description: 'The default domain',
        enabled: true,
        extra: '{}',
        created_at: now,
      });
      changes.push(`created domain Default (${domainId})`);
    }
    const roleIds: Record<string, string> = {};
    for (const name of ['admin', 'member', 'reader']) {
      const row = await trx('roles').where({ name, domain_id: GLOBAL_ROLE_DOMAIN }).first();
      if (row) roleIds[name] = String(row.id);
      else {
        roleIds[name] = newHexId();
        await trx('roles').insert({
          id: roleIds[name],
          name,
          domain_id: GLOBAL_ROLE_DOMAIN,
          description: null,
          extra: '{}',
          created_at: now,
        });
        changes.push(`created role ${name}`);
      }
    }
    for (const [prior, implied] of [
      ['admin', 'member'],
      ['member', 'reader'],
    ]) {
      const rule = { prior_role_id: roleIds[prior], implied_role_id: roleIds[implied] };
      if (!(await trx('implied_roles').where(rule).first())) {
        await trx('implied_roles').insert(rule);
        changes.push(`role ${prior} implies ${implied}`);
      }
    }
    let project = await trx('projects')
      .where({ name: config.bootstrap.admin_project, domain_id: domainId })
      .first();
    if (!project) {
      project = {
        id: newHexId(),
        name: config.bootstrap.admin_project,
        domain_id: domainId,
        parent_id: domainId,
        description: 'Bootstrap project for initializing the cloud.',
        enabled: true,
        tags: '[]',
        extra: '{}',
        created_at: now,
        updated_at: now,
      };
      await trx('projects').insert(project);
      changes.push(`created project ${config.bootstrap.admin_project}`);
    }
    let user = await trx('users')
      .where({ name: config.bootstrap.admin_username, domain_id: domainId })
      .first();
    if (!user) {
      user = {
        id: newHexId(),
        name: config.bootstrap.admin_username,
        domain_id: domainId,
        enabled: true,
        password_hash: hash,
        default_project_id: project.id,
        description: null,
        extra: '{}',
        created_at: now,
        updated_at: now,
      };
      await trx('users').insert(user);
      changes.push(`created user ${config.bootstrap.admin_username}`);
    } else if (hash) {
      await trx('users')
        .where({ id: user.id })
        .update({ password_hash: hash, enabled: true, updated_at: now });
      changes.push(`set the password of user ${config.bootstrap.admin_username}`);
    }
    const grant = { type: 'UserProject', actor_id: user.id, target_id: project.id, role_id: roleIds.admin };
    if (!(await trx('role_assignments').where(grant).first())) {
      await trx('role_assignments').insert(grant);
      changes.push(
        `granted admin on ${config.bootstrap.admin_project} to ${config.bootstrap.admin_username}`,
      );
    }
    const region = config.DEFAULT.region;
    if (!(await trx('regions').where({ id: region }).first())) {
      await trx('regions').insert({ id: region, description: '', parent_region_id: null, extra: '{}' });
      changes.push(`created region ${region}`);
    }
    for (const entry of catalogEntries(config.api.public_url)) {
      let service = await trx('services').where({ type: entry.type }).first();
      if (!service) {
        service = {
          id: newHexId(),
          type: entry.type,
          name: entry.name,
          description: null,
          enabled: true,
          extra: '{}',
        };
        await trx('services').insert(service);
        changes.push(`created service ${entry.type}`);
      }
      for (const iface of ['public', 'internal', 'admin']) {
        const ep = await trx('endpoints')
          .where({ service_id: service.id, interface: iface, region_id: region })
          .first();
        if (!ep) {
          await trx('endpoints').insert({
            id: newHexId(),
            service_id: service.id,
            interface: iface,
            region_id: region,
            url: entry.url,
            enabled: true,
            extra: '{}',
          });
          changes.push(`created ${iface} endpoint ${entry.url}`);
        } else if (ep.url !== entry.url) {
          await trx('endpoints').where({ id: ep.id }).update({ url: entry.url });
          changes.push(`updated ${iface} endpoint of ${entry.type} to ${entry.url}`);
        }
      }
    }
    return { adminUserId: String(user.id), adminProjectId: String(project.id) };
  });
  return { ...result, changes, adminPassword: password };
}
