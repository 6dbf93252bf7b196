import { join } from 'node:path';
import { REPO_ROOT } from '../cli/daemons.js';

export const HOST_NS_SCRIPT = join(REPO_ROOT, 'tools', 'lab', 'host-ns.sh');
