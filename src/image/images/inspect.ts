/**
 * What an uploaded file really is, as Glance's format inspector decides it: the disk_format an image claims must
 * match its data for the formats that can be recognized, and a qcow2 may not point at another file (a backing
 * file or an external data file). kvmstack's VMs use an image as the backing file of a linked clone on every
 * host, so a qcow2 naming a host path would hand that host's data to the guest.
 */
import { ExecError, run } from '../../common/exec.js';
import { UnsupportedMediaType } from '../../common/errors.js';

/** How many leading bytes of an upload the sniffer needs (the VDI signature sits at 0x40). */
export const HEAD_BYTES = 512;

/** The formats recognized by their header, named as Glance's disk_format names them. */
export type SniffedFormat = 'qcow2' | 'vmdk' | 'vhd' | 'vhdx' | 'vdi' | 'raw';

/** Glance's disk_format → qemu-img's driver name, for the formats qemu-img can tell the virtual size of. */
const QEMU_FORMAT: Record<string, string> = {
  qcow2: 'qcow2',
  vmdk: 'vmdk',
  vhd: 'vpc',
  vhdx: 'vhdx',
  vdi: 'vdi',
};

/** VMDK subformats that keep everything in one file (Glance's [image_format] vmdk_allowed_types). */
const VMDK_ALLOWED = new Set(['streamOptimized', 'monolithicSparse']);

export function sniffFormat(head: Buffer): SniffedFormat {
  const at = (offset: number, magic: string) =>
    head.length >= offset + magic.length &&
    head.subarray(offset, offset + magic.length).toString('latin1') === magic;
  if (at(0, 'QFI\xfb')) return 'qcow2';
  // Only the sparse VMDK header: a text descriptor names its extents, i.e. other files, and stays 'raw' here.
  if (at(0, 'KDMV')) return 'vmdk';
  if (at(0, 'vhdxfile')) return 'vhdx';
  if (at(0, 'conectix')) return 'vhd';
  if (head.length >= 0x44 && head.readUInt32LE(0x40) === 0xbeda107f) return 'vdi';
  return 'raw';
}

/** The refusal Glance gives for data that fails inspection (InvalidImageData → 415 since Glance 2025.1). */
export class InvalidImageData extends UnsupportedMediaType {}

const mismatch = (declared: string, found: string) =>
  new InvalidImageData(`Image disk_format ${declared} does not match stream data ${found}`);
const unsafe = () => new InvalidImageData('Image failed safety checks');

/** qcow2 header fields that make the image depend on another file. */
function qcow2HeaderIsSafe(head: Buffer): boolean {
  if (head.length < 72) return false;
  const version = head.readUInt32BE(4);
  const backingFileOffset = head.readBigUInt64BE(8);
  if (backingFileOffset !== 0n) return false;
  if (version >= 3) {
    if (head.length < 80) return false;
    const incompatible = head.readBigUInt64BE(72);
    if ((incompatible & 0x4n) !== 0n) return false; // external data file
  }
  return true;
}

export interface InspectResult {
  /** null when the format cannot tell (ami, ari, aki, iso, ploop), as Glance leaves it unset. */
  virtualSize: number | null;
}

/**
 * Checks an uploaded file against its declared disk_format; throws InvalidImageData (415) when it must be refused.
 * The header is checked before qemu-img ever opens the file, so qemu-img never follows a reference to a host file.
 */
export async function inspectImage(
  path: string,
  diskFormat: string,
  head: Buffer,
  size: number,
  timeoutMs: number,
): Promise<InspectResult> {
  const found = sniffFormat(head);
  if (found === 'qcow2' && !qcow2HeaderIsSafe(head)) throw unsafe();
  // qcow2 both ways (the security boundary); the other inspectable formats when declared, as Glance's
  // require_image_format_match. Raw data may be anything, but a qcow2 is never served as raw.
  if (found === 'qcow2' && diskFormat !== 'qcow2') throw mismatch(diskFormat, found);
  if (diskFormat in QEMU_FORMAT && found !== diskFormat) throw mismatch(diskFormat, found);
  if (diskFormat === 'raw') return { virtualSize: size };
  const qemuFormat = QEMU_FORMAT[diskFormat];
  if (!qemuFormat) return { virtualSize: null };

  let info: Record<string, unknown>;
  try {
    const out = await run('qemu-img', ['info', '-f', qemuFormat, '--output=json', path], { timeoutMs });
    info = JSON.parse(out) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof ExecError || err instanceof SyntaxError) {
      throw new InvalidImageData('Image format inspection failed');
    }
    throw err;
  }
  const specific = (info['format-specific'] as { data?: Record<string, unknown> } | undefined)?.data ?? {};
  if (info['backing-filename'] !== undefined || specific['data-file'] !== undefined) throw unsafe();
  if (diskFormat === 'vmdk' && !VMDK_ALLOWED.has(String(specific['create-type']))) throw unsafe();
  const virtualSize = Number(info['virtual-size']);
  return { virtualSize: Number.isSafeInteger(virtualSize) ? virtualSize : null };
}
