/**
 * Nova's default policies (admin ⊃ member ⊃ reader): the rule names are Nova's (`os_compute_api:...`), shown
 * in the 403 body. Admin-only APIs (hypervisors, services, aggregates, flavor management) check the role here;
 * ownership of a resource (a key pair of another user, a server of another project) is decided by its
 * service, which answers 404 as Nova does.
 */
import type { AuthContext } from '../common/context.js';
import type { PolicyRule } from '../common/http/route.js';

export const isAdmin = (a: AuthContext): boolean => a.roles.some((r) => r.name === 'admin');
export const isMember = (a: AuthContext): boolean =>
  a.roles.some((r) => r.name === 'admin' || r.name === 'member');

const rule = (name: string, check: PolicyRule['check']): PolicyRule => ({
  name: `os_compute_api:${name}`,
  check,
});

/** Admin only. */
export const adminRule = (name: string): PolicyRule => rule(name, isAdmin);
/** Any project-scoped token (readers included): reads. */
export const readerRule = (name: string): PolicyRule => rule(name, (a) => a.projectId !== null || isAdmin(a));
/** Member or admin on a project: writes. */
export const memberRule = (name: string): PolicyRule =>
  rule(name, (a) => (a.projectId !== null && isMember(a)) || isAdmin(a));
