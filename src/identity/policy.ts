import type { AuthContext, Ctx } from '../common/context.js';
import type { PolicyRule } from '../common/http/route.js';

/**
 * Keystone's policy with the default roles (admin ⊃ member ⊃ reader, implied at token issue):
 * identity administration is admin-only; users may read themselves, their projects and their own
 * application credentials, and validate their own tokens.
 */
export const isAdmin = (a: AuthContext): boolean => a.roles.some((r) => r.name === 'admin');

const rule = (name: string, check: PolicyRule['check']): PolicyRule => ({ name: `identity:${name}`, check });
const admin = (name: string): PolicyRule => rule(name, isAdmin);
const anyToken = (name: string): PolicyRule => rule(name, () => true);
const adminOrSelf = (name: string, param = 'user_id'): PolicyRule =>
  rule(name, (a, ctx) => isAdmin(a) || paramOf(ctx, param) === a.userId);

export const policies = {
  // tokens and the auth API: any valid token; validating another user's token needs admin
  validateToken: rule('validate_token', () => true),
  revokeToken: rule('revoke_token', () => true),
  authCatalog: anyToken('get_auth_catalog'),
  authProjects: anyToken('get_auth_projects'),
  authDomains: anyToken('get_auth_domains'),

  listDomains: admin('list_domains'),
  getDomain: rule(
    'get_domain',
    (a, ctx) => isAdmin(a) || paramOf(ctx, 'domain_id') === (a.domainId ?? a.projectDomainId),
  ),
  createDomain: admin('create_domain'),
  updateDomain: admin('update_domain'),
  deleteDomain: admin('delete_domain'),

  listProjects: admin('list_projects'),
  getProject: rule('get_project', (a, ctx) => isAdmin(a) || paramOf(ctx, 'project_id') === a.projectId),
  createProject: admin('create_project'),
  updateProject: admin('update_project'),
  deleteProject: admin('delete_project'),
  listUserProjects: adminOrSelf('list_user_projects'),
  listProjectTags: rule(
    'list_project_tags',
    (a, ctx) => isAdmin(a) || paramOf(ctx, 'project_id') === a.projectId,
  ),
  getProjectTag: rule(
    'get_project_tag',
    (a, ctx) => isAdmin(a) || paramOf(ctx, 'project_id') === a.projectId,
  ),
  updateProjectTags: admin('update_project_tags'),
  createProjectTag: admin('create_project_tag'),
  deleteProjectTags: admin('delete_project_tags'),
  deleteProjectTag: admin('delete_project_tag'),

  listUsers: admin('list_users'),
  getUser: adminOrSelf('get_user'),
  createUser: admin('create_user'),
  updateUser: admin('update_user'),
  deleteUser: admin('delete_user'),
  changePassword: adminOrSelf('change_password'),

  listRoles: admin('list_roles'),
  getRole: admin('get_role'),
  createRole: admin('create_role'),
  updateRole: admin('update_role'),
  deleteRole: admin('delete_role'),
  listRoleInferenceRules: admin('list_role_inference_rules'),
  listImpliedRoles: admin('list_implied_roles'),
  getImpliedRole: admin('get_implied_role'),
  checkImpliedRole: admin('check_implied_role'),
  createImpliedRole: admin('create_implied_role'),
  deleteImpliedRole: admin('delete_implied_role'),

  listGrants: admin('list_grants'),
  checkGrant: admin('check_grant'),
  createGrant: admin('create_grant'),
  revokeGrant: admin('revoke_grant'),
  listRoleAssignments: rule('list_role_assignments', () => true),

  listApplicationCredentials: adminOrSelf('list_application_credentials'),
  getApplicationCredential: adminOrSelf('get_application_credential'),
  createApplicationCredential: rule(
    'create_application_credential',
    (a, ctx) => paramOf(ctx, 'user_id') === a.userId,
  ),
  deleteApplicationCredential: adminOrSelf('delete_application_credential'),

  listRegions: anyToken('list_regions'),
  getRegion: anyToken('get_region'),
  createRegion: admin('create_region'),
  updateRegion: admin('update_region'),
  deleteRegion: admin('delete_region'),
  listServices: admin('list_services'),
  getService: admin('get_service'),
  createService: admin('create_service'),
  updateService: admin('update_service'),
  deleteService: admin('delete_service'),
  listEndpoints: admin('list_endpoints'),
  getEndpoint: admin('get_endpoint'),
  createEndpoint: admin('create_endpoint'),
  updateEndpoint: admin('update_endpoint'),
  deleteEndpoint: admin('delete_endpoint'),
} satisfies Record<string, PolicyRule>;

function paramOf(ctx: Ctx, name: string): string | undefined {
  return ctx.params[name];
}
