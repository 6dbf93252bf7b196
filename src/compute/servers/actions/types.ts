/** One server action of POST /servers/{id}/action: its body schema, policy, expected errors and logic. */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from '../../../common/config/options.js';
import type { AuthContext } from '../../../common/context.js';
import type { Microversion } from '../../../common/microversion.js';
import type { JsonSchema, VersionedSchema } from '../../../common/validation.js';
import type { ServerRow } from '../model.js';

export interface ActionContext {
  db: Knex;
  config: Config;
  log: Logger;
  now: () => number;
  auth: AuthContext;
  mv: Microversion;
  requestId: string;
  /** The compute endpoint (links, Location headers). */
  base: string;
  server: ServerRow;
  /** The value under the action's key, validated. */
  body: unknown;
  /** Starts tasks in this process once their transaction committed. */
  kick(ids: string[]): void;
  /** The server's full body at the request's microversion (actions that answer with the server). */
  render(server: ServerRow): Promise<Record<string, unknown>>;
}

export interface ActionResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ActionHandler {
  /** The body's key, e.g. "os-start". */
  name: string;
  /** Schema of the value under the key (per microversion when an array). */
  schema: JsonSchema | VersionedSchema[];
  /** Nova's policy name without the os_compute_api: prefix. */
  policy: string;
  /** Admin only (Nova's admin_api rules); otherwise the server's project or an admin. */
  adminOnly?: boolean;
  /** Microversion range where the action exists (outside: 404 as an unknown action). */
  min?: string;
  max?: string;
  /** Errors besides the chain's (Nova's expected_errors). */
  errors: number[];
  run(c: ActionContext): Promise<ActionResult>;
}
