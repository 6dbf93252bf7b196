import type { ParameterizedContext } from 'koa';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { ErrorRenderer } from './errors.js';
import type { Microversion } from './microversion.js';
import type { Config } from './config/options.js';

/** Who made the request, from a validated token. Built without a database read. */
export interface AuthContext {
  token: string;
  userId: string;
  userDomainId: string;
  projectId: string | null;
  projectDomainId: string | null;
  domainId: string | null;
  roles: { id: string; name: string }[];
  methods: string[];
  auditIds: string[];
  issuedAtMs: number;
  expiresAtMs: number;
  applicationCredentialId: string | null;
  /** Restricted application credentials may not create application credentials or trusts. */
  applicationCredentialRestricted: boolean;
}

/** The service that owns the matched route: its name (for logs and metrics) and how it renders errors. */
export interface ServiceTag {
  name: 'identity' | 'compute' | 'volume' | 'image' | 'network' | 'kvmstack';
  renderError: ErrorRenderer;
}

export interface AppState {
  requestId: string;
  log: Logger;
  service?: ServiceTag;
  auth?: AuthContext;
  microversion?: Microversion;
  /** The validated JSON request body. */
  body?: unknown;
}

/** Checks a token and says who holds it; must not read the database on the hot path. */
export interface TokenValidator {
  validate(token: string): Promise<AuthContext>;
}

/** Side effects and shared services, injected once into the Koa app (ctx.deps) so tests can swap them. */
export interface AppDeps {
  config: Config;
  db: Knex;
  log: Logger;
  tokens: TokenValidator;
  /** Milliseconds since the epoch; injected so expiry and HA logic are testable with a fake clock. */
  now: () => number;
  /** This process's runner of durable tasks (design §3); absent in processes that run none. */
  tasks?: { kick(ids: string[]): void; settled(id: string): Promise<void> };
}

export interface AppContext {
  deps: AppDeps;
}

/** A request context inside a route: Koa's, plus the path parameters @koa/router matched. */
export type Ctx = ParameterizedContext<AppState, AppContext & { params: Record<string, string> }>;

export function hasRole(auth: AuthContext | undefined, name: string): boolean {
  return !!auth?.roles.some((r) => r.name === name);
}
