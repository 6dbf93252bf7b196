/**
 * libvirt failures as DriverError kinds. @unraid/libvirt rejects with the message only (code and domain are
 * always -1) and virsh only prints it, so the kinds are decided by libvirt's message texts.
 */
import { DriverError } from './types.js';

const NOT_FOUND = [
  /Domain not found/i,
  /no domain with matching/i,
  /failed to get domain/i,
  /no target device/i,
  /matching device not found/i,
  /device not found/i,
];

const CONFLICT = [
  /Failed to get "?write"? lock/i, // QEMU's own image lock: another QEMU has the disk
  /resource busy/i, // virtlockd: the lease is held
  /is locked/i,
  /is already active/i,
  /already exists/i, // a name or UUID taken by another domain, a target or MAC in use
  /already in use/i,
  /Requested operation is not valid/i, // wrong state: not running, already running, ...
];

/** Messages of a connection that is gone for good: the binding never recovers it, a new one is needed. */
const DEAD_CONNECTION = [
  /client socket is closed/i,
  /Cannot write data/i,
  /Cannot recv data/i,
  /End of file while reading data/i,
  /Broken pipe/i,
  /Connection reset/i,
  /invalid connection pointer/i,
  /no connection driver available/i,
];

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isDeadConnection(err: unknown): boolean {
  const m = messageOf(err);
  return DEAD_CONNECTION.some((re) => re.test(m));
}

export function kindOf(message: string): DriverError['kind'] {
  if (NOT_FOUND.some((re) => re.test(message))) return 'not_found';
  if (CONFLICT.some((re) => re.test(message))) return 'conflict';
  return 'failed';
}

/** `err` as a DriverError, its message prefixed with what was being done. DriverErrors pass through. */
export function toDriverError(err: unknown, doing: string): DriverError {
  if (err instanceof DriverError) return err;
  const m = messageOf(err);
  return new DriverError(`${doing}: ${m}`, kindOf(m));
}
