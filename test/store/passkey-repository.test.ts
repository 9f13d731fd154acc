/**
 * Contract of PasskeyRepository (server/store/repositories/passkey-repository.ts) on each database,
 * migrated as the server migrates it: credentials (BLOB/BYTEA keys), challenges consumed once, counters
 * that only move forward even under concurrent units of work, sign-offs, statements joining the caller's
 * unit of work, and rows that do not decode: a clear error naming table and column, never a wrong value.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { PasskeyRepository, type NewSignOff } from '../../server/store/repositories/passkey-repository.ts';
import { isUniqueViolation, type Database } from '../../server/store/sql.ts';
import { onEachDatabase, openTestStorage, type DatabaseKind } from '../helpers/databases.ts';

async function open(kind: DatabaseKind): Promise<{ db: Database; repo: PasskeyRepository; user: (name: string) => Promise<number> }> {
  const { db } = await openTestStorage(kind);
  const user = async (name: string) => (await db.get<{ id: number }>("INSERT INTO users (username, role) VALUES (?, 'approver') RETURNING id", [name]))!.id;
  return { db, repo: new PasskeyRepository(db), user };
}

const KEY = new Uint8Array([1, 2, 3, 4]);
const HASH = 'ab'.repeat(32);
const rolledBack = new Error('rolled back');

function signOff(userId: number, over: Partial<NewSignOff> = {}): NewSignOff {
  return {
    changeId: 'chg-1', revision: 1, revisionHash: HASH, userId, credentialId: 'cred-a',
    assertion: '{"id":"cred-a"}', receipt: '{"v":1}', at: '2026-03-01T10:00:00.000Z', ...over,
  };
}

onEachDatabase('PasskeyRepository', (kind) => {
  it('credentials: insert, list per user, find, counter', async () => {
    const { repo, user } = await open(kind);
    const alice = await user('alice');
    const bob = await user('bob');
    await repo.insertCredential({ id: 'cred-b', userId: alice, publicKey: KEY, counter: 0, transports: ['internal'] });
    await repo.insertCredential({ id: 'cred-a', userId: alice, publicKey: KEY, counter: 7, transports: [] });
    await repo.insertCredential({ id: 'cred-c', userId: bob, publicKey: KEY, counter: 0, transports: ['usb', 'nfc'] });
    await assert.rejects(repo.insertCredential({ id: 'cred-a', userId: bob, publicKey: KEY, counter: 0, transports: [] }), (err: unknown) => isUniqueViolation(err));

    const mine = await repo.credentialsOf(alice);
    // Oldest first (created_at, then id); both may share one millisecond here, so compare as a set.
    assert.deepEqual(mine.map((c) => c.id).sort(), ['cred-a', 'cred-b']);
    const a = (await repo.credential('cred-a'))!;
    assert.equal(a.userId, alice);
    assert.equal(a.counter, 7);
    assert.deepEqual(a.transports, []);
    assert.ok(a.publicKey instanceof Uint8Array);
    assert.deepEqual([...a.publicKey], [...KEY]);
    assert.match(a.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual((await repo.credential('cred-c'))!.transports, ['usb', 'nfc']);
    assert.equal(await repo.credential('nope'), null);
    assert.equal(await repo.credentialExists('cred-b'), true);
    assert.equal(await repo.credentialExists('nope'), false);
    assert.equal(await repo.counter('cred-a'), 7);
    assert.equal(await repo.counter('nope'), null);
    assert.deepEqual(await repo.credentialsOf(await user('carol')), []);
  });

  it('counters only move forward: strictly greater, or 0 after 0', async () => {
    const { repo, user } = await open(kind);
    const alice = await user('alice');
    await repo.insertCredential({ id: 'cred-a', userId: alice, publicKey: KEY, counter: 7, transports: [] });
    await repo.insertCredential({ id: 'cred-z', userId: alice, publicKey: KEY, counter: 0, transports: [] });
    assert.equal(await repo.advanceCounter('cred-a', 7), false, 'equal');
    assert.equal(await repo.advanceCounter('cred-a', 3), false, 'backwards');
    assert.equal(await repo.advanceCounter('cred-a', 0), false, '0 after a non-zero counter');
    assert.equal(await repo.counter('cred-a'), 7);
    assert.equal(await repo.advanceCounter('cred-a', 9), true);
    assert.equal(await repo.counter('cred-a'), 9);
    assert.equal(await repo.advanceCounter('cred-z', 0), true, 'an authenticator without a counter');
    assert.equal(await repo.counter('cred-z'), 0);
    assert.equal(await repo.advanceCounter('nope', 1), false);
  });

  it('a counter advanced by a concurrent unit of work is checked against its committed value', async () => {
    const { db, repo, user } = await open(kind);
    const alice = await user('alice');
    await repo.insertCredential({ id: 'cred-a', userId: alice, publicKey: KEY, counter: 5, transports: [] });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let advanced!: () => void;
    const firstAdvanced = new Promise<void>((resolve) => (advanced = resolve));
    const first = db.transaction(async () => {
      const ok = await repo.advanceCounter('cred-a', 7);
      advanced();
      await gate; // holds the row (PostgreSQL) or the connection (SQLite) until the second has started
      return ok;
    });
    await firstAdvanced;
    // Read before the first commits, 6 would advance 5; it must be refused against the committed 7.
    const second = db.transaction(() => repo.advanceCounter('cred-a', 6));
    setTimeout(release, 50);
    assert.deepEqual(await Promise.all([first, second]), [true, false]);
    assert.equal(await repo.counter('cred-a'), 7);
  });

  it('challenges: insert, find, consume once, prune the expired', async () => {
    const { repo, user } = await open(kind);
    const alice = await user('alice');
    await repo.insertChallenge({ challenge: 'reg-1', userId: alice, purpose: 'register', changeId: null, revision: null, revisionHash: null, nonce: null, expiresAt: 1_000 });
    await repo.insertChallenge({ challenge: 'so-1', userId: alice, purpose: 'signoff', changeId: 'chg-1', revision: 2, revisionHash: HASH, nonce: 'n0nce', expiresAt: 5_000 });

    assert.deepEqual(await repo.challenge('so-1'), {
      challenge: 'so-1', userId: alice, purpose: 'signoff', changeId: 'chg-1', revision: 2, revisionHash: HASH, nonce: 'n0nce', expiresAt: 5_000, used: false,
    });
    assert.equal((await repo.challenge('reg-1'))!.revision, null);
    assert.equal(await repo.challenge('nope'), null);

    assert.equal(await repo.consumeChallenge('so-1'), true);
    assert.equal(await repo.consumeChallenge('so-1'), false, 'a challenge is consumed once');
    assert.equal(await repo.consumeChallenge('nope'), false);
    assert.equal((await repo.challenge('so-1'))!.used, true);

    await repo.pruneChallenges(2_000);
    assert.equal(await repo.challenge('reg-1'), null);
    assert.notEqual(await repo.challenge('so-1'), null);
  });

  it('a challenge consumed by two units of work at once is consumed by one', async () => {
    const { db, repo, user } = await open(kind);
    const alice = await user('alice');
    await repo.insertChallenge({ challenge: 'so-1', userId: alice, purpose: 'signoff', changeId: 'chg-1', revision: 1, revisionHash: HASH, nonce: 'n', expiresAt: 9e12 });
    const results = await Promise.all([1, 2, 3].map(() => db.transaction(() => repo.consumeChallenge('so-1'))));
    assert.deepEqual(results.sort(), [false, false, true]);
  });

  it('sign-offs: insert, one per (change, revision, user), listed in order with the approver', async () => {
    const { repo, user } = await open(kind);
    const alice = await user('alice');
    const bob = await user('bob');
    await repo.insertCredential({ id: 'cred-a', userId: alice, publicKey: KEY, counter: 0, transports: [] });
    await repo.insertCredential({ id: 'cred-b', userId: bob, publicKey: KEY, counter: 0, transports: [] });

    const first = await repo.insertSignOff(signOff(bob, { credentialId: 'cred-b' }));
    const second = await repo.insertSignOff(signOff(alice, { receipt: '{"v":1,"approver":"alice"}' }));
    await repo.insertSignOff(signOff(alice, { changeId: 'chg-2' }));
    assert.ok(first > 0);
    assert.ok(second > first);
    await assert.rejects(repo.insertSignOff(signOff(alice)), (err: unknown) => isUniqueViolation(err));

    assert.equal(await repo.hasSignedOff('chg-1', 1, alice), true);
    assert.equal(await repo.hasSignedOff('chg-1', 2, alice), false);
    assert.equal(await repo.hasSignedOff('chg-3', 1, alice), false);

    assert.deepEqual(await repo.signOffsOf('chg-1'), [
      { approver: 'bob', revision: 1, revisionHash: HASH, credentialId: 'cred-b', at: '2026-03-01T10:00:00.000Z', receipt: { v: 1 }, assertion: { id: 'cred-a' } },
      { approver: 'alice', revision: 1, revisionHash: HASH, credentialId: 'cred-a', at: '2026-03-01T10:00:00.000Z', receipt: { v: 1, approver: 'alice' }, assertion: { id: 'cred-a' } },
    ]);
    assert.deepEqual(await repo.signOffsOf('chg-none'), []);
  });

  it("a unit of work: writes commit together, or roll back together with the caller's own writes", async () => {
    const { db, repo, user } = await open(kind);
    const alice = await user('alice');
    await repo.insertCredential({ id: 'cred-a', userId: alice, publicKey: KEY, counter: 0, transports: [] });
    await repo.insertChallenge({ challenge: 'so-1', userId: alice, purpose: 'signoff', changeId: 'chg-1', revision: 1, revisionHash: HASH, nonce: 'n', expiresAt: 9e12 });

    await assert.rejects(db.transaction(async () => {
      await repo.consumeChallenge('so-1');
      await repo.advanceCounter('cred-a', 5);
      await repo.insertSignOff(signOff(alice));
      await db.run("INSERT INTO users (username, role) VALUES ('audit-side-effect', 'viewer')");
      throw new Error('refused by the caller');
    }), /refused by the caller/);
    assert.equal((await repo.challenge('so-1'))!.used, false);
    assert.equal(await repo.counter('cred-a'), 0);
    assert.deepEqual(await repo.signOffsOf('chg-1'), []);
    assert.equal(await db.get("SELECT 1 AS found FROM users WHERE username = 'audit-side-effect'"), undefined);

    const id = await db.transaction(async () => {
      assert.equal(db.inTransaction, true);
      await repo.consumeChallenge('so-1');
      await repo.advanceCounter('cred-a', 5);
      return repo.insertSignOff(signOff(alice));
    });
    assert.equal(db.inTransaction, false);
    assert.ok(id > 0);
    assert.equal((await repo.challenge('so-1'))!.used, true);
    assert.equal(await repo.counter('cred-a'), 5);
    assert.equal((await repo.signOffsOf('chg-1')).length, 1);
  });

  it('a corrupted column is a clear error naming table and column, never a wrong value', async () => {
    const { db, repo, user } = await open(kind);
    const alice = await user('alice');
    await repo.insertCredential({ id: 'cred-a', userId: alice, publicKey: KEY, counter: 0, transports: [] });
    await repo.insertChallenge({ challenge: 'so-1', userId: alice, purpose: 'signoff', changeId: 'chg-1', revision: 1, revisionHash: HASH, nonce: 'n', expiresAt: 9e12 });
    await repo.insertSignOff(signOff(alice));

    /**
     * Writes a wrong value and reads it, in a unit of work that is then rolled back. On PostgreSQL the
     * column is first made TEXT (DDL is transactional there too): only SQLite's columns take any type.
     */
    const corrupt = async (loosen: string | null, sql: string, params: (string | Uint8Array)[], read: () => Promise<unknown>, message: RegExp) => {
      await assert.rejects(db.transaction(async () => {
        if (kind === 'postgres' && loosen) {
          const [table, column] = loosen.split('.');
          await db.run(`ALTER TABLE ${table} ALTER COLUMN ${column} DROP DEFAULT, ALTER COLUMN ${column} TYPE TEXT USING ${column}::text`);
        }
        await db.run(sql, params);
        await assert.rejects(read(), message);
        throw rolledBack;
      }), (err: unknown) => err === rolledBack);
    };
    await corrupt('signoffs.revision', "UPDATE signoffs SET revision = 'two'", [], () => repo.signOffsOf('chg-1'), /corrupt row in signoffs: column revision should be an integer, found string/);
    await corrupt('signoffs.revision', "UPDATE signoffs SET revision = '1.5'", [], () => repo.signOffsOf('chg-1'), /signoffs: column revision should be an integer/);
    await corrupt(null, "UPDATE signoffs SET receipt = '{not json'", [], () => repo.signOffsOf('chg-1'), /corrupt row in signoffs: column receipt should be JSON text/);
    await corrupt('webauthn_credentials.counter', "UPDATE webauthn_credentials SET counter = 'x'", [], () => repo.counter('cred-a'), /webauthn_credentials: column counter should be an integer/);
    await corrupt('webauthn_credentials.counter', "UPDATE webauthn_credentials SET counter = 'x'", [], () => repo.credentialsOf(alice), /webauthn_credentials: column counter/);
    await corrupt(null, `UPDATE webauthn_credentials SET transports = '{"usb":1}'`, [], () => repo.credential('cred-a'), /webauthn_credentials: column transports should be a JSON array of strings/);
    await corrupt('webauthn_credentials.public_key', "UPDATE webauthn_credentials SET public_key = 'AQID'", [], () => repo.credential('cred-a'), /webauthn_credentials: column public_key should be a blob, found string/);
    await corrupt('webauthn_challenges.expires_at', "UPDATE webauthn_challenges SET expires_at = 'soon'", [], () => repo.challenge('so-1'), /webauthn_challenges: column expires_at should be an integer/);
    if (kind === 'sqlite') {
      // Blobs where text belongs: PostgreSQL's TEXT cannot hold one.
      const blob = [new Uint8Array([0x2a])];
      await corrupt(null, 'UPDATE signoffs SET at = ?', blob, () => repo.signOffsOf('chg-1'), /signoffs: column at should be text, found a blob/);
      await corrupt(null, 'UPDATE users SET username = ?', blob, () => repo.signOffsOf('chg-1'), /corrupt row in users: column username should be text, found a blob/);
      await corrupt(null, 'UPDATE webauthn_challenges SET nonce = ?', blob, () => repo.challenge('so-1'), /webauthn_challenges: column nonce should be text or NULL, found a blob/);
    }
    // Untouched rows still read back as stored.
    assert.equal((await repo.signOffsOf('chg-1'))[0]!.revision, 1);
    assert.equal(await repo.counter('cred-a'), 0);
  });
});
