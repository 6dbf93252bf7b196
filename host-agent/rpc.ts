import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import { ApiError, BadRequest, STATUS_TITLES, Unauthorized } from '../src/common/errors.js';
import type { Ctx } from '../src/common/context.js';
import { readJsonBody } from '../src/common/http/body.js';
import { validate, type JsonSchema } from '../src/common/validation.js';
import type { Commands } from './commands.js';

const uuidPattern = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const generation: JsonSchema = { type: 'integer', minimum: 1 };
const absPath: JsonSchema = { type: 'string', pattern: '^/[^\\0]*$', maxLength: 4096 };
const mac: JsonSchema = { type: 'string', pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$' };
const diskSchema: JsonSchema = {
  type: 'object',
  properties: {
    target: { type: 'string', pattern: '^(vd|sd|hd)[a-z]{1,2}$' },
    path: absPath,
    format: { enum: ['qcow2', 'raw'] },
    backingPath: absPath,
    backingFormat: { enum: ['qcow2', 'raw'] },
    sizeGb: { type: 'integer', minimum: 1, maximum: 65536 },
    readOnly: { type: 'boolean' },
    serial: { type: 'string', pattern: '^[A-Za-z0-9-]{1,36}$' },
  },
  required: ['target', 'path', 'format'],
  additionalProperties: false,
};
const nicSchema: JsonSchema = {
  type: 'object',
  properties: {
    mac,
    bridge: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,15}$' },
    mtu: { type: 'integer', minimum: 68, maximum: 65535 },
    // the tap's name (tap<port id prefix>), so the network agent finds the port's device
    target: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,15}$' },
  },
  required: ['mac', 'bridge'],
  additionalProperties: false,
};
const specSchema: JsonSchema = {
  type: 'object',
  properties: {
    uuid: { type: 'string', pattern: uuidPattern },
    name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
    vcpus: { type: 'integer', minimum: 1, maximum: 256 },
    memoryMb: { type: 'integer', minimum: 16, maximum: 4194304 },
    disks: { type: 'array', items: diskSchema, minItems: 1, maxItems: 26 },
    nics: { type: 'array', items: nicSchema, maxItems: 16 },
    configDrive: {
      type: 'object',
      properties: {
        metaData: { type: 'object' },
        networkData: { type: 'object' },
        userData: { type: 'string', maxLength: 65535 },
        vendorData: { type: 'object' },
      },
      required: ['metaData', 'networkData'],
      additionalProperties: false,
    },
    consoleLog: absPath,
  },
  required: ['uuid', 'name', 'vcpus', 'memoryMb', 'disks', 'nics', 'consoleLog'],
  additionalProperties: false,
};
const body = (props: Record<string, JsonSchema>, required: string[]): JsonSchema => ({
  type: 'object',
  properties: { generation, ...props },
  required: ['generation', ...required],
  additionalProperties: false,
});
const SCHEMAS = {
  define: body({ owner: { type: 'string', minLength: 1 }, spec: specSchema }, ['owner', 'spec']),
  plain: body({}, []),
  reboot: body({ hard: { type: 'boolean' } }, []),
  migrate: body(
    {
      target: {
        type: 'object',
        properties: {
          uri: { type: 'string', pattern: '^qemu(\\+tcp|\\+tls|\\+ssh)?://' },
          migrateUri: { type: 'string', pattern: '^tcp://' },
          owner: { type: 'string', minLength: 1 },
          maxDowntimeMs: { type: 'integer', minimum: 1 },
        },
        required: ['uri', 'owner'],
        additionalProperties: false,
      },
    },
    ['target'],
  ),
  disk: body({ disk: diskSchema }, ['disk']),
  nic: body({ nic: nicSchema }, ['nic']),
  snapshot: body({ targetPath: absPath }, ['targetPath']),
  purge: {
    type: 'object',
    properties: { paths: { type: 'array', items: absPath, minItems: 1, maxItems: 16 } },
    required: ['paths'],
    additionalProperties: false,
  } as JsonSchema,
};

type G = { generation: number };

/**
 * The agent's RPC endpoint: the API's commands, authenticated with the host's RPC secret. Errors come as
 * {"error": {code, title, message}}; nothing is changed by a refused command.
 */
export function createRpcServer(commands: Commands, rpcSecret: () => string, log: Logger): Server {
  const app = new Koa();
  const router = new Router();
  app.use(async (ctx, next) => {
    try {
      const m = /^Bearer (\S+)$/.exec(ctx.get('authorization'));
      if (!m || !sameSecret(m[1], rpcSecret())) throw new Unauthorized('The RPC secret is missing or wrong.');
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new ApiErrorNotFound('No such RPC.');
    } catch (err) {
      const e = err instanceof ApiError ? err : null;
      if (!e) log.error({ err, path: ctx.path }, 'RPC failed');
      const status = e?.status ?? 500;
      ctx.status = status;
      ctx.body = {
        error: {
          code: status,
          title: STATUS_TITLES[status] ?? 'Error',
          message: e?.message ?? String((err as Error)?.message ?? err),
        },
      };
    }
  });
  const parsed = async <T>(ctx: Koa.Context, schema: JsonSchema): Promise<T> => {
    const value = await readJsonBody(ctx as unknown as Ctx, 1024 * 1024);
    if (value === undefined) throw new BadRequest('A JSON body is required.');
    validate(schema, value);
    return value as T;
  };
  const id = (ctx: { params: Record<string, string> }) => {
    if (!new RegExp(uuidPattern).test(ctx.params.uuid))
      throw new BadRequest(`${ctx.params.uuid} is not a UUID`);
    return ctx.params.uuid;
  };

  router.post('/v1/domains/:uuid/define', async (ctx) => {
    const b = await parsed<G & { owner: string; spec: never }>(ctx, SCHEMAS.define);
    ctx.body = await commands.define(id(ctx), b.generation, b.owner, b.spec);
  });
  for (const action of ['start', 'shutdown', 'destroy', 'pause', 'unpause', 'suspend', 'resume'] as const) {
    router.post(`/v1/domains/:uuid/${action}`, async (ctx) => {
      const b = await parsed<G>(ctx, SCHEMAS.plain);
      ctx.body = await commands[action](id(ctx), b.generation);
    });
  }
  router.post('/v1/domains/:uuid/reboot', async (ctx) => {
    const b = await parsed<G & { hard?: boolean }>(ctx, SCHEMAS.reboot);
    ctx.body = await commands.reboot(id(ctx), b.generation, b.hard ?? false);
  });
  router.post('/v1/domains/:uuid/snapshot', async (ctx) => {
    const b = await parsed<G & { targetPath: string }>(ctx, SCHEMAS.snapshot);
    ctx.body = await commands.snapshot(id(ctx), b.generation, b.targetPath);
  });
  router.post('/v1/domains/:uuid/reset-root-disk', async (ctx) => {
    const b = await parsed<G & { disk: never }>(ctx, SCHEMAS.disk);
    await commands.resetRootDisk(id(ctx), b.generation, b.disk);
    ctx.body = {};
  });
  router.post('/v1/domains/:uuid/purge', async (ctx) => {
    const b = await parsed<{ paths: string[] }>(ctx, SCHEMAS.purge);
    await commands.purge(id(ctx), b.paths);
    ctx.body = {};
  });
  router.post('/v1/domains/:uuid/undefine', async (ctx) => {
    const b = await parsed<G>(ctx, SCHEMAS.plain);
    await commands.undefine(id(ctx), b.generation);
    ctx.body = {};
  });
  router.post('/v1/domains/:uuid/migrate', async (ctx) => {
    const b = await parsed<G & { target: { uri: string; migrateUri?: string; owner: string } }>(
      ctx,
      SCHEMAS.migrate,
    );
    await commands.migrate(id(ctx), b.generation, b.target);
    ctx.body = {};
  });
  router.post('/v1/domains/:uuid/disks', async (ctx) => {
    const b = await parsed<G & { disk: never }>(ctx, SCHEMAS.disk);
    await commands.attachDisk(id(ctx), b.generation, b.disk);
    ctx.body = {};
  });
  router.post('/v1/domains/:uuid/disks/:target/detach', async (ctx) => {
    const b = await parsed<G>(ctx, SCHEMAS.plain);
    await commands.detachDisk(id(ctx), b.generation, ctx.params.target);
    ctx.body = {};
  });
  router.post('/v1/domains/:uuid/nics', async (ctx) => {
    const b = await parsed<G & { nic: never }>(ctx, SCHEMAS.nic);
    await commands.plugNic(id(ctx), b.generation, b.nic);
    ctx.body = {};
  });
  router.post('/v1/domains/:uuid/nics/:mac/unplug', async (ctx) => {
    const b = await parsed<G>(ctx, SCHEMAS.plain);
    await commands.unplugNic(id(ctx), b.generation, decodeURIComponent(ctx.params.mac));
    ctx.body = {};
  });
  router.get('/v1/domains/:uuid', async (ctx) => {
    ctx.body = await commands.status(id(ctx));
  });
  router.get('/v1/domains/:uuid/console', async (ctx) => {
    const lines = ctx.query.lines === undefined ? undefined : Number(ctx.query.lines);
    if (lines !== undefined && (!Number.isInteger(lines) || lines < 0))
      throw new BadRequest('lines must be a non-negative integer');
    ctx.body = { output: await commands.consoleOutput(id(ctx), lines) };
  });
  app.use(router.routes());
  return createServer(app.callback());
}

class ApiErrorNotFound extends ApiError {
  readonly status = 404;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
