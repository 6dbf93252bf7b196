/**
 * Shared Neutron machinery for every /v2.0 resource (networks, subnets, ports, security groups, ...).
 * README, in the order a new resource needs it:
 *
 * Routes: mount with `neutronRule('create_network')` as the route policy (any project-scoped token) and do
 *   the real checks in the handler, because Neutron answers 404 for what the caller may not see:
 *   `ownsOrAdmin(ctx, row.project_id)` → else throw the resource's NotFound; `enforceWrite(ctx, rule)` (readers
 *   get 403); `enforce(callerIsAdmin(ctx), 'create_network:provider:network_type')` for admin-only attributes;
 *   `projectForCreate(ctx, body, 'create_x')` reads project_id/tenant_id (admin only for another project).
 *   Errors: `notFound('NetworkNotFound', msg)`, `conflict(type, msg)`, `invalidInput(why)`,
 *   `badRequest(msg, type?)`, `policyNotAuthorized(rule)`; all render as {"NeutronError": {type, message, detail}}.
 *
 * Views: spread `...ownerView(row.project_id)` (tenant_id + project_id) and `...standardView(row, tags)`
 *   (description, tags, created_at/updated_at as 2024-01-01T00:00:00Z, revision_number).
 *   Tables get the standard columns: insert `...standardColumns(now, body.description)`.
 *
 * Lists: `const req = parseListRequest(ctx, spec)`; optionally `narrow(query, req, {name: 'table.name'})`;
 *   build full views of the visible rows; `ctx.body = await listResponse(ctx, spec, req, views, fetchMarker)`
 *   handles filters (incl. tags/tags-any/not-tags/not-tags-any), sort_key/sort_dir, limit/marker/page_reverse
 *   with <collection>_links, and fields=. Show: `selectFields(view, showFields(ctx))`.
 *
 * Updates: `checkRevision(ifMatchRevision(ctx), row.revision_number)` (412), then `bumpRevision(trx, table, id,
 *   now)` once per update. Tags: `loadTags(db, 'security_group', ids)`, `replaceTags(trx, type, id, tags)` on
 *   create when `tags` is given, `deleteTags(trx, type, ids)` on delete, and `mountTagRoutes(router, {...})`
 *   for /v2.0/{collection}/{id}/tags[/{tag}].
 *
 * Quotas: `registerQuotaUsage('security_group', countRows('security_groups'))` once at module load, and
 *   `await checkQuota(trx, projectId, 'security_group', 1)` inside the create's transaction before inserting
 *   (409 OverQuota). `withRetry(db, (trx) => ...)` reruns a transaction that lost a unique-key race.
 */
export * from './attrs.js';
export * from './auth.js';
export * from './db.js';
export * from './errors.js';
export * from './list.js';
export * from './quotas.js';
export * from './standard-attrs.js';
export * from './tags.js';

/** Every Neutron resource path starts here (under the service prefix /networking). */
export const API_V2 = '/v2.0';
