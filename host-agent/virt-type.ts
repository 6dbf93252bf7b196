import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const READY_MARKER = 'KVMSTACK-GUEST-READY';

/**
 * Chooses kvm or qemu (TCG) for `virt_type = auto`. /dev/kvm existing is not enough: on some hosts (e.g.
 * KVM-PVM) a domain of type kvm "runs" but the guest kernel never boots. So the probe boots a real guest
 * under KVM — QEMU directly, in snapshot mode so the image is not changed — and waits for its ready marker
 * on the serial port. Anything short of the marker means TCG.
 */
export async function probeVirtType(
  probeImage: string,
  timeoutMs = 20_000,
): Promise<{ virtType: 'kvm' | 'qemu'; why: string }> {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { virtType: 'qemu', why: '/dev/kvm is missing or not usable' };
  }
  if (!probeImage || !existsSync(probeImage)) {
    return { virtType: 'qemu', why: 'no probe image to test KVM with ([agent] probe_image)' };
  }
  const dir = mkdtempSync(join(tmpdir(), 'kvmstack-probe-'));
  const serial = join(dir, 'serial.log');
  const started = Date.now();
  try {
    await new Promise<void>((resolve) => {
      const child = execFile(
        'qemu-system-x86_64',
        [
          '-accel',
          'kvm',
          '-machine',
          'pc',
          '-m',
          '256',
          '-display',
          'none',
          '-nodefaults',
          '-no-reboot',
          '-snapshot',
          '-drive',
          `file=${probeImage},if=virtio,format=qcow2`,
          '-serial',
          `file:${serial}`,
        ],
        { timeout: timeoutMs },
        () => resolve(),
      );
      const poll = setInterval(() => {
        if (existsSync(serial) && readFileSync(serial, 'utf8').includes(READY_MARKER)) {
          clearInterval(poll);
          child.kill('SIGKILL');
        }
      }, 250);
      child.once('exit', () => clearInterval(poll));
    });
    const booted = existsSync(serial) && readFileSync(serial, 'utf8').includes(READY_MARKER);
    return booted
      ? { virtType: 'kvm', why: `a probe guest booted under KVM in ${Date.now() - started} ms` }
      : { virtType: 'qemu', why: `a probe guest did not boot under KVM within ${timeoutMs} ms` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
