import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Knex } from 'knex';
import { BadRequest } from '../../../src/common/errors.js';
import { fetchPage, nextLinks, parsePageRequest } from '../../../src/common/paging.js';
import { openDatabase } from '../../../src/db/connection.js';

describe('limit/marker paging', () => {
  let db: Knex;
  before(async () => {
    db = openDatabase('sqlite://:memory:');
    await db.schema.createTable('things', (t) => {
      t.string('id').primary();
      t.bigInteger('created_at');
    });
    // ids deliberately not in created_at order; two rows share a created_at
    await db('things').insert([
      { id: 'e', created_at: 1 },
      { id: 'a', created_at: 2 },
      { id: 'c', created_at: 2 },
      { id: 'b', created_at: 3 },
      { id: 'd', created_at: 4 },
    ]);
  });
  after(() => db.destroy());

  it('parses limit and marker; caps limit; refuses non-integers', () => {
    assert.deepEqual(parsePageRequest({}, 1000), { limit: 1000, marker: null });
    assert.deepEqual(parsePageRequest({ limit: '2', marker: 'x' }, 1000), { limit: 2, marker: 'x' });
    assert.equal(parsePageRequest({ limit: '5000' }, 1000).limit, 1000);
    assert.throws(() => parsePageRequest({ limit: '-1' }, 1000), BadRequest);
    assert.throws(() => parsePageRequest({ limit: 'ten' }, 1000), BadRequest);
  });

  it('walks every row exactly once in (sort key, id) order, with ties', async () => {
    const seen: string[] = [];
    let marker: string | null = null;
    for (let i = 0; i < 10; i++) {
      const { rows, hasMore }: { rows: { id: string }[]; hasMore: boolean } = await fetchPage(
        db('things').select('*'),
        'things',
        { limit: 2, marker },
        { sortKey: 'created_at' },
      );
      seen.push(...rows.map((r) => r.id));
      if (!hasMore) break;
      marker = rows[rows.length - 1].id;
    }
    assert.deepEqual(seen, ['e', 'a', 'c', 'b', 'd']);
  });

  it('descending order, and an unknown marker is a 400', async () => {
    const { rows } = await fetchPage<{ id: string }>(
      db('things').select('*'),
      'things',
      { limit: 3, marker: 'b' },
      { sortKey: 'created_at', direction: 'desc' },
    );
    assert.deepEqual(
      rows.map((r) => r.id),
      ['c', 'a', 'e'],
    );
    await assert.rejects(
      fetchPage(db('things').select('*'), 'things', { limit: 3, marker: 'zz' }),
      /marker \[zz\] not found/,
    );
  });

  it('builds the next link only when there is a next page', () => {
    const url = new URL('http://h/compute/v2.1/servers/detail?name=x&limit=2');
    assert.deepEqual(nextLinks(url, 'c', true, 2), [
      { rel: 'next', href: 'http://h/compute/v2.1/servers/detail?name=x&limit=2&marker=c' },
    ]);
    assert.deepEqual(nextLinks(url, 'c', false, 2), []);
  });
});
