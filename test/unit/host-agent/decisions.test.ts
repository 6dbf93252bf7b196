import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DomainSpec, DomainStatus } from '../../../host-agent/driver/types.js';
import { GenerationBook, StaleGeneration } from '../../../host-agent/generation.js';
import { planReconcile } from '../../../host-agent/reconcile.js';

const spec = (uuid: string): DomainSpec => ({
  uuid,
  name: `i-${uuid.slice(0, 8)}`,
  vcpus: 1,
  memoryMb: 256,
  disks: [{ target: 'vda', path: `/s/${uuid}/disk`, format: 'qcow2' }],
  nics: [],
  consoleLog: `/s/${uuid}/console.log`,
});
const dom = (
  uuid: string,
  generation: number | null,
  state: DomainStatus['state'] = 'running',
): DomainStatus => ({
  uuid,
  name: `i-${uuid.slice(0, 8)}`,
  state,
  generation,
  owner: generation === null ? null : 'me',
  persistent: true,
});

describe('generations', () => {
  it('refuses a command older than the newest generation seen, from the book or the domain', () => {
    const book = new GenerationBook({ a: 3 });
    book.check('a', 3);
    book.check('a', 4);
    assert.throws(() => book.check('a', 2), StaleGeneration);
    assert.throws(() => book.check('b', 1, 2), StaleGeneration, 'the domain metadata counts too');
    assert.equal(book.record('a', 5), true);
    assert.equal(book.record('a', 4), false, 'never goes back');
    assert.deepEqual(book.toJSON(), { a: 5 });
  });
});

describe('reconcile planning', () => {
  it('defines what this host owns but lacks, or holds at an older generation; never starts anything', () => {
    const actions = planReconcile(
      [dom('a', 1), dom('b', 2, 'shutoff')],
      {
        owned: [
          { uuid: 'a', generation: 3, desired_power: 'running', spec: spec('a') },
          { uuid: 'b', generation: 2, desired_power: 'running', spec: spec('b') },
          { uuid: 'c', generation: 1, desired_power: 'running', spec: spec('c') },
        ],
        others: [],
      },
      'me',
    );
    assert.deepEqual(
      actions.map((a) => [a.kind, a.uuid]),
      [
        ['define', 'a'],
        ['define', 'c'],
      ],
    );
  });

  it('destroys a stale copy another host owns, leaves unknown and foreign (non-kvmstack) domains alone', () => {
    const actions = planReconcile(
      [dom('moved', 4), dom('unknown', 1), dom('not-ours', null)],
      {
        owned: [],
        others: [
          { uuid: 'moved', owner: 'other-host', generation: 5 },
          { uuid: 'unknown', owner: null, generation: null },
        ],
      },
      'me',
    );
    assert.deepEqual(
      actions.map((a) => [a.kind, a.uuid]),
      [
        ['destroy-and-undefine', 'moved'],
        ['report', 'unknown'],
      ],
    );
  });

  it('removes a domain whose server was deleted while this host was away (the tombstone of a local delete)', () => {
    const actions = planReconcile(
      [dom('gone', 3), dom('unknown', 1)],
      {
        owned: [],
        others: [
          { uuid: 'gone', owner: null, generation: null, deleted: true },
          { uuid: 'unknown', owner: null, generation: null },
        ],
      },
      'me',
    );
    assert.deepEqual(
      actions.map((a) => [a.kind, a.uuid]),
      [
        ['remove-deleted', 'gone'],
        ['report', 'unknown'],
      ],
    );
  });

  it('reports, without acting, a local generation newer than the database', () => {
    const actions = planReconcile(
      [dom('a', 7)],
      { owned: [{ uuid: 'a', generation: 6, desired_power: 'running', spec: spec('a') }], others: [] },
      'me',
    );
    assert.deepEqual(
      actions.map((a) => a.kind),
      ['report'],
    );
  });
});
