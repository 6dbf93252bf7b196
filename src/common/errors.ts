/**
 * The one error hierarchy. Logic throws these; one middleware renders them in the native body of the
 * service that served the request (see ../common/http/error-middleware.ts and each service's render-error.ts).
 */
export abstract class ApiError extends Error {
  abstract readonly status: number;
  /** Neutron's error type (e.g. "PortNotFound"); other services ignore it. */
  readonly type?: string;
  /** Extra headers, e.g. Retry-After. */
  readonly headers?: Record<string, string>;

  constructor(message: string, options: { type?: string; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = new.target.name;
    this.type = options.type;
    this.headers = options.headers;
  }
}

export class BadRequest extends ApiError {
  readonly status = 400;
}
export class Unauthorized extends ApiError {
  readonly status = 401;
}
export class Forbidden extends ApiError {
  readonly status = 403;
}
/** Quota exceeded: Nova answers 403 with an `overLimit` body; Cinder 413. */
export class OverQuota extends ApiError {
  readonly status: number;
  constructor(message: string, status: 403 | 413 = 403, options: { type?: string } = {}) {
    super(message, options);
    this.status = status;
  }
}
export class NotFound extends ApiError {
  readonly status = 404;
}
export class MethodNotAllowed extends ApiError {
  readonly status = 405;
}
export class NotAcceptable extends ApiError {
  readonly status = 406;
}
export class Conflict extends ApiError {
  readonly status = 409;
}
export class PayloadTooLarge extends ApiError {
  readonly status = 413;
}
export class UnsupportedMediaType extends ApiError {
  readonly status = 415;
}
export class InternalError extends ApiError {
  readonly status = 500;
}
/** A feature the backend cannot provide (Nova's 501 for a virt driver without it). */
export class NotImplemented extends ApiError {
  readonly status = 501;
}

export const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

/** A rendered error: the status, the body and its content type. */
export interface RenderedError {
  body: string | Record<string, unknown>;
  contentType?: string;
}

/** How one service writes an error body. */
export type ErrorRenderer = (status: number, message: string, error: ApiError | null) => RenderedError;
