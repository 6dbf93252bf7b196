/**
 * Neutron's error types on top of the one hierarchy (src/common/errors.ts): every refusal carries the `type`
 * neutron-lib gives it, so `{"NeutronError": {"type", "message", "detail"}}` matches the real service.
 */
import { ApiError, BadRequest, Conflict, Forbidden, NotFound } from '../../common/errors.js';

/** 412: an If-Match revision constraint that does not hold. */
export class PreconditionFailed extends ApiError {
  readonly status = 412;
}
/** 503: Neutron's ResourceExhausted family (NoNetworkAvailable). */
export class ServiceUnavailable extends ApiError {
  readonly status = 503;
}

export const badRequest = (message: string, type = 'HTTPBadRequest'): BadRequest =>
  new BadRequest(message, { type });

/** neutron-lib InvalidInput: "Invalid input for operation: <why>." */
export const invalidInput = (why: string): BadRequest =>
  new BadRequest(`Invalid input for operation: ${why}.`, { type: 'InvalidInput' });

/** The API layer's attribute validation failure (webob HTTPBadRequest). */
export const invalidAttribute = (attr: string, reason: string): BadRequest =>
  new BadRequest(`Invalid input for ${attr}. Reason: ${reason}.`, { type: 'HTTPBadRequest' });

export const notFound = (type: string, message: string): NotFound => new NotFound(message, { type });
export const conflict = (type: string, message: string): Conflict => new Conflict(message, { type });

/** oslo.policy's refusal, as Neutron renders it. */
export const policyNotAuthorized = (rule: string): Forbidden =>
  new Forbidden(`(rule:${rule}) is disallowed by policy`, { type: 'PolicyNotAuthorized' });

export const overQuota = (resources: string[]): Conflict =>
  new Conflict(`Quota exceeded for resources: [${resources.map((r) => `'${r}'`).join(', ')}].`, {
    type: 'OverQuota',
  });
