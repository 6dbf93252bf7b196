import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this module runs from dist/tools/lab/. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI_MAIN = join(REPO_ROOT, 'dist', 'tools', 'cli', 'main.js');
export const AGENT_MAIN = join(REPO_ROOT, 'dist', 'host-agent', 'main.js');
export const HOST_NS_SCRIPT = join(REPO_ROOT, 'tools', 'lab', 'host-ns.sh');
