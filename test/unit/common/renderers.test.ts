import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotFound, OverQuota } from '../../../src/common/errors.js';
import {
  renderGlanceError,
  renderKeystoneError,
  renderNeutronError,
  renderNovaFault,
} from '../../../src/common/http/renderers.js';

describe('error bodies per service', () => {
  it('Keystone: {"error": {code, title, message}}', () => {
    assert.deepEqual(renderKeystoneError(404, 'Could not find project: x.', null).body, {
      error: { code: 404, title: 'Not Found', message: 'Could not find project: x.' },
    });
  });
  it('Nova/Cinder: fault name by status; quota is overLimit even as 403', () => {
    assert.deepEqual(renderNovaFault(404, 'Instance x could not be found.', new NotFound('')).body, {
      itemNotFound: { code: 404, message: 'Instance x could not be found.' },
    });
    assert.deepEqual(renderNovaFault(409, 'busy', null).body, {
      conflictingRequest: { code: 409, message: 'busy' },
    });
    assert.deepEqual(renderNovaFault(406, 'bad version', null).body, {
      HTTPNotAcceptable: { code: 406, message: 'bad version' },
    });
    assert.deepEqual(renderNovaFault(403, 'Quota exceeded', new OverQuota('Quota exceeded')).body, {
      overLimit: { code: 403, message: 'Quota exceeded' },
    });
    assert.deepEqual(renderNovaFault(500, 'boom', null).body, {
      computeFault: { code: 500, message: 'boom' },
    });
  });
  it('Neutron: {"NeutronError": {type, message, detail}}', () => {
    assert.deepEqual(
      renderNeutronError(404, 'Port p could not be found.', new NotFound('', { type: 'PortNotFound' })).body,
      {
        NeutronError: { type: 'PortNotFound', message: 'Port p could not be found.', detail: '' },
      },
    );
    assert.equal(
      (renderNeutronError(409, 'x', null).body as { NeutronError: { type: string } }).NeutronError.type,
      'HTTPConflict',
    );
  });
  it('Glance: plain text', () => {
    const out = renderGlanceError(404, 'No image found with ID x', null);
    assert.equal(out.contentType, 'text/plain; charset=UTF-8');
    assert.match(out.body as string, /^404 Not Found\n\nNo image found with ID x/);
  });
});
