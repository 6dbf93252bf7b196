/**
 * Who may see and change what, with Neutron's default policies: admin sees everything and may act for another
 * project; readers only read; another project's resource is a 404 (it does not exist for the caller), while a
 * visible resource the caller may not change (a shared network of another project) is a 403.
 */
import type { AuthContext, Ctx } from '../../common/context.js';
import type { PolicyRule } from '../../common/http/route.js';
import { badRequest, policyNotAuthorized } from './errors.js';

export const isAdmin = (a: AuthContext | undefined): boolean => !!a?.roles.some((r) => r.name === 'admin');
const canWrite = (a: AuthContext): boolean => a.roles.some((r) => r.name === 'admin' || r.name === 'member');

export function authOf(ctx: Ctx): AuthContext {
  return ctx.state.auth as AuthContext;
}
export const callerIsAdmin = (ctx: Ctx): boolean => isAdmin(ctx.state.auth);
export const callerProject = (ctx: Ctx): string => authOf(ctx).projectId ?? '';

/**
 * The route-level rule of every Neutron route: a project-scoped token. Finer checks (ownership, admin-only
 * attributes) happen in the handler with `enforce`, because they need the resource and give Neutron's body.
 */
export const neutronRule = (name: string): PolicyRule => ({
  name: `network:${name}`,
  check: (a) => a.projectId !== null || isAdmin(a),
});

/** Throws Neutron's 403 PolicyNotAuthorized unless `allowed`. */
export function enforce(allowed: boolean, rule: string): void {
  if (!allowed) throw policyNotAuthorized(rule);
}

/** Writes (create/update/delete) need the member or admin role: a reader gets 403, as with Neutron's defaults. */
export function enforceWrite(ctx: Ctx, rule: string): void {
  enforce(canWrite(authOf(ctx)), rule);
}

/** Whether the caller owns the project's resource (or is admin). */
export const ownsOrAdmin = (ctx: Ctx, projectId: string): boolean =>
  callerIsAdmin(ctx) || projectId === callerProject(ctx);

/**
 * The project a new resource belongs to: the caller's, or the `project_id`/`tenant_id` of the body (admin only
 * when it names another project; both given and different → 400, as Neutron's populate_project_info).
 */
export function projectForCreate(ctx: Ctx, body: Record<string, unknown>, rule: string): string {
  const p = body.project_id as string | undefined;
  const t = body.tenant_id as string | undefined;
  if (p !== undefined && t !== undefined && p !== t)
    throw badRequest("'project_id' and 'tenant_id' do not match");
  const wanted = p ?? t;
  if (wanted === undefined || wanted === callerProject(ctx)) {
    if (!callerProject(ctx))
      throw badRequest('Running without keystone AuthN requires that tenant_id is specified');
    return callerProject(ctx);
  }
  enforce(callerIsAdmin(ctx), rule);
  return wanted;
}

/** Both ownership keys, as every Neutron view shows them. */
export const ownerView = (projectId: string): { tenant_id: string; project_id: string } => ({
  tenant_id: projectId,
  project_id: projectId,
});

/** The caller as the services see it (no HTTP types below the routes). */
export interface Caller {
  projectId: string;
  isAdmin: boolean;
}
export const callerOf = (ctx: Ctx): Caller => ({
  projectId: callerProject(ctx),
  isAdmin: callerIsAdmin(ctx),
});
