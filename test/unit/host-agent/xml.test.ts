import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { DriverError, type DomainSpec, type Ownership } from '../../../host-agent/driver/types.js';
import {
  KVMSTACK_NS,
  diskXml,
  domainXml,
  escapeXml,
  findDeviceXml,
  instanceMetadataXml,
  nicXml,
  parseInstanceMetadata,
  unescapeXml,
} from '../../../host-agent/driver/xml.js';

const SAMPLES = fileURLToPath(new URL('../../../../test/samples/host-agent/', import.meta.url));

/** Compares with test/samples/host-agent/NAME byte for byte; UPDATE_GOLDEN=1 rewrites the file instead. */
function golden(name: string, actual: string): void {
  const file = SAMPLES + name;
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(SAMPLES, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(
    existsSync(file),
    `${file} is missing: run the test with UPDATE_GOLDEN=1 and review the new file`,
  );
  assert.equal(actual, readFileSync(file, 'utf8'), `${name} differs from its golden file`);
}

const OWN: Ownership = { generation: 3, owner: 'host-a' };

const FULL: DomainSpec = {
  uuid: '6f1c2a8e-0b1d-4c55-9a51-2f0f5e1d7c01',
  name: 'instance-6f1c2a8e',
  vcpus: 2,
  memoryMb: 512,
  disks: [
    {
      target: 'vda',
      path: '/srv/kvmstack/store/instances/6f1c2a8e/disk.qcow2',
      format: 'qcow2',
      backingPath: '/srv/kvmstack/store/images/cirros.qcow2',
      backingFormat: 'qcow2',
      sizeGb: 10,
    },
    {
      target: 'vdb',
      path: '/srv/kvmstack/store/volumes/volume-0b8e.raw',
      format: 'raw',
      serial: '0b8e5f2c-3a77-4d1e-8f0a-6c9d4b2a1e55',
    },
    { target: 'vdc', path: '/srv/kvmstack/store/images/tools.qcow2', format: 'qcow2', readOnly: true },
  ],
  nics: [
    { mac: 'fa:16:3e:12:34:56', bridge: 'brq-net1' },
    { mac: 'fa:16:3e:ab:cd:ef', bridge: 'brq-net2', mtu: 1450, target: 'tap5b2e9c1d-7a' },
  ],
  configDrive: { metaData: {}, networkData: {} },
  consoleLog: '/srv/kvmstack/store/instances/6f1c2a8e/console.log',
};

const MINIMAL: DomainSpec = {
  uuid: '00000000-0000-4000-8000-000000000001',
  name: 'instance-00000000',
  vcpus: 1,
  memoryMb: 64,
  disks: [{ target: 'vda', path: '/var/lib/kvmstack/disk.raw', format: 'raw' }],
  nics: [],
  consoleLog: '/var/lib/kvmstack/console.log',
};

const NASTY = `a<b>&c"d'e`;
const ESCAPING: DomainSpec = {
  uuid: '11111111-2222-4333-8444-555555555555',
  name: `vm ${NASTY}</name><x>`,
  vcpus: 1,
  memoryMb: 128,
  disks: [
    {
      target: 'vda',
      path: `/store/${NASTY}\n\tdisk.qcow2`,
      format: 'qcow2',
      serial: `serial ${NASTY}</serial>`,
    },
  ],
  nics: [{ mac: '52:54:00:00:00:01', bridge: `br'"<&` }],
  consoleLog: `/store/${NASTY}/console.log`,
};
const NASTY_OWN: Ownership = { generation: 12, owner: `host ${NASTY}'/><evil a='` };

const python = (() => {
  try {
    execFileSync('python3', ['-c', 'import xml.etree.ElementTree'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Reads values back with a real XML parser (Python's ElementTree), to prove the escaping round-trips. */
function parseWithPython(xml: string): Record<string, string | null> {
  const script = `
import json, sys, xml.etree.ElementTree as ET
d = ET.fromstring(sys.stdin.read())
inst = d.find('metadata/{${KVMSTACK_NS}}instance')
print(json.dumps({
  'name': d.findtext('name'),
  'disk': d.find('devices/disk/source').get('file'),
  'serial': d.findtext('devices/disk/serial'),
  'bridge': d.find('devices/interface/source').get('bridge'),
  'log': d.find('devices/serial/log').get('file'),
  'owner': inst.get('owner'),
  'generation': inst.get('generation'),
  'strays': str(len([e for e in d.iter() if e.tag in ('x', 'evil')])),
}))`;
  return JSON.parse(execFileSync('python3', ['-c', script], { input: xml, encoding: 'utf8' })) as Record<
    string,
    string | null
  >;
}

describe('domain XML', () => {
  it('matches the golden files', () => {
    golden(
      'domain-full.xml',
      domainXml(FULL, OWN, { virtType: 'qemu' }, '/srv/kvmstack/store/instances/cd.iso'),
    );
    golden('domain-minimal-kvm.xml', domainXml(MINIMAL, { generation: 0, owner: 'h1' }, { virtType: 'kvm' }));
    golden(
      'domain-escaping.xml',
      domainXml(ESCAPING, NASTY_OWN, { virtType: 'qemu' }, `/store/${NASTY}.iso`),
    );
    golden('fragment-disk.xml', diskXml(FULL.disks[1]!) + '\n');
    golden('fragment-nic.xml', nicXml(FULL.nics[1]!) + '\n');
  });

  it('has what migration and the console need', () => {
    const xml = domainXml(FULL, OWN, { virtType: 'qemu' }, '/iso');
    assert.match(xml, /^<domain type='qemu'>/);
    assert.match(xml, /<type arch='x86_64' machine='pc'>hvm<\/type>/);
    assert.doesNotMatch(xml, /<cpu|<graphics|<emulator/);
    assert.match(xml, /<log file='\/srv\/kvmstack\/store\/instances\/6f1c2a8e\/console.log' append='off'\/>/);
    assert.match(xml, /<target dev='hda' bus='ide'\/>\n\s+<readonly\/>/);
    assert.match(xml, /<on_poweroff>destroy<\/on_poweroff>\n\s+<on_reboot>restart<\/on_reboot>/);
    assert.equal(domainXml(FULL, OWN, { virtType: 'kvm' }).includes('cdrom'), false);
  });

  it('escapes every interpolated value', () => {
    assert.equal(escapeXml(`<&>"'`), '&lt;&amp;&gt;&quot;&apos;');
    assert.equal(escapeXml('a\tb\nc\rd'), 'a&#9;b&#10;c&#13;d');
    assert.equal(unescapeXml(escapeXml(`${NASTY}\n\t\r é 💾`)), `${NASTY}\n\t\r é 💾`);
    assert.equal(unescapeXml('&#x41;&#66;&lt;'), 'AB<');
    const xml = domainXml(ESCAPING, NASTY_OWN, { virtType: 'qemu' });
    assert.equal(xml.includes('<x>'), false);
    assert.equal(xml.includes('<evil'), false);
    assert.ok(xml.includes('<serial>serial a&lt;b&gt;&amp;c&quot;d&apos;e&lt;/serial&gt;</serial>'));
  });

  it(
    'round-trips nasty values through a real XML parser',
    { skip: python ? false : 'python3 not found' },
    () => {
      const got = parseWithPython(domainXml(ESCAPING, NASTY_OWN, { virtType: 'qemu' }));
      const disk = ESCAPING.disks[0]!;
      assert.deepEqual(got, {
        name: ESCAPING.name,
        disk: disk.path,
        serial: disk.serial,
        bridge: ESCAPING.nics[0]!.bridge,
        log: ESCAPING.consoleLog,
        owner: NASTY_OWN.owner,
        generation: '12',
        strays: '0',
      });
    },
  );

  it('refuses what XML cannot carry and numbers that are not counts', () => {
    const bad = (f: () => unknown) =>
      assert.throws(f, (e: unknown) => e instanceof DriverError && e.kind === 'failed');
    bad(() => escapeXml('nul\u0000'));
    bad(() => escapeXml('lone \uD800 surrogate'));
    bad(() => domainXml({ ...MINIMAL, name: 'bell\u0007' }, OWN, { virtType: 'qemu' }));
    bad(() => domainXml({ ...MINIMAL, vcpus: 1.5 }, OWN, { virtType: 'qemu' }));
    bad(() => domainXml({ ...MINIMAL, memoryMb: 0 }, OWN, { virtType: 'qemu' }));
    bad(() => domainXml(MINIMAL, { generation: -1, owner: 'h' }, { virtType: 'qemu' }));
    bad(() => nicXml({ mac: '52:54:00:00:00:01', bridge: 'b', mtu: NaN }));
    bad(() => nicXml({ mac: '52:54:00:00:00:01', bridge: 'b', target: 'tap0123456789abc' }));
    bad(() => nicXml({ mac: '52:54:00:00:00:01', bridge: 'b', target: 'vnet0' }));
    bad(() => nicXml({ mac: '52:54:00:00:00:01', bridge: 'b', target: "tap'x" }));
    assert.equal(escapeXml('💾 é'), '💾 é');
  });
});

describe('kvmstack metadata', () => {
  it('round-trips through the generated XML', () => {
    assert.deepEqual(parseInstanceMetadata(domainXml(FULL, OWN, { virtType: 'qemu' })), OWN);
    assert.deepEqual(parseInstanceMetadata(domainXml(ESCAPING, NASTY_OWN, { virtType: 'qemu' })), NASTY_OWN);
  });

  it('reads the form libvirt returns, whatever the prefix and quotes', () => {
    const libvirt = (el: string) =>
      `<domain type='qemu' id='4'>\n  <name>x</name>\n  <metadata>\n    ${el}\n  </metadata>\n  <devices/>\n</domain>\n`;
    assert.deepEqual(
      parseInstanceMetadata(
        libvirt(`<kvmstack:instance xmlns:kvmstack="${KVMSTACK_NS}" generation="7" owner="h&amp;1&quot;"/>`),
      ),
      { generation: 7, owner: 'h&1"' },
    );
    assert.deepEqual(
      parseInstanceMetadata(
        libvirt(`<k:instance generation='2' owner='b' xmlns:k='${KVMSTACK_NS}'></k:instance>`),
      ),
      { generation: 2, owner: 'b' },
    );
    assert.deepEqual(
      parseInstanceMetadata(
        libvirt(
          `<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1" generation="9" owner="x"/>` +
            `<kvmstack:instance xmlns:kvmstack="${KVMSTACK_NS}" owner="o" generation="1"/>`,
        ),
      ),
      { generation: 1, owner: 'o' },
    );
  });

  it('is null for domains kvmstack did not define or whose element is malformed', () => {
    assert.equal(parseInstanceMetadata(`<domain type='qemu'><name>x</name></domain>`), null);
    assert.equal(
      parseInstanceMetadata(
        `<domain><metadata><a:instance xmlns:a='urn:x' generation='1' owner='o'/></metadata></domain>`,
      ),
      null,
    );
    assert.equal(
      parseInstanceMetadata(
        `<domain><metadata><k:instance xmlns:k='${KVMSTACK_NS}' generation='x' owner='o'/></metadata></domain>`,
      ),
      null,
    );
    assert.equal(
      parseInstanceMetadata(
        `<domain><metadata><k:instance xmlns:k='${KVMSTACK_NS}' generation='1'/></metadata></domain>`,
      ),
      null,
    );
    assert.equal(
      parseInstanceMetadata(
        `<domain><metadata><!-- <k:instance xmlns:k='${KVMSTACK_NS}' generation='1' owner='o'/> --></metadata></domain>`,
      ),
      null,
    );
  });

  it('has the unprefixed form virsh metadata --set takes', () => {
    assert.equal(
      instanceMetadataXml({ generation: 4, owner: `b&'` }),
      `<instance generation='4' owner='b&amp;&apos;'/>`,
    );
  });
});

describe('findDeviceXml', () => {
  const live = `<domain type='qemu' id='1'>
  <metadata><kvmstack:instance xmlns:kvmstack="${KVMSTACK_NS}" generation="1" owner="h"/></metadata>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='/s/disk.qcow2' index='2'/>
      <backingStore type='file' index='3'>
        <format type='qcow2'/>
        <source file='/s/img.qcow2'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='/s/v&amp;1.raw' index='4'/>
      <target dev="vdb" bus="virtio"/>
      <serial>vol-1</serial>
    </disk>
    <interface type='bridge'>
      <mac address='52:54:00:AB:00:01'/>
      <source bridge='br0'/>
      <target dev='vnet0'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>`;

  it('finds a disk by guest target and an interface by MAC, as libvirt wrote them', () => {
    const vdb = findDeviceXml(live, 'disk', 'vdb') ?? '';
    assert.ok(vdb.startsWith(`<disk type='file' device='disk'>`) && vdb.endsWith('</disk>'));
    assert.match(vdb, /v&amp;1\.raw/);
    assert.match(findDeviceXml(live, 'disk', 'vda') ?? '', /virtio-disk0/);
    assert.match(findDeviceXml(live, 'interface', '52:54:00:ab:00:01') ?? '', /vnet0/);
    assert.equal(findDeviceXml(live, 'disk', 'vdc'), null);
    assert.equal(findDeviceXml(live, 'interface', '52:54:00:ab:00:02'), null);
    // The interface's <target dev='vnet0'/> is not a disk target.
    assert.equal(findDeviceXml(live, 'disk', 'vnet0'), null);
  });
});
