import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  diskSize,
  formatUptime,
  parseHostCpuModel,
  parseHypervisorVersion,
  parseMemTotalMb,
} from '../../../host-agent/driver/host-info.js';

describe('host facts', () => {
  it('reads MemTotal in MiB', () => {
    assert.equal(parseMemTotalMb('MemTotal:       24622556 kB\nMemFree:         1234 kB\n'), 24045);
    assert.throws(() => parseMemTotalMb('MemFree: 1 kB\n'));
  });

  it('packs the running hypervisor version as libvirt does', () => {
    const out =
      'Compiled against library: libvirt 9.0.0\nUsing library: libvirt 9.0.0\nUsing API: QEMU 9.0.0\nRunning hypervisor: QEMU 7.2.0\n';
    assert.equal(parseHypervisorVersion(out), 7002000);
    assert.equal(parseHypervisorVersion('Running hypervisor: QEMU 10.1\n'), 10001000);
    assert.throws(() => parseHypervisorVersion('Using library: libvirt 9.0.0\n'));
  });

  it("takes the CPU model from the host's capabilities, not a guest's", () => {
    const caps = `<capabilities>
  <host>
    <uuid>x</uuid>
    <cpu>
      <arch>x86_64</arch>
      <model>EPYC-Rome</model>
      <vendor>AMD</vendor>
    </cpu>
  </host>
  <guest><arch name='x86_64'><cpu><model>qemu64</model></cpu></arch></guest>
</capabilities>`;
    assert.equal(parseHostCpuModel(caps), 'EPYC-Rome');
    assert.equal(
      parseHostCpuModel('<capabilities><host><cpu><arch>x86_64</arch></cpu></host></capabilities>'),
      null,
    );
  });

  it("prints the host's uptime line as procps does, in the form the openstack CLI parses", () => {
    const at = new Date(2026, 0, 1, 17, 37, 14);
    assert.equal(
      formatUptime(at, 2 * 86_400 + 2 * 3600 + 33 * 60 + 5, '0.33 0.36 0.34 1/123 4567\n'),
      ' 17:37:14 up 2 days,  2:33,  0 users,  load average: 0.33, 0.36, 0.34',
    );
    assert.equal(
      formatUptime(at, 86_400 + 59, '1.00 0.50 0.25 1/1 1'),
      ' 17:37:14 up 1 day, 0 min,  0 users,  load average: 1.00, 0.50, 0.25',
    );
    assert.equal(
      formatUptime(at, 3 * 3600 + 7 * 60, '0 0 0 1/1 1'),
      ' 17:37:14 up  3:07,  0 users,  load average: 0, 0, 0',
    );
    // openstackclient's pattern for `hypervisor show` (compute/v2/hypervisor.py)
    const m = /\s*(.+)\sup\s+(.+),\s+(.+)\susers?,\s+load average:\s(.+)/.exec(
      formatUptime(at, 12 * 60, '0.10 0.20 0.30 1/1 1'),
    );
    assert.deepEqual(m?.slice(1), ['17:37:14', '12 min', '0', '0.10, 0.20, 0.30']);
  });

  it('measures the filesystem of a directory', async () => {
    const d = await diskSize('/');
    assert.ok(d.totalGb >= d.freeGb && d.freeGb >= 0);
  });
});
