import type Router from '@koa/router';
import type { AppContext, AppState, AuthContext, Ctx } from '../../common/context.js';
import { mount, policyDenied } from '../../common/http/route.js';
import type { Microversion } from '../../common/microversion.js';
import { isAdmin } from '../policy.js';
import { queryParam } from '../quotas/routes.js';
import { computeLimits, quotaUsage } from '../quotas/service.js';
import { limitsView } from './view.js';

/** GET /v2.1/limits (Nova's limits.py): the caller's project, or `tenant_id`'s for admins. */
export function mountLimits(router: Router<AppState, AppContext>): void {
  mount(router, {
    method: 'get',
    path: '/v2.1/limits',
    // Nova's RULE_ANY
    policy: { name: 'os_compute_api:limits', check: () => true },
    errors: [],
    handler: async (ctx: Ctx) => {
      const auth = ctx.state.auth as AuthContext;
      const tenant = queryParam(ctx, ['tenant_id'], 'tenant_id');
      let projectId = auth.projectId ?? '';
      if (tenant !== undefined) {
        // the mere presence of tenant_id needs the admin rule, as in Nova
        if (!isAdmin(auth)) throw policyDenied('os_compute_api:limits:other_project');
        projectId = tenant;
      }
      const limits = await computeLimits(ctx.deps.db, ctx.deps.config, projectId);
      const usage = await quotaUsage(ctx.deps.db, projectId);
      ctx.body = limitsView(limits, usage, ctx.state.microversion as Microversion);
    },
  });
}
