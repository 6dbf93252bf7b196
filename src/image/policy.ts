import type { AuthContext } from '../common/context.js';
import { Forbidden } from '../common/errors.js';
import type { PolicyRule } from '../common/http/route.js';

/**
 * Glance's default policy (glance/policies, secure RBAC defaults) with kvmstack's roles: admin ⊃ member ⊃ reader.
 * Rules that depend on the image (owner, visibility, membership) are checked by the service against the image
 * it loaded, as Glance's ImageAPIPolicy does; the route rules only check what the token alone can tell.
 */
export interface Actor {
  projectId: string | null;
  admin: boolean;
  member: boolean;
  reader: boolean;
}

export function actorOf(auth: AuthContext): Actor {
  const has = (n: string) => auth.roles.some((r) => r.name === n);
  const admin = has('admin');
  const member = admin || has('member');
  return { projectId: auth.projectId, admin, member, reader: member || has('reader') };
}

const rule = (name: string, check: PolicyRule['check']): PolicyRule => ({ name: `image:${name}`, check });
const anyToken = (name: string) => rule(name, () => true);
const reader = (name: string) => rule(name, (a) => actorOf(a).reader);
const member = (name: string) => rule(name, (a) => actorOf(a).member);

/**
 * Route-level rules: the role a call needs at least. Calls on an existing image only need a reader here: the
 * service first looks the image up (404 when the caller may not see it, as Glance's ImageAPIPolicy turns a
 * refusal on an invisible image into 404) and then checks the member role and ownership (403).
 */
export const policies = {
  getImages: reader('get_images'),
  getImage: reader('get_image'),
  addImage: member('add_image'),
  modifyImage: reader('modify_image'),
  deleteImage: reader('delete_image'),
  uploadImage: reader('upload_image'),
  downloadImage: reader('download_image'),
  deactivate: reader('deactivate'),
  reactivate: reader('reactivate'),
  getMembers: reader('get_members'),
  getMember: reader('get_member'),
  addMember: reader('add_member'),
  modifyMember: reader('modify_member'),
  deleteMember: reader('delete_member'),
  schemas: anyToken('get_schema'),
} satisfies Record<string, PolicyRule>;

/** oslo.policy's refusal as Glance words it. */
export function denied(action: string): Forbidden {
  return new Forbidden(`You are not authorized to complete ${action} action.`);
}
