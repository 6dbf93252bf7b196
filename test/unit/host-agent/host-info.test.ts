import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  diskSize,
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

  it('measures the filesystem of a directory', async () => {
    const d = await diskSize('/');
    assert.ok(d.totalGb >= d.freeGb && d.freeGb >= 0);
  });
});
