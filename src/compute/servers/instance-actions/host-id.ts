/** Nova's obfuscated host id (nova/utils.py generate_hostid), shown to users in place of the host's name. */
import { createHash } from 'node:crypto';

/** sha224(project_id + hostname) in hex; '' when there is no host (an unscheduled server, an API-only event). */
export function novaHostId(projectId: string, hostname: string | null): string {
  if (!hostname) return '';
  return createHash('sha224')
    .update(projectId + hostname, 'utf8')
    .digest('hex');
}
