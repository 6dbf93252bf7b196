import { loadConfig } from '../../src/common/config/load.js';
import type { Config } from '../../src/common/config/options.js';

export type LoadedConfig = Config & { file: string | null };

/** Loads the configuration named by --config (or KVMSTACK_CONFIG, or /etc/kvmstack/kvmstack.conf). */
export function configFrom(opts: { config?: string }): LoadedConfig {
  return loadConfig({ file: opts.config });
}

/** Prints a progress line: long CLI work says what it is doing. */
export const step = (text: string): void => {
  process.stdout.write(`==> ${text}\n`);
};
