import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DatabaseSync } from 'node:sqlite';
import { openDatabase } from '../../server/store/sqlite/database.ts';
import { UserRepository } from '../../server/store/sqlite/user-repository.ts';
import { tempDir } from '../helpers/server.ts';

function open(): { db: DatabaseSync; repo: UserRepository } {
  const db = openDatabase(tempDir());
  after(() => db.close());
  return { db, repo: new UserRepository(db) };
}

test('users: insert, find by name and id, role, password, disabled, groups', () => {
  const { repo } = open();
  const id = repo.insertUser('alice', 'reviewer', 'hash-1');
  assert.equal(repo.usernameTaken('alice'), true);
  assert.equal(repo.usernameTaken('bob'), false);
  assert.deepEqual(repo.userByName('alice'), { id, username: 'alice', role: 'reviewer', passwordHash: 'hash-1', disabled: false });
  assert.equal(repo.userByName('bob'), null);

  repo.setRole(id, 'admin');
  repo.setPasswordHash(id, 'hash-2');
  assert.equal(repo.setDisabled('alice', true), 1);
  assert.equal(repo.setDisabled('nobody', true), 0);
  assert.deepEqual(repo.userById(id), { id, username: 'alice', role: 'admin', passwordHash: 'hash-2', disabled: true });
  assert.equal(repo.userById(id + 100), null);

  const bob = repo.insertUser('bob', 'viewer', null);
  repo.addToGroup(bob, 'ops');
  repo.addToGroup(bob, 'ops'); // already a member: no error
  repo.addToGroup(bob, 'dba');
  const carol = repo.insertUser('carol', 'approver', null);
  // Disabled users are not reviewers; groups come back as a list.
  const reviewers = repo.reviewers().map((r) => ({ ...r, groups: [...r.groups].sort() }));
  assert.deepEqual(reviewers, [
    { username: 'bob', role: 'viewer', groups: ['dba', 'ops'] },
    { username: 'carol', role: 'approver', groups: [] },
  ]);
  repo.removeFromGroup(bob, 'ops');
  assert.deepEqual(repo.reviewers()[0]!.groups, ['dba']);
  assert.ok(carol > bob);
});

test('API tokens: lookup honours revocation and expiry; list; touch', () => {
  const { repo } = open();
  const id = repo.insertUser('alice', 'approver', null);
  const now = Date.now();
  repo.insertToken('aa11'.repeat(16), id, 'cli', 'full', null);
  repo.insertToken('bb22'.repeat(16), id, 'ci', 'read', now + 1000);
  assert.deepEqual(repo.userByToken('aa11'.repeat(16), now), { id, username: 'alice', role: 'approver', passwordHash: null, disabled: false, tokenScope: 'full' });
  assert.equal(repo.userByToken('bb22'.repeat(16), now)?.tokenScope, 'read');
  assert.equal(repo.userByToken('bb22'.repeat(16), now + 1000), null, 'expired');
  assert.equal(repo.userByToken('cc33'.repeat(16), now), null, 'unknown');

  repo.touchToken('aa11'.repeat(16));
  assert.equal(repo.revokeTokens(id, 'bb22bb22'), 1);
  assert.equal(repo.revokeTokens(id, 'bb22bb22'), 0, 'already revoked');
  assert.equal(repo.userByToken('bb22'.repeat(16), now), null, 'revoked');
  assert.throws(() => repo.revokeTokens(id, '%'), /hex/);

  const tokens = repo.tokens(id);
  assert.equal(tokens.length, 2);
  assert.equal(tokens[0]!.hash, 'aa11'.repeat(16));
  assert.equal(tokens[0]!.label, 'cli');
  assert.equal(tokens[0]!.expiresAt, null);
  assert.equal(tokens[0]!.revokedAt, null);
  assert.match(tokens[0]!.lastUsedAt ?? '', /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual({ ...tokens[1]!, revokedAt: typeof tokens[1]!.revokedAt }, {
    hash: 'bb22'.repeat(16), label: 'ci', scope: 'read', expiresAt: now + 1000, revokedAt: 'string', lastUsedAt: null,
  });
});

test('web sessions: lookup honours expiry and idle limit; touch; delete one or all', () => {
  const { repo } = open();
  const id = repo.insertUser('alice', 'reviewer', null);
  const now = Date.now();
  repo.insertSession('s1', id, now + 60_000, now - 10_000);
  repo.insertSession('s2', id, now + 60_000, now);
  assert.deepEqual(repo.userBySession('s1', now, now - 20_000), {
    id, username: 'alice', role: 'reviewer', passwordHash: null, disabled: false, lastSeenAt: now - 10_000,
  });
  assert.equal(repo.userBySession('s1', now, now - 5_000), null, 'idle');
  assert.equal(repo.userBySession('s1', now + 60_000, now - 20_000), null, 'expired');
  repo.touchSession('s1', now);
  assert.equal(repo.userBySession('s1', now, now - 5_000)?.lastSeenAt, now);
  repo.deleteSession('s1');
  assert.equal(repo.userBySession('s1', now, 0), null);
  assert.equal(repo.deleteSessionsOf(id), 1);
  assert.equal(repo.userBySession('s2', now, 0), null);
});

test('a corrupted column is an error naming the table and column, not a wrong value', () => {
  const { db, repo } = open();
  const id = repo.insertUser('alice', 'reviewer', null);
  const now = Date.now();
  repo.insertToken('aa'.repeat(32), id, 'cli', 'full', null);
  repo.insertSession('s1', id, now + 60_000, now);

  // 'yes' is not an integer: SQLite keeps it as text in an INTEGER column.
  db.prepare("UPDATE users SET disabled = 'yes' WHERE id = ?").run(id);
  assert.throws(() => repo.userByName('alice'), { message: /^users\.disabled: expected an integer, found "yes"/ });
  assert.throws(() => repo.userByToken('aa'.repeat(32), now), /users\.disabled/);
  assert.throws(() => repo.userBySession('s1', now, 0), /users\.disabled/);
  db.prepare('UPDATE users SET disabled = 0 WHERE id = ?').run(id);

  db.prepare("UPDATE api_tokens SET scope = 'everything'").run();
  assert.throws(() => repo.userByToken('aa'.repeat(32), now), { message: /^api_tokens\.scope: expected a token scope, found "everything"/ });

  db.prepare("UPDATE web_sessions SET last_seen_at = x'00ff'").run();
  assert.throws(() => repo.userBySession('s1', now, -1), { message: /^web_sessions\.last_seen_at: expected an integer, found a 2-byte blob/ });

  db.prepare("UPDATE api_tokens SET expires_at = 'never'").run();
  assert.throws(() => repo.tokens(id), /^Error: api_tokens\.expires_at: expected an integer/);
});
