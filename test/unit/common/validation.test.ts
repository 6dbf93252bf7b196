import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadRequest } from '../../../src/common/errors.js';
import { Microversion } from '../../../src/common/microversion.js';
import { schemaFor, validate } from '../../../src/common/validation.js';

const schema = {
  type: 'object',
  properties: {
    server: {
      type: 'object',
      properties: { name: { type: 'string' } },
      required: ['name'],
      additionalProperties: false,
    },
  },
  required: ['server'],
  additionalProperties: false,
};

describe('validation', () => {
  it('accepts a valid body and explains an invalid one in OpenStack style', () => {
    validate(schema, { server: { name: 'vm1' } });
    const msg = (body: unknown) => {
      try {
        validate(schema, body);
      } catch (e) {
        assert.ok(e instanceof BadRequest);
        return e.message;
      }
      assert.fail('expected a BadRequest');
    };
    assert.equal(
      msg({ server: { name: 1 } }),
      "Invalid input for field 'server/name': 1 is not of type 'string'",
    );
    assert.equal(msg({ server: {} }), "Invalid input for field 'server': 'name' is a required property");
    assert.equal(
      msg({ server: { name: 'a', x: 1 } }),
      "Invalid input for field 'server': Additional properties are not allowed ('x' was unexpected)",
    );
    assert.equal(msg({}), "Invalid input for field '(request body)': 'server' is a required property");
  });

  it('picks the schema of the request microversion', () => {
    const a = { type: 'object' };
    const b = { type: 'array' };
    const versions = [
      { min: '2.1', max: '2.36', schema: a },
      { min: '2.37', schema: b },
    ];
    assert.equal(schemaFor(versions, Microversion.parse('2.10')), a);
    assert.equal(schemaFor(versions, Microversion.parse('2.37')), b);
    assert.equal(schemaFor([{ min: '2.50', schema: a }], Microversion.parse('2.1')), null);
  });
});
