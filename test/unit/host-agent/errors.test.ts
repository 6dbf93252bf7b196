import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeadConnection, kindOf, toDriverError } from '../../../host-agent/driver/errors.js';
import { DriverError } from '../../../host-agent/driver/types.js';

describe('libvirt errors', () => {
  it('maps messages to DriverError kinds', () => {
    assert.equal(kindOf("Domain not found: no domain with matching uuid '1'"), 'not_found');
    assert.equal(kindOf("error: failed to get domain 'x'"), 'not_found');
    assert.equal(
      kindOf(
        'internal error: process exited while connecting to monitor: qemu-system-x86_64: -blockdev {...}: ' +
          'Failed to get "write" lock\nIs another process using the image [/s/disk.qcow2]?',
      ),
      'conflict',
    );
    assert.equal(kindOf("resource busy: Lockspace resource '/s/disk.qcow2' is locked"), 'conflict');
    assert.equal(kindOf("operation failed: domain 'vm' is already active"), 'conflict');
    assert.equal(kindOf('Requested operation is not valid: domain is not running'), 'conflict');
    assert.equal(kindOf("Cannot access storage file '/s/x.qcow2': No such file or directory"), 'failed');
  });

  it('recognizes a connection the binding will never recover', () => {
    assert.equal(isDeadConnection(new Error('internal error: client socket is closed')), true);
    assert.equal(isDeadConnection(new Error('Domain not found')), false);
  });

  it('keeps DriverErrors and prefixes others with what was being done', () => {
    const d = new DriverError('x', 'conflict');
    assert.equal(toDriverError(d, 'starting'), d);
    const e = toDriverError(new Error('Domain not found: no domain'), 'starting u1');
    assert.equal(e.kind, 'not_found');
    assert.equal(e.message, 'starting u1: Domain not found: no domain');
  });
});
