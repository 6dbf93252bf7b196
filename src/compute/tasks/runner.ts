/**
 * Durable tasks (design §3): a long operation is a row in `tasks` with its next step; steps are idempotent,
 * so any API process may take over a task whose owner stopped heart-beating and carry it on from the step
 * it was at. Ownership is a compare-and-set on (owner, heartbeat_at), which works the same on SQLite and
 * MariaDB (no SKIP LOCKED needed: a lost race is one UPDATE that matches no row).
 */
import { hostname } from 'node:os';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from '../../common/config/options.js';
import { newUuid } from '../../common/ids.js';
import { fromJson, toJson } from '../../db/columns.js';

export interface TaskRow<P> {
  id: string;
  kind: string;
  serverUuid: string;
  state: 'pending' | 'running' | 'done' | 'failed';
  step: string;
  payload: P;
  attempts: number;
}

export interface TaskEnv {
  db: Knex;
  config: Config;
  log: Logger;
  now: () => number;
}

/** What a step sees: the task, its payload (mutable: saved with the next step) and the process's services. */
export interface StepContext<P> extends TaskEnv {
  task: TaskRow<P>;
  payload: P;
}

/** A step returns the name of the next step, or 'done'. */
export type Step<P> = (ctx: StepContext<P>) => Promise<string>;

export interface TaskDefinition<P> {
  kind: string;
  steps: Record<string, Step<P>>;
  /** Called once when a step throws: undo what the steps did (the revert stack) and record the failure. */
  fail(ctx: StepContext<P>, err: Error): Promise<void>;
}

/** A running task whose owner has not heart-beaten for [compute] task_takeover_after is taken over. */
const staleAfterMs = (env: TaskEnv) => env.config.compute.task_takeover_after * 1000;
/** Heartbeats come several times per takeover period, so a slow database write never loses a task. */
const heartbeatMs = (env: TaskEnv) => Math.max(200, staleAfterMs(env) / 6);
const POLL_MS = 1_000;

/** Another process took the task over: stop without touching it. */
class LostOwnership extends Error {}

export class TaskRunner {
  readonly id = `${hostname()}:${process.pid}:${newUuid().slice(0, 8)}`;
  private readonly definitions = new Map<string, TaskDefinition<unknown>>();
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly env: TaskEnv) {}

  register<P>(def: TaskDefinition<P>): void {
    this.definitions.set(def.kind, def as TaskDefinition<unknown>);
  }

  /** Polls for pending and orphaned tasks until stop(). */
  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      await this.poll().catch((err) => this.env.log.warn({ err }, 'task poll failed'));
      if (!this.stopped) this.timer = setTimeout(tick, POLL_MS);
    };
    this.timer = setTimeout(tick, POLL_MS);
    this.timer.unref();
  }

  /** Stops polling and waits for the tasks this process runs to reach a step boundary or finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.allSettled([...this.running.values()]);
  }

  /** Records a new task (inside the caller's transaction when given) and returns its id. */
  static async create<P>(
    db: Knex,
    t: { kind: string; serverUuid: string; step: string; payload: P; now: number },
  ): Promise<string> {
    const id = newUuid();
    await db('tasks').insert({
      id,
      kind: t.kind,
      server_uuid: t.serverUuid,
      state: 'pending',
      step: t.step,
      payload: toJson(t.payload),
      owner: null,
      heartbeat_at: null,
      attempts: 0,
      error: null,
      created_at: t.now,
      updated_at: t.now,
    });
    return id;
  }

  /** Starts tasks now in this process (after their creating transaction committed) instead of at the next poll. */
  kick(ids: string[]): void {
    for (const id of ids) void this.tryRun(id);
  }

  /** Resolves when the given task has ended in this process (tests and benchmarks). */
  async settled(id: string): Promise<void> {
    await this.running.get(id);
  }

  private async poll(): Promise<void> {
    const now = this.env.now();
    const rows = await this.env
      .db('tasks')
      .where((q) =>
        q
          .where({ state: 'pending' })
          .whereNull('owner')
          .orWhere((r) =>
            r.where({ state: 'running' }).where('heartbeat_at', '<', now - staleAfterMs(this.env)),
          ),
      )
      .orderBy('created_at')
      .limit(50)
      .select('id');
    for (const r of rows) void this.tryRun(String(r.id));
  }

  private async claim(id: string): Promise<boolean> {
    const now = this.env.now();
    const n = await this.env
      .db('tasks')
      .where({ id })
      .where((q) =>
        q
          .where({ state: 'pending' })
          .whereNull('owner')
          .orWhere((r) =>
            r.where({ state: 'running' }).where('heartbeat_at', '<', now - staleAfterMs(this.env)),
          ),
      )
      .update({
        state: 'running',
        owner: this.id,
        heartbeat_at: now,
        updated_at: now,
        attempts: this.env.db.raw('attempts + 1'),
      });
    return n === 1;
  }

  private tryRun(id: string): Promise<void> {
    if (this.running.has(id) || this.stopped) return Promise.resolve();
    const run = (async () => {
      if (!(await this.claim(id))) return;
      await this.execute(id);
    })()
      .catch((err) => this.env.log.error({ err, task: id }, 'task runner failed'))
      .finally(() => this.running.delete(id));
    this.running.set(id, run);
    return run;
  }

  private async execute(id: string): Promise<void> {
    const row = await this.env.db('tasks').where({ id }).first();
    const def = this.definitions.get(String(row.kind));
    if (!def) throw new Error(`no definition for task kind ${row.kind}`);
    const task: TaskRow<unknown> = {
      id,
      kind: String(row.kind),
      serverUuid: String(row.server_uuid),
      state: 'running',
      step: String(row.step),
      payload: fromJson(row.payload, {}),
      attempts: Number(row.attempts),
    };
    const ctx: StepContext<unknown> = { ...this.env, task, payload: task.payload };
    const beat = setInterval(() => {
      this.env
        .db('tasks')
        .where({ id, owner: this.id })
        .update({ heartbeat_at: this.env.now() })
        .catch((err) => this.env.log.warn({ err, task: id }, 'task heartbeat failed'));
    }, heartbeatMs(this.env));
    beat.unref();
    const log = this.env.log.child({ task: id, kind: task.kind, server: task.serverUuid });
    try {
      while (task.step !== 'done') {
        const step = def.steps[task.step];
        if (!step) throw new Error(`task ${task.kind} has no step ${task.step}`);
        const t0 = Date.now();
        const next = await step(ctx);
        log.debug({ step: task.step, next, ms: Date.now() - t0 }, 'task step done');
        await this.save(id, { step: next, payload: toJson(ctx.payload) });
        task.step = next;
      }
      await this.save(id, { state: 'done' });
    } catch (err) {
      if (err instanceof LostOwnership) {
        log.warn('task taken over by another process');
        return;
      }
      log.warn({ err, step: task.step }, 'task failed');
      try {
        await def.fail(ctx, err as Error);
        await this.save(id, { state: 'failed', error: (err as Error).message.slice(0, 4000) });
      } catch (revertErr) {
        // Left running with a stale heartbeat: another process (or this one, at the next poll) retries.
        log.error({ err: revertErr }, 'task revert failed; will be retried');
      }
    } finally {
      clearInterval(beat);
    }
  }

  private async save(id: string, fields: Record<string, unknown>): Promise<void> {
    const now = this.env.now();
    const n = await this.env
      .db('tasks')
      .where({ id, owner: this.id })
      .update({ ...fields, heartbeat_at: now, updated_at: now });
    if (n !== 1) throw new LostOwnership();
  }
}
