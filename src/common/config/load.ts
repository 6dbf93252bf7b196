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

/** The API's configuration: defaults < config file < environment < overrides. */
export function loadConfig(opts: LoadOptions = {}): Config & { file: string | null } {
  const env = opts.env ?? process.env;
  const file =
    opts.file ?? env.KVMSTACK_CONFIG ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : null);
  const { values } = loadOptions(OPTIONS, { ...opts, file: file ?? undefined, env });
  const config = values as unknown as Config;
  if (!config.api.public_url) config.api.public_url = `http://${hostname()}:${config.api.port}`;
  config.api.public_url = String(config.api.public_url).replace(/\/+$/, '');
  return Object.assign(config, { file });
}

export interface LoadedOptions {
  /** Declared options, coerced to their types, by section. */
  values: Record<string, Record<string, unknown>>;
  /** Sections matched by `dynamicSections` (e.g. "[store shared]"), as raw strings. */
  dynamic: Record<string, Record<string, string>>;
}

/**
 * Loads any declared option list: defaults < INI file < environment (KVMSTACK_<SECTION>_<NAME>) < overrides,
 * then resolves ${section.name} references. Unknown options are refused, except inside sections matching
 * `dynamicSections`, which are returned as they are for the caller to validate.
 */
export function loadOptions(
  options: readonly OptionSpec[],
  opts: LoadOptions & { dynamicSections?: RegExp } = {},
): LoadedOptions {
  const env = opts.env ?? process.env;
  let ini: Record<string, Record<string, unknown>> = {};
  if (opts.file) {
    if (!existsSync(opts.file)) throw new ConfigError(`config file ${opts.file} does not exist`);
    ini = normaliseIni(parse(readFileSync(opts.file, 'utf8')));
  }
  const dynamic: Record<string, Record<string, string>> = {};
  for (const [section, vals] of Object.entries(ini)) {
    if (opts.dynamicSections?.test(section)) {
      dynamic[section] = Object.fromEntries(Object.entries(vals).map(([k, v]) => [k, String(v)]));
      delete ini[section];
    }
  }
  if (opts.file) rejectUnknown(options, ini, opts.file);
  const raw = new Map<string, string>();
  for (const spec of options) {
    const key = `${spec.section}.${spec.name}`;
    const value =
      opts.overrides?.[key] ?? env[envName(spec)] ?? ini[spec.section]?.[spec.name] ?? spec.default;
    if (value !== null && value !== undefined) raw.set(key, String(value));
  }
  const values: Record<string, Record<string, unknown>> = {};
  for (const spec of options) {
    const key = `${spec.section}.${spec.name}`;
    const text = resolveRefs(raw.get(key) ?? '', raw, [key]);
    (values[spec.section] ??= {})[spec.name] = coerce(spec, text);
  }
  return { values, dynamic };
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

function rejectUnknown(
  options: readonly OptionSpec[],
  ini: Record<string, Record<string, unknown>>,
  file: string,
): void {
  const known = new Set(options.map((o) => `${o.section}.${o.name}`));
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
      if (spec.choices && !spec.choices.includes(text))
        throw new ConfigError(`${where}: must be one of ${spec.choices.join(', ')}, got "${text}"`);
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

/** An option table for the README, generated from a declared option list. */
export function optionTableMarkdown(options: readonly OptionSpec[] = OPTIONS): string {
  const rows = options.map((o) => {
    const def = o.default === null || o.default === '' ? '(empty)' : `\`${String(o.default)}\``;
    return `| \`[${o.section}]\` | \`${o.name}\` | ${o.type} | ${def} | \`${envName(o)}\` | ${o.description.replace(/\|/g, '\\|')} |`;
  });
  return [
    '| section | option | type | default | environment | description |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
