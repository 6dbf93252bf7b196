/** Interface attachment bodies (Nova's _translate_interface_attachment_view). */
import type { Microversion } from '../../../common/microversion.js';
import type { Attachment } from './service.js';

export function attachmentView(a: Attachment, mv: Microversion): Record<string, unknown> {
  const body: Record<string, unknown> = {
    net_id: a.port.networkId,
    port_id: a.port.id,
    mac_addr: a.port.mac,
    port_state: a.port.status,
    fixed_ips: a.port.fixedIps.map((f) => ({ subnet_id: f.subnetId, ip_address: f.ip })),
  };
  if (mv.atLeast('2.70')) body.tag = a.tag; // 2.70
  return body;
}
