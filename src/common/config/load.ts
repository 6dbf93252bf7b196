import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse } from 'ini';
import { OPTIONS, envName, type Config, type OptionSpec } from './options.js';

export const DEFAULT_CONFIG_FILE = '/etc/kvmstack/kvmstack.conf';

export class ConfigError extends Error {}

export interface LoadOptions {
  /** Explicit config file; must exist. Else KVMSTACK_CONFIG, else /etc/kvmstack/kvmstack.conf if present. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Highest precedence, e.g. from tests: { 'database.connection': 'sqlite://...' }. */
  overrides?: Record<string, string | number | boolean>;
}

/** Defaults < config file < environment < overrides; ${section.name} references are resolved last. */
export function loadConfig(opts: LoadOptions = {}): Config & { file: string | null } {
  const env = opts.env ?? process.env;
  const file =
    opts.file ?? env.KVMSTACK_CONFIG ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : null);
  let ini: Record<string, Record<string, unknown>> = {};
  if (file) {
    if (!existsSync(file)) throw new ConfigError(`config file ${file} does not exist`);
    ini = normaliseIni(parse(readFileSync(file, 'utf8')));
    rejectUnknown(ini, file);
  }
  const raw = new Map<string, string>();
  for (const spec of OPTIONS as readonly OptionSpec[]) {
    const key = `${spec.section}.${spec.name}`;
    const fromFile = ini[spec.section]?.[spec.name];
    const fromEnv = env[envName(spec)];
    const fromOverride = opts.overrides?.[key];
    const value = fromOverride ?? fromEnv ?? fromFile ?? spec.default;
    if (value !== null && value !== undefined) raw.set(key, String(value));
  }
  const config: Record<string, Record<string, unknown>> = {};
  for (const spec of OPTIONS as readonly OptionSpec[]) {
    const key = `${spec.section}.${spec.name}`;
    const text = resolveRefs(raw.get(key) ?? '', raw, [key]);
    (config[spec.section] ??= {})[spec.name] = coerce(spec, text);
  }
  if (!config.api.public_url) config.api.public_url = `http://${hostname()}:${config.api.port}`;
  config.api.public_url = String(config.api.public_url).replace(/\/+$/, '');
  return Object.assign(config as unknown as Config, { file });
}

/** `ini` puts keys before any [section] at top level; OpenStack files call that [DEFAULT]. */
function normaliseIni(parsed: Record<string, unknown>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = { DEFAULT: {} };
  for (const [k, v] of Object.entries(parsed)) {
    if (v !== null && typeof v === 'object')
      out[k] = { ...(out[k] ?? {}), ...(v as Record<string, unknown>) };
    else out.DEFAULT[k] = v;
  }
  return out;
}

function rejectUnknown(ini: Record<string, Record<string, unknown>>, file: string): void {
  const known = new Set((OPTIONS as readonly OptionSpec[]).map((o) => `${o.section}.${o.name}`));
  for (const [section, values] of Object.entries(ini)) {
    for (const name of Object.keys(values)) {
      if (!known.has(`${section}.${name}`))
        throw new ConfigError(`${file}: unknown option [${section}] ${name}`);
    }
  }
}

function resolveRefs(text: string, raw: Map<string, string>, stack: string[]): string {
  return text.replace(/\$\{([A-Za-z_]+\.[A-Za-z_]+)\}/g, (_m, ref: string) => {
    if (stack.includes(ref)) throw new ConfigError(`circular reference in ${stack.join(' -> ')}`);
    if (!raw.has(ref)) throw new ConfigError(`unknown option \${${ref}} referenced by ${stack[0]}`);
    return resolveRefs(raw.get(ref) ?? '', raw, [...stack, ref]);
  });
}

function coerce(spec: OptionSpec, text: string): string | number | boolean {
  const where = `[${spec.section}] ${spec.name}`;
  switch (spec.type) {
    case 'string':
      return text;
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(text)) return true;
      if (/^(0|false|no|off)$/i.test(text)) return false;
      throw new ConfigError(`${where}: expected a boolean, got "${text}"`);
    case 'int':
    case 'float': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) {
        throw new ConfigError(
          `${where}: expected ${spec.type === 'int' ? 'an integer' : 'a number'}, got "${text}"`,
        );
      }
      if (spec.min !== undefined && n < spec.min) throw new ConfigError(`${where}: must be >= ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw new ConfigError(`${where}: must be <= ${spec.max}`);
      return n;
    }
  }
}

/** The option table of the README, generated from OPTIONS. */
export function optionTableMarkdown(): string {
  const rows = (OPTIONS as readonly OptionSpec[]).map((o) => {
    const def = o.default === null || o.default === '' ? '(empty)' : `\`${String(o.default)}\``;
    return `| \`[${o.section}]\` | \`${o.name}\` | ${o.type} | ${def} | \`${envName(o)}\` | ${o.description.replace(/\|/g, '\\|')} |`;
  });
  return [
    '| section | option | type | default | environment | description |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
