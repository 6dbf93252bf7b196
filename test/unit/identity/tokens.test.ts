import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Knex } from 'knex';
import { Unauthorized } from '../../../src/common/errors.js';
import { openDatabase } from '../../../src/db/connection.js';
import { migrateLatest } from '../../../src/db/migrate.js';
import { KeyRepository } from '../../../src/identity/tokens/keys.js';
import { TokenProvider, type TokenGrant } from '../../../src/identity/tokens/provider.js';
import { RevocationList } from '../../../src/identity/tokens/revocation.js';

/** A clock the test moves by hand. */
class FakeClock {
  constructor(public ms = Date.UTC(2026, 0, 1)) {}
  now = () => this.ms;
  advance(seconds: number) {
    this.ms += seconds * 1000;
  }
}

const grant = (over: Partial<TokenGrant> = {}): TokenGrant => ({
  userId: 'u1',
  userDomainId: 'default',
  projectId: 'p1',
  projectDomainId: 'default',
  domainId: null,
  roles: [{ id: 'r1', name: 'member' }],
  methods: ['password'],
  applicationCredentialId: null,
  applicationCredentialRestricted: false,
  ...over,
});

describe('tokens: signing, expiry, revocation, key rotation', () => {
  let db: Knex;
  let keys: KeyRepository;
  const clock = new FakeClock();
  let revocations: RevocationList;
  let provider: TokenProvider;

  before(async () => {
    db = openDatabase('sqlite://:memory:');
    await migrateLatest(db);
    keys = new KeyRepository(mkdtempSync(join(tmpdir(), 'kvmstack-keys-')));
    keys.ensure();
    revocations = new RevocationList(db, clock.now, 3600_000);
    await revocations.refresh();
    provider = new TokenProvider(keys, revocations, clock.now, 3600);
  });
  after(() => db.destroy());

  it('round-trips the claims without a database read', async () => {
    const t = await provider.issue(grant());
    const v = await provider.validate(t.token);
    assert.equal(v.userId, 'u1');
    assert.equal(v.projectId, 'p1');
    assert.deepEqual(v.roles, [{ id: 'r1', name: 'member' }]);
    assert.equal(v.expiresAtMs, t.expiresAtMs);
    assert.equal(v.issuedAtMs, t.issuedAtMs);
    assert.deepEqual(v.auditIds, t.auditIds);
  });

  it('expires after [token] expiration', async () => {
    const t = await provider.issue(grant());
    clock.advance(3599);
    await provider.validate(t.token);
    clock.advance(2);
    await assert.rejects(provider.validate(t.token), Unauthorized);
  });

  it('revocation by audit id, by user, by project applies only to tokens issued before it', async () => {
    const a = await provider.issue(grant());
    const b = await provider.issue(grant({ userId: 'u2' }));
    await revocations.revoke({ audit_id: a.auditIds[0] });
    await assert.rejects(provider.validate(a.token), Unauthorized);
    await provider.validate(b.token);

    await revocations.revoke({ user_id: 'u2' });
    await assert.rejects(provider.validate(b.token), Unauthorized);
    clock.advance(1);
    const fresh = await provider.issue(grant({ userId: 'u2' }));
    await provider.validate(fresh.token);

    const c = await provider.issue(grant({ userId: 'u3', projectId: 'p9' }));
    const d = await provider.issue(grant({ userId: 'u3', projectId: 'p8' }));
    await revocations.revoke({ user_id: 'u3', project_id: 'p9' });
    await assert.rejects(provider.validate(c.token), Unauthorized);
    await provider.validate(d.token);
  });

  it('another process sees a revocation after its refresh', async () => {
    const other = new RevocationList(db, clock.now, 3600_000);
    await other.refresh();
    const otherProvider = new TokenProvider(keys, other, clock.now, 3600);
    const t = await provider.issue(grant({ userId: 'u5' }));
    await otherProvider.validate(t.token);
    await revocations.revoke({ audit_id: t.auditIds[0] });
    await otherProvider.validate(t.token); // not yet refreshed: still valid there
    await other.refresh();
    await assert.rejects(otherProvider.validate(t.token), Unauthorized);
  });

  it('events older than the token lifetime are forgotten', async () => {
    const list = new RevocationList(db, clock.now, 3600_000);
    await list.refresh();
    const before = list.size;
    assert.ok(before > 0);
    clock.advance(3601);
    await list.refresh();
    assert.equal(list.size, 0);
    assert.ok((await list.purge()) >= before);
  });

  it('after a rotation old tokens still validate until their key is pruned', async () => {
    const old = await provider.issue(grant());
    const oldKid = JSON.parse(Buffer.from(old.token.split('.')[0], 'base64url').toString()).kid;
    keys.rotate(2);
    const fresh = await provider.issue(grant());
    const freshKid = JSON.parse(Buffer.from(fresh.token.split('.')[0], 'base64url').toString()).kid;
    assert.notEqual(oldKid, freshKid);
    const validator = new TokenProvider(new KeyRepository(keys.dir), revocations, clock.now, 3600);
    await validator.validate(old.token);
    await validator.validate(fresh.token);
    keys.rotate(2); // keeps the 2 newest: old key's public half is removed
    const later = new TokenProvider(new KeyRepository(keys.dir), revocations, clock.now, 3600);
    await assert.rejects(later.validate(old.token), Unauthorized);
    await later.validate(fresh.token);
  });
});
