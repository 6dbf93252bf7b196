import type Router from '@koa/router';
import type { AppContext, AppState, Ctx } from '../../common/context.js';
import { mount } from '../../common/http/route.js';
import { isAdmin, policies } from '../policy.js';
import { policyDenied } from '../../common/http/route.js';
import { listLinks, v3Base } from '../links.js';
import type { IdentityRuntime } from '../runtime.js';
import { roleView } from '../roles/routes.js';
import {
  addGrant,
  checkGrant,
  listAssignments,
  listGrantRoles,
  removeGrant,
  SYSTEM_TARGET,
  type ActorKind,
  type Assignment,
  type Grant,
  type TargetKind,
} from './service.js';

/** Grant paths: /v3/projects/{id}/..., /v3/domains/{id}/... and /v3/system/... (system grants have no target id). */
const TARGETS: [TargetKind, string][] = [
  ['project', '/v3/projects/:target_id'],
  ['domain', '/v3/domains/:target_id'],
  ['system', '/v3/system'],
];
const ACTORS: [ActorKind, string][] = [
  ['user', 'users'],
  ['group', 'groups'],
];

interface NameInfo {
  name: string;
  domainId?: string;
}

/** include_names: users, groups and projects carry their domain too, as Keystone's expanded references. */
function assignmentView(
  ctx: Ctx,
  a: Assignment,
  names: Map<string, NameInfo> | null,
): Record<string, unknown> {
  const named = (id: string, withDomain: boolean) => {
    if (!names) return { id };
    const info = names.get(id);
    const ref: Record<string, unknown> = { id, name: info?.name ?? null };
    if (withDomain && info?.domainId)
      ref.domain = { id: info.domainId, name: names.get(info.domainId)?.name ?? null };
    return ref;
  };
  const target =
    a.target === 'system' ? 'system' : `${a.target === 'project' ? 'projects' : 'domains'}/${a.targetId}`;
  const actors = a.actor === 'user' ? 'users' : 'groups';
  const grantedRole = a.priorRoleId ?? a.roleId;
  return {
    role: named(a.roleId, false),
    [a.actor]: named(a.actorId, true),
    scope:
      a.target === 'system'
        ? { system: { all: true } }
        : { [a.target]: named(a.targetId, a.target === 'project') },
    links: {
      assignment: a.viaGroupId
        ? `${v3Base(ctx)}/${target}/groups/${a.viaGroupId}/roles/${grantedRole}`
        : `${v3Base(ctx)}/${target}/${actors}/${a.actorId}/roles/${grantedRole}`,
      ...(a.viaGroupId ? { membership: `${v3Base(ctx)}/groups/${a.viaGroupId}/users/${a.actorId}` } : {}),
      ...(a.priorRoleId ? { prior_role: `${v3Base(ctx)}/roles/${a.priorRoleId}` } : {}),
    },
  };
}

async function namesFor(ctx: Ctx, list: Assignment[]): Promise<Map<string, NameInfo>> {
  const names = new Map<string, NameInfo>();
  const ids = (pick: (a: Assignment) => string | null) => [
    ...new Set(list.map(pick).filter((x): x is string => !!x)),
  ];
  const load = async (table: string, wanted: string[], hasDomain: boolean) => {
    if (!wanted.length) return;
    for (const r of await ctx.deps.db(table).whereIn('id', wanted)) {
      names.set(String(r.id), {
        name: String(r.name),
        domainId: hasDomain ? String(r.domain_id) : undefined,
      });
    }
  };
  await load(
    'roles',
    ids((a) => a.roleId),
    false,
  );
  await load(
    'users',
    ids((a) => (a.actor === 'user' ? a.actorId : null)),
    true,
  );
  await load(
    'groups',
    ids((a) => (a.actor === 'group' ? a.actorId : null)),
    true,
  );
  await load(
    'projects',
    ids((a) => (a.target === 'project' ? a.targetId : null)),
    true,
  );
  const domainIds = [...new Set([...names.values()].map((n) => n.domainId).filter((d): d is string => !!d))];
  await load(
    'domains',
    [...new Set([...domainIds, ...ids((a) => (a.target === 'domain' ? a.targetId : null))])],
    false,
  );
  return names;
}

export function roleAssignmentRoutes(router: Router<AppState, AppContext>, rt: IdentityRuntime): void {
  for (const [target, prefix] of TARGETS) {
    for (const [actor, actors] of ACTORS) {
      const base = `${prefix}/${actors}/:actor_id/roles`;
      const targetId = (ctx: Ctx) => (target === 'system' ? SYSTEM_TARGET : ctx.params.target_id);
      const grant = (ctx: Ctx): Grant => ({
        actor,
        actorId: ctx.params.actor_id,
        target,
        targetId: targetId(ctx),
        roleId: ctx.params.role_id,
      });
      mount(router, {
        method: 'get',
        path: base,
        policy: policies.listGrants,
        errors: [404],
        handler: async (ctx) => {
          const roles = await listGrantRoles(ctx.deps.db, actor, ctx.params.actor_id, target, targetId(ctx));
          ctx.body = { roles: roles.map((r) => roleView(ctx, r)), links: listLinks(ctx) };
        },
      });
      mount(router, {
        method: 'put',
        path: `${base}/:role_id`,
        policy: policies.createGrant,
        errors: [403, 404],
        handler: async (ctx) => {
          await addGrant(ctx.deps.db, grant(ctx));
          ctx.status = 204;
        },
      });
      for (const method of ['head', 'get'] as const) {
        mount(router, {
          method,
          path: `${base}/:role_id`,
          policy: policies.checkGrant,
          errors: [404],
          handler: async (ctx) => {
            await checkGrant(ctx.deps.db, grant(ctx));
            ctx.status = 204;
          },
        });
      }
      mount(router, {
        method: 'delete',
        path: `${base}/:role_id`,
        policy: policies.revokeGrant,
        errors: [404],
        handler: async (ctx) => {
          await removeGrant(ctx.deps.db, rt.revocations, grant(ctx));
          ctx.status = 204;
        },
      });
    }
  }
  mount(router, {
    method: 'get',
    path: '/v3/role_assignments',
    policy: policies.listRoleAssignments,
    errors: [],
    handler: async (ctx) => {
      const q = ctx.query as Record<string, string | undefined>;
      const auth = ctx.state.auth!;
      // Non-admins may list only their own assignments, as Keystone's identity:list_role_assignments allows.
      if (!isAdmin(auth) && q['user.id'] !== auth.userId)
        throw policyDenied(policies.listRoleAssignments.name);
      const list = await listAssignments(ctx.deps.db, {
        userId: q['user.id'],
        groupId: q['group.id'],
        projectId: q['scope.project.id'],
        domainId: q['scope.domain.id'],
        system: q['scope.system'] !== undefined,
        roleId: q['role.id'],
        effective: 'effective' in ctx.query,
      });
      const names =
        'include_names' in ctx.query && q.include_names !== 'false' ? await namesFor(ctx, list) : null;
      ctx.body = { role_assignments: list.map((a) => assignmentView(ctx, a, names)), links: listLinks(ctx) };
    },
  });
}
