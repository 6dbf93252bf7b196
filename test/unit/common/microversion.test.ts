import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadRequest, NotAcceptable } from '../../../src/common/errors.js';
import {
  Microversion,
  microversionHeaders,
  negotiateMicroversion,
} from '../../../src/common/microversion.js';
import { COMPUTE_MICROVERSIONS, advertisedComputeMax } from '../../../src/compute/microversions.js';
import { VOLUME_MICROVERSIONS } from '../../../src/volume/index.js';

const headers = (h: Record<string, string>) => (name: string) => h[name.toLowerCase()];

describe('microversions', () => {
  it('no header means the minimum, latest the maximum', () => {
    assert.equal(String(negotiateMicroversion(COMPUTE_MICROVERSIONS, headers({}))), '2.1');
    assert.equal(
      String(
        negotiateMicroversion(COMPUTE_MICROVERSIONS, headers({ 'x-openstack-nova-api-version': 'latest' })),
      ),
      '2.79',
    );
    assert.equal(String(negotiateMicroversion(VOLUME_MICROVERSIONS, headers({}))), '3.0');
  });

  it('reads OpenStack-API-Version (comma lists too) before the legacy header', () => {
    const v = negotiateMicroversion(
      COMPUTE_MICROVERSIONS,
      headers({
        'openstack-api-version': 'volume 3.5, compute 2.53',
        'x-openstack-nova-api-version': '2.10',
      }),
    );
    assert.equal(String(v), '2.53');
    assert.equal(
      String(
        negotiateMicroversion(COMPUTE_MICROVERSIONS, headers({ 'x-openstack-nova-api-version': '2.13' })),
      ),
      '2.13',
    );
    assert.equal(
      String(
        negotiateMicroversion(VOLUME_MICROVERSIONS, headers({ 'openstack-api-version': 'volume 3.27' })),
      ),
      '3.27',
    );
  });

  it('406 outside the range, 400 for a malformed version', () => {
    assert.throws(
      () =>
        negotiateMicroversion(COMPUTE_MICROVERSIONS, headers({ 'x-openstack-nova-api-version': '2.200' })),
      NotAcceptable,
    );
    assert.throws(
      () => negotiateMicroversion(COMPUTE_MICROVERSIONS, headers({ 'x-openstack-nova-api-version': '3.0' })),
      NotAcceptable,
    );
    assert.throws(
      () => negotiateMicroversion(COMPUTE_MICROVERSIONS, headers({ 'x-openstack-nova-api-version': '2.x' })),
      BadRequest,
    );
    assert.throws(
      () => negotiateMicroversion(COMPUTE_MICROVERSIONS, headers({ 'x-openstack-nova-api-version': '02.1' })),
      BadRequest,
    );
  });

  it('compares numerically, not as text', () => {
    const v = Microversion.parse('2.10');
    assert.ok(v.atLeast('2.9'));
    assert.ok(!v.atLeast('2.11'));
    assert.ok(v.within('2.1', '2.10'));
    assert.ok(!v.within('2.11'));
  });

  it('echoes the version in both headers with Vary', () => {
    assert.deepEqual(microversionHeaders(COMPUTE_MICROVERSIONS, Microversion.parse('2.53')), {
      'OpenStack-API-Version': 'compute 2.53',
      'X-OpenStack-Nova-API-Version': '2.53',
      Vary: 'OpenStack-API-Version, X-OpenStack-Nova-API-Version',
    });
  });

  it('python-novaclient sees at most novaclient_max_microversion; everyone else the full range', () => {
    assert.equal(advertisedComputeMax('python-novaclient', '2.13'), '2.13');
    assert.equal(advertisedComputeMax('python-novaclient/18.1.0 keystoneauth1/5.0.0', '2.13'), '2.13');
    assert.equal(advertisedComputeMax('openstacksdk/0.101.0 keystoneauth1/5.0.0', '2.13'), '2.79');
    assert.equal(advertisedComputeMax('python-novaclient', ''), '2.79');
    assert.equal(advertisedComputeMax('python-novaclient', '2.90'), '2.79');
  });
});
