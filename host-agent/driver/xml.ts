/**
 * libvirt domain XML for kvmstack domains, and the few reads the driver needs from libvirt's XML.
 *
 * Hand-written template + escaper rather than an XML library: the output is one fixed shape, every
 * interpolated value goes through escapeXml(), and the golden files in test/samples/host-agent pin it byte
 * for byte. The reads are just as narrow (our own metadata element, one device by target or MAC) and libvirt
 * emits them in a regular form, so a tokenizer of start tags is enough; no dependency to vet or update.
 */
import { DriverError, type DiskSpec, type DomainSpec, type NicSpec, type Ownership } from './types.js';

/** Namespace of kvmstack's element in <metadata>; `virsh metadata --uri` uses it too. */
export const KVMSTACK_NS = 'https://kvmstack.org/xmlns/instance/1';
export const KVMSTACK_NS_PREFIX = 'kvmstack';

/** What the XML needs to know about the host it is defined on. */
export interface HostFacts {
  /** 'kvm' with hardware acceleration, 'qemu' for TCG (e.g. the lab, whose /dev/kvm is KVM-PVM). */
  virtType: 'kvm' | 'qemu';
}

// Outside XML 1.0's Char production: cannot be written at all, escaped or not. With the u flag a surrogate
// in the class only matches a lone one (a pair is one code point).
// eslint-disable-next-line no-control-regex
const INVALID_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF\uD800-\uDFFF]/u;

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  // Parsers normalize raw whitespace in attribute values to spaces; character references survive.
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

/** Escapes a value for element text or an attribute in either quote style. */
export function escapeXml(value: string): string {
  if (INVALID_XML_CHAR.test(value)) {
    throw new DriverError(
      `value ${JSON.stringify(value)} contains a character XML cannot represent`,
      'failed',
    );
  }
  return value.replace(/[&<>"'\t\n\r]/g, (c) => ESCAPES[c] ?? c);
}

/** Reverses escapeXml and libvirt's own escaping (named and numeric character references). */
export function unescapeXml(value: string): string {
  return value.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_m, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[ref] ?? '';
  });
}

function positiveInt(what: string, n: number): string {
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new DriverError(`${what} must be a positive integer, not ${n}`, 'failed');
  return String(n);
}

function generationAttr(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new DriverError(`generation must be an integer >= 0, not ${n}`, 'failed');
  return String(n);
}

const e = escapeXml;

/** The element stored in <metadata>, prefixed as libvirt stores it. */
function metadataElement(own: Ownership): string {
  return (
    `<${KVMSTACK_NS_PREFIX}:instance xmlns:${KVMSTACK_NS_PREFIX}='${KVMSTACK_NS}'` +
    ` generation='${generationAttr(own.generation)}' owner='${e(own.owner)}'/>`
  );
}

/** The same element unprefixed, for `virsh metadata --uri KVMSTACK_NS --key kvmstack --set`. */
export function instanceMetadataXml(own: Ownership): string {
  return `<instance generation='${generationAttr(own.generation)}' owner='${e(own.owner)}'/>`;
}

function indent(xml: string, by: string): string {
  return xml
    .split('\n')
    .map((l) => by + l)
    .join('\n');
}

/** A virtio disk; also the fragment for `virsh attach-device`. */
export function diskXml(disk: DiskSpec): string {
  const lines = [
    `<disk type='file' device='disk'>`,
    `  <driver name='qemu' type='${e(disk.format)}' cache='none'/>`,
    `  <source file='${e(disk.path)}'/>`,
    `  <target dev='${e(disk.target)}' bus='virtio'/>`,
  ];
  if (disk.serial !== undefined) lines.push(`  <serial>${e(disk.serial)}</serial>`);
  if (disk.readOnly) lines.push('  <readonly/>');
  lines.push('</disk>');
  return lines.join('\n');
}

/** The config drive: a read-only raw ISO on an IDE cdrom, where cloud-init and the tiny guest look for it. */
export function configDriveDiskXml(isoPath: string): string {
  return [
    `<disk type='file' device='cdrom'>`,
    `  <driver name='qemu' type='raw'/>`,
    `  <source file='${e(isoPath)}'/>`,
    `  <target dev='hda' bus='ide'/>`,
    '  <readonly/>',
    '</disk>',
  ].join('\n');
}

/** A tap name libvirt will use as given: a Linux interface name, not in libvirt's own vnet/vif/macvtap ranges. */
function tapName(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name) || /^(vnet|vif|macvtap|macvlan)/.test(name))
    throw new DriverError(`NIC target ${JSON.stringify(name)} is not a usable tap name`, 'failed');
  return name;
}

/** A virtio NIC on the network's bridge; also the fragment for `virsh attach-device`. */
export function nicXml(nic: NicSpec): string {
  const lines = [
    `<interface type='bridge'>`,
    `  <mac address='${e(nic.mac)}'/>`,
    `  <source bridge='${e(nic.bridge)}'/>`,
  ];
  if (nic.target !== undefined) lines.push(`  <target dev='${e(tapName(nic.target))}'/>`);
  lines.push(`  <model type='virtio'/>`);
  if (nic.mtu !== undefined) lines.push(`  <mtu size='${positiveInt('mtu', nic.mtu)}'/>`);
  lines.push('</interface>');
  return lines.join('\n');
}

/**
 * The persistent definition of a kvmstack domain. The root disk must be disks[0]: `<boot dev='hd'/>` makes
 * libvirt give the boot index to the first disk. No <cpu> element: QEMU's default model is the same on every
 * host of the cluster, so live migration never fails on CPU features. machine='pc' for the same reason
 * (libvirt expands it to the host's versioned i440fx type, which the destination accepts).
 */
export function domainXml(
  spec: DomainSpec,
  own: Ownership,
  host: HostFacts,
  configDriveIso?: string,
): string {
  const devices = [
    ...spec.disks.map(diskXml),
    ...(configDriveIso !== undefined ? [configDriveDiskXml(configDriveIso)] : []),
    ...spec.nics.map(nicXml),
    [
      `<serial type='pty'>`,
      `  <log file='${e(spec.consoleLog)}' append='off'/>`,
      `  <target port='0'/>`,
      '</serial>',
    ].join('\n'),
    `<console type='pty'>\n  <target type='serial' port='0'/>\n</console>`,
    // No <graphics>: libvirt 9 rejects type='none'; leaving it out is how to have none.
    `<video>\n  <model type='none'/>\n</video>`,
    `<memballoon model='none'/>`,
  ];
  return [
    `<domain type='${e(host.virtType)}'>`,
    `  <name>${e(spec.name)}</name>`,
    `  <uuid>${e(spec.uuid)}</uuid>`,
    '  <metadata>',
    `    ${metadataElement(own)}`,
    '  </metadata>',
    `  <memory unit='MiB'>${positiveInt('memoryMb', spec.memoryMb)}</memory>`,
    `  <vcpu>${positiveInt('vcpus', spec.vcpus)}</vcpu>`,
    '  <os>',
    `    <type arch='x86_64' machine='pc'>hvm</type>`,
    `    <boot dev='hd'/>`,
    '  </os>',
    '  <features>',
    '    <acpi/>',
    '    <apic/>',
    '  </features>',
    `  <clock offset='utc'/>`,
    '  <on_poweroff>destroy</on_poweroff>',
    '  <on_reboot>restart</on_reboot>',
    '  <on_crash>destroy</on_crash>',
    '  <devices>',
    ...devices.map((d) => indent(d, '    ')),
    '  </devices>',
    '</domain>',
    '',
  ].join('\n');
}

// ---- reading libvirt's XML ------------------------------------------------------------------------------

const ATTR = /([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/** The attributes of one start tag's text (from `<name` to `>`), unescaped. */
function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(ATTR)) out.set(m[1] as string, unescapeXml(m[2] ?? m[3] ?? ''));
  return out;
}

/** The first start tag named `name` (with any prefix) in `xml`, as text. */
function startTag(xml: string, name: string): string | null {
  const m = new RegExp(`<(?:[\\w.-]+:)?${name}\\b(?:"[^"]*"|'[^']*'|[^'">])*>`).exec(xml);
  return m ? m[0] : null;
}

/** The content of the first <name>...</name> element (not nested in one of the same name), or null. */
function elementBody(xml: string, name: string): string | null {
  const m = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`).exec(xml);
  return m ? (m[1] as string) : null;
}

/**
 * The kvmstack ownership stored in a domain's XML (as libvirt returns it: `<kvmstack:instance
 * xmlns:kvmstack="..." generation="3" owner="h1"/>`, whatever the prefix), or null for a domain kvmstack
 * did not define or whose element is malformed.
 */
export function parseInstanceMetadata(domainXml: string): Ownership | null {
  const metadata = elementBody(domainXml.replace(/<!--[\s\S]*?-->/g, ''), 'metadata');
  if (metadata === null) return null;
  const tags = /<(?:([\w.-]+):)?instance\b(?:"[^"]*"|'[^']*'|[^'">])*>/g;
  for (const m of metadata.matchAll(tags)) {
    const a = attributes(m[0]);
    const ns = m[1] !== undefined ? a.get(`xmlns:${m[1]}`) : a.get('xmlns');
    if (ns !== KVMSTACK_NS) continue;
    const generation = a.get('generation');
    const owner = a.get('owner');
    if (generation === undefined || !/^\d+$/.test(generation) || owner === undefined) return null;
    return { generation: Number(generation), owner };
  }
  return null;
}

/**
 * One device element from a domain's <devices>, as libvirt wrote it: a disk by guest target (`vdb`) or an
 * interface by MAC. That exact text is what `virsh detach-device` needs to find the device again.
 */
export function findDeviceXml(domainXml: string, kind: 'disk' | 'interface', key: string): string | null {
  const devices = elementBody(domainXml, 'devices');
  if (devices === null) return null;
  const blocks = new RegExp(`<${kind}\\b(?:"[^"]*"|'[^']*'|[^'">])*>[\\s\\S]*?</${kind}>`, 'g');
  for (const m of devices.matchAll(blocks)) {
    const block = m[0];
    if (kind === 'disk') {
      const target = startTag(block, 'target');
      if (target !== null && attributes(target).get('dev') === key) return block;
    } else {
      const mac = startTag(block, 'mac');
      if (mac !== null && attributes(mac).get('address')?.toLowerCase() === key.toLowerCase()) return block;
    }
  }
  return null;
}
