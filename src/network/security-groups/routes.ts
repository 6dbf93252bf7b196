import type Router from '@koa/router';
import type { AppContext, AppState } from '../../common/context.js';

/** Mounts /v2.0/security-groups and /v2.0/security-group-rules. CONTRACT STUB: the security-groups work fills it. */
export function mountSecurityGroups(router: Router<AppState, AppContext>): void {
  void router;
}
