import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DatabaseSync } from 'node:sqlite';
import { openDatabase } from '../../server/store/sqlite/database.ts';
import { PasskeyRepository, type NewSignOff } from '../../server/store/sqlite/passkey-repository.ts';
import { tempDir } from '../helpers/server.ts';

function open(): { db: DatabaseSync; repo: PasskeyRepository; user: (name: string) => number } {
  const db = openDatabase(tempDir());
  after(() => db.close());
  const user = (name: string) => Number(db.prepare("INSERT INTO users (username, role) VALUES (?, 'approver')").run(name).lastInsertRowid);
  return { db, repo: new PasskeyRepository(db), user };
}

const KEY = new Uint8Array([1, 2, 3, 4]);
const HASH = 'ab'.repeat(32);

function signOff(userId: number, over: Partial<NewSignOff> = {}): NewSignOff {
  return {
    changeId: 'chg-1', revision: 1, revisionHash: HASH, userId, credentialId: 'cred-a',
    assertion: '{"id":"cred-a"}', receipt: '{"v":1}', at: '2026-03-01T10:00:00.000Z', ...over,
  };
}

test('credentials: insert, list per user, find, counter', () => {
  const { repo, user } = open();
  const alice = user('alice');
  const bob = user('bob');
  repo.insertCredential({ id: 'cred-b', userId: alice, publicKey: KEY, counter: 0, transports: ['internal'] });
  repo.insertCredential({ id: 'cred-a', userId: alice, publicKey: KEY, counter: 7, transports: [] });
  repo.insertCredential({ id: 'cred-c', userId: bob, publicKey: KEY, counter: 0, transports: ['usb', 'nfc'] });

  const mine = repo.credentialsOf(alice);
  // Oldest first (created_at, then id); both may share one millisecond here, so compare as a set.
  assert.deepEqual(mine.map((c) => c.id).sort(), ['cred-a', 'cred-b']);
  const a = repo.credential('cred-a')!;
  assert.equal(a.userId, alice);
  assert.equal(a.counter, 7);
  assert.deepEqual(a.transports, []);
  assert.deepEqual([...a.publicKey], [...KEY]);
  assert.match(a.createdAt, /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual(repo.credential('cred-c')!.transports, ['usb', 'nfc']);
  assert.equal(repo.credential('nope'), null);
  assert.equal(repo.credentialExists('cred-b'), true);
  assert.equal(repo.credentialExists('nope'), false);

  repo.setCounter('cred-a', 9);
  assert.equal(repo.counter('cred-a'), 9);
  assert.equal(repo.counter('nope'), null);
  assert.deepEqual(repo.credentialsOf(user('carol')), []);
});

test('challenges: insert, find, consume once, prune the expired', () => {
  const { repo, user } = open();
  const alice = user('alice');
  repo.insertChallenge({ challenge: 'reg-1', userId: alice, purpose: 'register', changeId: null, revision: null, revisionHash: null, nonce: null, expiresAt: 1_000 });
  repo.insertChallenge({ challenge: 'so-1', userId: alice, purpose: 'signoff', changeId: 'chg-1', revision: 2, revisionHash: HASH, nonce: 'n0nce', expiresAt: 5_000 });

  assert.deepEqual(repo.challenge('so-1'), {
    challenge: 'so-1', userId: alice, purpose: 'signoff', changeId: 'chg-1', revision: 2, revisionHash: HASH, nonce: 'n0nce', expiresAt: 5_000, used: false,
  });
  assert.equal(repo.challenge('reg-1')!.revision, null);
  assert.equal(repo.challenge('nope'), null);

  assert.equal(repo.consumeChallenge('so-1'), true);
  assert.equal(repo.consumeChallenge('so-1'), false, 'a challenge is consumed once');
  assert.equal(repo.consumeChallenge('nope'), false);
  assert.equal(repo.challenge('so-1')!.used, true);

  repo.pruneChallenges(2_000);
  assert.equal(repo.challenge('reg-1'), null);
  assert.notEqual(repo.challenge('so-1'), null);
});

test('sign-offs: insert, one per (change, revision, user), listed in order with the approver', () => {
  const { repo, user } = open();
  const alice = user('alice');
  const bob = user('bob');
  repo.insertCredential({ id: 'cred-a', userId: alice, publicKey: KEY, counter: 0, transports: [] });
  repo.insertCredential({ id: 'cred-b', userId: bob, publicKey: KEY, counter: 0, transports: [] });

  const first = repo.insertSignOff(signOff(bob, { credentialId: 'cred-b' }));
  const second = repo.insertSignOff(signOff(alice, { receipt: '{"v":1,"approver":"alice"}' }));
  repo.insertSignOff(signOff(alice, { changeId: 'chg-2' }));
  assert.ok(second > first);
  assert.throws(() => repo.insertSignOff(signOff(alice)), /UNIQUE/);

  assert.equal(repo.hasSignedOff('chg-1', 1, alice), true);
  assert.equal(repo.hasSignedOff('chg-1', 2, alice), false);
  assert.equal(repo.hasSignedOff('chg-3', 1, alice), false);

  assert.deepEqual(repo.signOffsOf('chg-1'), [
    { approver: 'bob', revision: 1, revisionHash: HASH, credentialId: 'cred-b', at: '2026-03-01T10:00:00.000Z', receipt: { v: 1 }, assertion: { id: 'cred-a' } },
    { approver: 'alice', revision: 1, revisionHash: HASH, credentialId: 'cred-a', at: '2026-03-01T10:00:00.000Z', receipt: { v: 1, approver: 'alice' }, assertion: { id: 'cred-a' } },
  ]);
  assert.deepEqual(repo.signOffsOf('chg-none'), []);
});

test('inTransaction: writes commit together, or roll back together with the caller\'s own writes', () => {
  const { db, repo, user } = open();
  const alice = user('alice');
  repo.insertCredential({ id: 'cred-a', userId: alice, publicKey: KEY, counter: 0, transports: [] });
  repo.insertChallenge({ challenge: 'so-1', userId: alice, purpose: 'signoff', changeId: 'chg-1', revision: 1, revisionHash: HASH, nonce: 'n', expiresAt: 9e12 });

  assert.throws(() => repo.inTransaction(() => {
    repo.consumeChallenge('so-1');
    repo.setCounter('cred-a', 5);
    repo.insertSignOff(signOff(alice));
    db.prepare("INSERT INTO users (username, role) VALUES ('audit-side-effect', 'viewer')").run();
    throw new Error('refused by the caller');
  }), /refused by the caller/);
  assert.equal(repo.challenge('so-1')!.used, false);
  assert.equal(repo.counter('cred-a'), 0);
  assert.deepEqual(repo.signOffsOf('chg-1'), []);
  assert.equal(db.prepare("SELECT 1 FROM users WHERE username = 'audit-side-effect'").get(), undefined);

  const id = repo.inTransaction(() => {
    assert.equal(db.isTransaction, true);
    repo.consumeChallenge('so-1');
    repo.setCounter('cred-a', 5);
    return repo.insertSignOff(signOff(alice));
  });
  assert.equal(db.isTransaction, false);
  assert.ok(id > 0);
  assert.equal(repo.challenge('so-1')!.used, true);
  assert.equal(repo.counter('cred-a'), 5);
  assert.equal(repo.signOffsOf('chg-1').length, 1);
});

test('a corrupted column is a clear error naming table and column, never a wrong value', () => {
  const { db, repo, user } = open();
  const alice = user('alice');
  repo.insertCredential({ id: 'cred-a', userId: alice, publicKey: KEY, counter: 0, transports: [] });
  repo.insertChallenge({ challenge: 'so-1', userId: alice, purpose: 'signoff', changeId: 'chg-1', revision: 1, revisionHash: HASH, nonce: 'n', expiresAt: 9e12 });
  repo.insertSignOff(signOff(alice));

  const corrupt = (sql: string, read: () => unknown, message: RegExp) => {
    db.exec('SAVEPOINT corrupt');
    try {
      db.exec(sql);
      assert.throws(read, message);
    } finally {
      db.exec('ROLLBACK TO corrupt; RELEASE corrupt');
    }
  };
  corrupt("UPDATE signoffs SET revision = 'two'", () => repo.signOffsOf('chg-1'), /corrupt row in signoffs: column revision should be an integer, found string/);
  corrupt("UPDATE signoffs SET revision = 1.5", () => repo.signOffsOf('chg-1'), /signoffs: column revision should be an integer/);
  corrupt("UPDATE signoffs SET receipt = '{not json'", () => repo.signOffsOf('chg-1'), /corrupt row in signoffs: column receipt should be JSON text/);
  corrupt("UPDATE signoffs SET at = x'00'", () => repo.signOffsOf('chg-1'), /signoffs: column at should be text, found a blob/);
  corrupt("UPDATE users SET username = x'00'", () => repo.signOffsOf('chg-1'), /corrupt row in users: column username should be text, found a blob/);
  corrupt("UPDATE webauthn_credentials SET counter = 'x'", () => repo.counter('cred-a'), /webauthn_credentials: column counter should be an integer/);
  corrupt("UPDATE webauthn_credentials SET counter = 'x'", () => repo.credentialsOf(alice), /webauthn_credentials: column counter/);
  corrupt("UPDATE webauthn_credentials SET transports = '{\"usb\":1}'", () => repo.credential('cred-a'), /webauthn_credentials: column transports should be a JSON array of strings/);
  corrupt("UPDATE webauthn_credentials SET public_key = 'AQID'", () => repo.credential('cred-a'), /webauthn_credentials: column public_key should be a blob, found string/);
  corrupt("UPDATE webauthn_challenges SET expires_at = 'soon'", () => repo.challenge('so-1'), /webauthn_challenges: column expires_at should be an integer/);
  corrupt("UPDATE webauthn_challenges SET nonce = x'2a'", () => repo.challenge('so-1'), /webauthn_challenges: column nonce should be text or NULL, found a blob/);
  // Untouched rows still read back as stored.
  assert.equal(repo.signOffsOf('chg-1')[0]!.revision, 1);
  assert.equal(repo.counter('cred-a'), 0);
});
