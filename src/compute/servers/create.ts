/**
 * POST /servers (Nova's compute API create): every check that can fail the request runs before anything is
 * written; then the servers, their metadata, tags, group membership, the `create` instance actions and one
 * boot task per server are written in one transaction, and the tasks are started. Scheduling happens in the
 * task, so a server with no valid host is an ERROR server with Nova's fault, as in Nova.
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { AuthContext } from '../../common/context.js';
import { BadRequest, Forbidden, NotFound } from '../../common/errors.js';
import { newUuid } from '../../common/ids.js';
import type { Microversion } from '../../common/microversion.js';
import type { Config } from '../../common/config/options.js';
import { toJson } from '../../db/columns.js';
import { showImage, type Image } from '../../image/images/service.js';
import { actorOf } from '../../image/policy.js';
import {
  autoNetwork,
  checkNetworkRequests,
  securityGroupIds,
  type NetworkRequest,
} from '../../network/compute-ports.js';
import { boolFromNova, normalizeIpv6 } from '../parameter-types.js';
import { getFlavor, type Flavor } from '../flavors/service.js';
import { getKeyPair } from '../keypairs/service.js';
import { isAdmin } from '../policy.js';
import { maxInstancesAllowed, checkServerQuota } from '../quotas/service.js';
import { addGroupMembers, getGroupForBoot } from '../server-groups/service.js';
import { recordAction } from './instance-actions/record.js';
import { setTags } from './tags/service.js';
import { checkMetadataQuota, replaceMetadata } from './metadata/service.js';
import type { EmbeddedFlavor, ServerRequest } from './model.js';
import { TaskRunner } from '../tasks/runner.js';
import { BOOT_TASK, type BootPayload } from '../tasks/boot.js';
import { availableZones } from '../availability-zones/service.js';

export interface CreateContext {
  db: Knex;
  config: Config;
  now: () => number;
  log: import('pino').Logger;
  auth: AuthContext;
  mv: Microversion;
  requestId: string;
}

export interface CreateResult {
  servers: { uuid: string; adminPass: string | null }[];
  reservationId: string;
  taskIds: string[];
  securityGroups: string[];
}

const lastSegment = (ref: string | number): string => {
  const s = String(ref);
  return s.includes('/') ? (s.split('/').filter(Boolean).pop() ?? s) : s;
};

/** Nova's sanitize_hostname: lower case, [a-z0-9-] only, ≤ 63 characters, no leading/trailing '-' or '.'. */
export function sanitizeHostname(name: string, fallback: string): string {
  const h = name
    .toLowerCase()
    .replace(/[ _]/g, '-')
    .replace(/[^a-z0-9.-]/g, '')
    .slice(0, 63)
    .replace(/^[.-]+|[.-]+$/g, '');
  return h || fallback;
}

const GENERATED_PASSWORD_CHARS = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
/** Nova's generate_password: 12 characters from an unambiguous alphabet. */
export function generatePassword(length = 12): string {
  const bytes = randomBytes(length);
  return [...bytes].map((b) => GENERATED_PASSWORD_CHARS[b % GENERATED_PASSWORD_CHARS.length]).join('');
}

const reservationId = (): string => `r-${randomBytes(6).toString('hex').slice(0, 8)}`;

async function findFlavor(c: CreateContext, ref: string | number): Promise<Flavor> {
  const id = lastSegment(ref);
  try {
    return await getFlavor(c.db, { admin: isAdmin(c.auth), projectId: c.auth.projectId }, id);
  } catch (err) {
    if (err instanceof NotFound) throw new BadRequest(`Flavor ${id} could not be found.`);
    throw err;
  }
}

export async function findImage(
  c: Pick<CreateContext, 'db' | 'config' | 'now' | 'log' | 'auth'>,
  ref: string,
): Promise<Image> {
  const id = lastSegment(ref);
  let image: Image;
  try {
    image = await showImage(c, actorOf(c.auth), id);
  } catch (err) {
    if (err instanceof NotFound || err instanceof Forbidden)
      throw new BadRequest(`Image ${id} could not be found.`);
    throw err;
  }
  if (image.status !== 'active') throw new BadRequest(`Image ${id} is not active.`);
  if (!image.diskFormat || !['qcow2', 'raw'].includes(image.diskFormat))
    throw new BadRequest(
      `Image ${id} has disk format ${image.diskFormat}; kvmstack boots qcow2 and raw images.`,
    );
  return image;
}

/** Nova's _check_requested_image: the flavor must hold the image. */
export function checkImageFitsFlavor(image: Image, flavor: Pick<Flavor, 'memoryMb' | 'rootGb'>): void {
  const GiB = 1024 ** 3;
  if (image.minRam > flavor.memoryMb)
    throw new BadRequest("Flavor's memory is too small for requested image.");
  if (flavor.rootGb > 0) {
    const imageBytes = image.virtualSize ?? image.size ?? 0;
    if (imageBytes > flavor.rootGb * GiB)
      throw new BadRequest(
        `Flavor's disk is too small for requested image. Flavor disk is ${flavor.rootGb * GiB} bytes, image is ${imageBytes} bytes.`,
      );
    if (image.minDisk > flavor.rootGb)
      throw new BadRequest("Flavor's disk is too small for requested image.");
  }
}

/** availability_zone: "zone", "zone:host" or "zone:host:node" (the host forms are admin-only). */
async function parseZone(
  c: CreateContext,
  value: string | undefined,
): Promise<{ zone: string | null; forcedHost: string | null }> {
  if (value === undefined) return { zone: null, forcedHost: null };
  const [zone, host] = value.split(':');
  if (host) {
    if (!isAdmin(c.auth))
      throw new Forbidden(
        'You are not authorized to perform the requested action: os_compute_api:servers:create:forced_host.',
      );
  }
  if (zone) {
    const zones = await availableZones(c.db);
    if (!zones.has(zone)) throw new BadRequest('The requested availability zone is not available');
  }
  return { zone: zone || null, forcedHost: host || null };
}

function embedFlavor(f: Flavor): EmbeddedFlavor {
  return {
    id: f.flavorid,
    name: f.name,
    vcpus: f.vcpus,
    ram: f.memoryMb,
    disk: f.rootGb,
    ephemeral: f.ephemeralGb,
    swap: f.swap,
    extra_specs: f.extraSpecs,
  };
}

export async function createServers(c: CreateContext, body: Record<string, unknown>): Promise<CreateResult> {
  const s = body.server as Record<string, unknown>;
  const hints = (body['os:scheduler_hints'] ?? body['OS-SCH-HNT:scheduler_hints'] ?? {}) as Record<
    string,
    unknown
  >;
  const projectId = c.auth.projectId;
  if (!projectId) throw new Forbidden('A project-scoped token is required to create servers.');

  const minCount = Number(s.min_count ?? 1);
  const maxCount = Number(s.max_count ?? minCount);
  if (!Number.isSafeInteger(minCount) || !Number.isSafeInteger(maxCount) || minCount < 1)
    throw new BadRequest('Invalid input for field/attribute min_count. Value: must be a positive integer');
  if (maxCount < minCount) throw new BadRequest('min_count must be <= max_count');

  const flavor = await findFlavor(c, s.flavorRef as string | number);
  if (flavor.disabled) throw new BadRequest(`Flavor ${flavor.flavorid} could not be found.`);
  const imageRef = (s.imageRef as string | undefined) ?? '';
  if (!imageRef)
    throw new BadRequest(
      'Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.',
    );
  const image = await findImage(c, imageRef);
  checkImageFitsFlavor(image, flavor);

  let keyData: string | null = null;
  const keyName = (s.key_name as string | undefined) ?? null;
  if (keyName) {
    try {
      keyData = (await getKeyPair(c.db, c.auth.userId, keyName)).publicKey;
    } catch (err) {
      if (err instanceof NotFound) throw new BadRequest('Invalid key_name provided.');
      throw err;
    }
  }

  const { zone, forcedHost: zoneHost } = await parseZone(c, s.availability_zone as string | undefined);
  const forcedHost = zoneHost ?? ((s.host ?? s.hypervisor_hostname) as string | undefined) ?? null;
  if ((s.host || s.hypervisor_hostname) && !isAdmin(c.auth))
    throw new Forbidden(
      'You are not authorized to perform the requested action: compute:servers:create:requested_destination.',
    );
  if (forcedHost && !(await c.db('hosts').where({ hostname: forcedHost }).first()))
    throw new BadRequest(`Compute host ${forcedHost} could not be found.`);

  const caller = { projectId, isAdmin: isAdmin(c.auth) };
  let requests: NetworkRequest[];
  if (s.networks === 'none') requests = [];
  else if (s.networks === undefined || s.networks === 'auto') {
    const net = await autoNetwork(c.db, caller);
    requests = net ? [{ uuid: net }] : [];
  } else {
    const items = s.networks as NetworkRequest[];
    for (const n of items)
      if (!n.uuid && !n.port)
        throw new BadRequest('Bad networks format: network uuid is not in proper format ()');
    requests = await checkNetworkRequests(c.db, caller, items, maxCount);
  }
  const sgNames = ((s.security_groups as { name?: string }[] | undefined) ?? [])
    .map((g) => g.name)
    .filter((n): n is string => !!n);
  const groupIds = requests.length
    ? await securityGroupIds(c.db, projectId, sgNames.length ? sgNames : ['default'], c.now())
    : [];
  void groupIds; // validated here; the boot task binds them to the ports it makes

  const metadata = (s.metadata as Record<string, string> | undefined) ?? {};
  checkMetadataQuota(metadata, c.config.compute.quota_metadata_items ?? 128);

  const groupUuid = (hints.group as string | undefined) ?? null;
  const group = groupUuid ? await getGroupForBoot(c.db, c.auth, groupUuid) : null;

  const count = await maxInstancesAllowed(
    c.db,
    c.config,
    projectId,
    c.auth.userId,
    { cores: flavor.vcpus, ram: flavor.memoryMb },
    minCount,
    maxCount,
  );

  const now = c.now();
  const resId = reservationId();
  const name = s.name as string;
  const request: Omit<ServerRequest, 'adminPass'> = {
    networks: requests,
    securityGroups: sgNames.length ? sgNames : ['default'],
    schedulerHints: hints,
    forcedHost,
    ...(s.personality ? { personality: s.personality as ServerRequest['personality'] } : {}),
  };
  const servers: { uuid: string; adminPass: string | null }[] = [];
  const taskIds: string[] = [];
  await c.db.transaction(async (trx) => {
    for (let i = 0; i < count; i++) {
      const uuid = newUuid();
      const adminPass = (s.adminPass as string | undefined) ?? generatePassword();
      const displayName = count > 1 ? `${name}-${i + 1}` : name;
      await trx('servers').insert({
        uuid,
        project_id: projectId,
        user_id: c.auth.userId,
        name: displayName,
        hostname: sanitizeHostname(displayName, `server-${uuid}`),
        description: (s.description as string | null | undefined) ?? null,
        image_id: image.id,
        flavor: toJson(embedFlavor(flavor)),
        vcpus: flavor.vcpus,
        memory_mb: flavor.memoryMb,
        root_gb: flavor.rootGb,
        key_name: keyName,
        key_data: keyData,
        user_data: (s.user_data as string | undefined) ?? null,
        config_drive: s.config_drive === undefined ? false : boolFromNova(s.config_drive),
        availability_zone: zone,
        vm_state: 'building',
        task_state: 'scheduling',
        power_state: 0,
        progress: 0,
        host_id: null,
        locked: false,
        locked_by: null,
        locked_reason: null,
        reservation_id: resId,
        launch_index: i,
        access_ip_v4: (s.accessIPv4 as string | undefined) ?? null,
        access_ip_v6: s.accessIPv6 === undefined ? null : normalizeIpv6(s.accessIPv6 as string),
        request: toJson({ ...request, adminPass }),
        fault: null,
        launched_at: null,
        terminated_at: null,
        created_at: now,
        updated_at: now,
        deleted_at: null,
      });
      if (Object.keys(metadata).length) await replaceMetadata(trx, uuid, metadata);
      if (Array.isArray(s.tags) && s.tags.length) await setTags(trx, uuid, s.tags as string[]);
      const actionId = await recordAction(trx, {
        serverUuid: uuid,
        requestId: c.requestId,
        action: 'create',
        projectId,
        userId: c.auth.userId,
        now,
      });
      const payload: BootPayload = {
        actionId,
        groupUuid: group?.uuid ?? null,
        ports: [],
        hostId: null,
      };
      taskIds.push(
        await TaskRunner.create(trx, { kind: BOOT_TASK, serverUuid: uuid, step: 'schedule', payload, now }),
      );
      servers.push({ uuid, adminPass });
    }
    if (group)
      await addGroupMembers(
        trx,
        c.config,
        group.uuid,
        servers.map((x) => x.uuid),
      );
  });
  // Nova's quota recheck: a concurrent create may have used the room this one counted on.
  try {
    await checkServerQuota(c.db, c.config, projectId, c.auth.userId, { instances: 0, cores: 0, ram: 0 });
  } catch (err) {
    const uuids = servers.map((x) => x.uuid);
    await c.db.transaction(async (trx) => {
      await trx('tasks').whereIn('id', taskIds).delete();
      await trx('server_group_members').whereIn('server_uuid', uuids).delete();
      await trx('instance_actions').whereIn('server_uuid', uuids).delete();
      await trx('servers').whereIn('uuid', uuids).delete();
    });
    throw err;
  }
  return { servers, reservationId: resId, taskIds, securityGroups: request.securityGroups };
}
