/**
 * Contract of UserRepository (server/store/repositories/user-repository.ts) on each database, migrated
 * as the server migrates it: users and groups, API tokens, web sessions, statements joining the caller's
 * unit of work, and rows that do not decode: a clear error naming table and column, never a wrong value.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { TOKEN_TOUCH_EVERY_MS, UserRepository } from '../../server/store/repositories/user-repository.ts';
import { isUniqueViolation, type Database } from '../../server/store/sql.ts';
import { onEachDatabase, openTestStorage, type DatabaseKind } from '../helpers/databases.ts';

async function open(kind: DatabaseKind): Promise<{ db: Database; repo: UserRepository }> {
  const { db } = await openTestStorage(kind);
  return { db, repo: new UserRepository(db) };
}

/**
 * Lets a column hold a value of the wrong type, as SQLite's columns always can: on PostgreSQL the
 * column becomes TEXT (a schema drifting from the code's expectations).
 */
async function loosen(kind: DatabaseKind, db: Database, table: string, column: string): Promise<void> {
  if (kind === 'postgres') await db.run(`ALTER TABLE ${table} ALTER COLUMN ${column} DROP DEFAULT, ALTER COLUMN ${column} TYPE TEXT USING ${column}::text`);
}

onEachDatabase('UserRepository', (kind) => {
  it('users: insert, find by name and id, role, password, disabled, groups', async () => {
    const { repo } = await open(kind);
    const id = await repo.insertUser('alice', 'reviewer', 'hash-1');
    assert.equal(await repo.usernameTaken('alice'), true);
    assert.equal(await repo.usernameTaken('bob'), false);
    assert.deepEqual(await repo.userByName('alice'), { id, username: 'alice', role: 'reviewer', passwordHash: 'hash-1', disabled: false });
    assert.equal(await repo.userByName('bob'), null);

    await repo.setRole(id, 'admin');
    await repo.setPasswordHash(id, 'hash-2');
    assert.equal(await repo.setDisabled('alice', true), 1);
    assert.equal(await repo.setDisabled('nobody', true), 0);
    assert.deepEqual(await repo.userById(id), { id, username: 'alice', role: 'admin', passwordHash: 'hash-2', disabled: true });
    assert.equal(await repo.userById(id + 100), null);

    const bob = await repo.insertUser('bob', 'viewer', null);
    await repo.addToGroup(bob, 'ops');
    await repo.addToGroup(bob, 'ops'); // already a member: no error
    await repo.addToGroup(bob, 'dba');
    const carol = await repo.insertUser('carol', 'approver', null);
    await repo.insertUser('bob-2', 'viewer', null);
    // Disabled users are not reviewers; groups come back as a sorted list; users by name, code unit order.
    assert.deepEqual(await repo.reviewers(), [
      { username: 'bob', role: 'viewer', groups: ['dba', 'ops'] },
      { username: 'bob-2', role: 'viewer', groups: [] },
      { username: 'carol', role: 'approver', groups: [] },
    ]);
    await repo.removeFromGroup(bob, 'ops');
    assert.deepEqual((await repo.reviewers())[0]!.groups, ['dba']);
    assert.ok(carol > bob);
  });

  it('a taken username is refused by the unique constraint', async () => {
    const { repo } = await open(kind);
    await repo.insertUser('alice', 'reviewer', null);
    await assert.rejects(repo.insertUser('alice', 'admin', null), (err: unknown) => isUniqueViolation(err));
    assert.equal((await repo.userByName('alice'))!.role, 'reviewer');
  });

  it('API tokens: lookup honours revocation and expiry; list; touch at most once a minute', async () => {
    const { repo } = await open(kind);
    const id = await repo.insertUser('alice', 'approver', null);
    const now = Date.now();
    await repo.insertToken('aa11'.repeat(16), id, 'cli', 'full', null);
    await repo.insertToken('bb22'.repeat(16), id, 'ci', 'read', now + 1000);
    assert.deepEqual(await repo.userByToken('aa11'.repeat(16), now), {
      id, username: 'alice', role: 'approver', passwordHash: null, disabled: false, tokenScope: 'full', tokenLastUsedAt: null,
    });
    assert.equal((await repo.userByToken('bb22'.repeat(16), now))?.tokenScope, 'read');
    assert.equal(await repo.userByToken('bb22'.repeat(16), now + 1000), null, 'expired');
    assert.equal(await repo.userByToken('cc33'.repeat(16), now), null, 'unknown');

    await repo.touchToken('aa11'.repeat(16), now);
    const touched = (await repo.userByToken('aa11'.repeat(16), now))!.tokenLastUsedAt;
    assert.equal(touched, new Date(now).toISOString());
    await repo.touchToken('aa11'.repeat(16), now + TOKEN_TOUCH_EVERY_MS - 1);
    assert.equal((await repo.userByToken('aa11'.repeat(16), now))!.tokenLastUsedAt, touched, 'a recent use is not rewritten');
    await repo.touchToken('aa11'.repeat(16), now + TOKEN_TOUCH_EVERY_MS + 1);
    assert.equal((await repo.userByToken('aa11'.repeat(16), now))!.tokenLastUsedAt, new Date(now + TOKEN_TOUCH_EVERY_MS + 1).toISOString());

    assert.equal(await repo.revokeTokens(id, 'bb22bb22'), 1);
    assert.equal(await repo.revokeTokens(id, 'bb22bb22'), 0, 'already revoked');
    assert.equal(await repo.userByToken('bb22'.repeat(16), now), null, 'revoked');
    await assert.rejects(repo.revokeTokens(id, '%'), /hex/);
    await assert.rejects(repo.revokeTokens(id, 'AA11'), /hex/, 'hashes are lower case: LIKE would match them on SQLite only');

    const tokens = await repo.tokens(id);
    assert.equal(tokens.length, 2);
    assert.equal(tokens[0]!.hash, 'aa11'.repeat(16));
    assert.equal(tokens[0]!.label, 'cli');
    assert.equal(tokens[0]!.expiresAt, null);
    assert.equal(tokens[0]!.revokedAt, null);
    assert.match(tokens[0]!.lastUsedAt ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual({ ...tokens[1]!, revokedAt: typeof tokens[1]!.revokedAt }, {
      hash: 'bb22'.repeat(16), label: 'ci', scope: 'read', expiresAt: now + 1000, revokedAt: 'string', lastUsedAt: null,
    });
    assert.match(tokens[1]!.revokedAt!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('web sessions: lookup honours expiry and idle limit; touch; delete one or all', async () => {
    const { repo } = await open(kind);
    const id = await repo.insertUser('alice', 'reviewer', null);
    const now = Date.now();
    await repo.insertSession('s1', id, now + 60_000, now - 10_000);
    await repo.insertSession('s2', id, now + 60_000, now);
    assert.deepEqual(await repo.userBySession('s1', now, now - 20_000), {
      id, username: 'alice', role: 'reviewer', passwordHash: null, disabled: false, lastSeenAt: now - 10_000,
    });
    assert.equal(await repo.userBySession('s1', now, now - 5_000), null, 'idle');
    assert.equal(await repo.userBySession('s1', now + 60_000, now - 20_000), null, 'expired');
    await repo.touchSession('s1', now);
    assert.equal((await repo.userBySession('s1', now, now - 5_000))?.lastSeenAt, now);
    await repo.deleteSession('s1');
    assert.equal(await repo.userBySession('s1', now, 0), null);
    assert.equal(await repo.deleteSessionsOf(id), 1);
    assert.equal(await repo.userBySession('s2', now, 0), null);
  });

  it("statements join the caller's unit of work: they commit, or roll back, with it", async () => {
    const { db, repo } = await open(kind);
    await assert.rejects(db.transaction(async () => {
      const id = await repo.insertUser('alice', 'reviewer', null);
      await repo.insertToken('aa'.repeat(32), id, 'cli', 'full', null);
      await repo.insertSession('s1', id, Date.now() + 60_000, Date.now());
      assert.equal(await repo.usernameTaken('alice'), true, 'visible inside the unit of work');
      throw new Error('refused by the caller');
    }), /refused by the caller/);
    assert.equal(await repo.usernameTaken('alice'), false);
    assert.equal(await repo.userByToken('aa'.repeat(32), Date.now()), null);
    assert.equal(await repo.userBySession('s1', Date.now(), 0), null);

    const id = await db.transaction(async () => {
      const userId = await repo.insertUser('alice', 'reviewer', null);
      await repo.addToGroup(userId, 'ops');
      return userId;
    });
    assert.equal((await repo.userByName('alice'))?.id, id);
    assert.deepEqual((await repo.reviewers())[0]!.groups, ['ops']);
  });

  it('a corrupted column is an error naming the table and column, not a wrong value', async () => {
    const { db, repo } = await open(kind);
    const id = await repo.insertUser('alice', 'reviewer', null);
    const now = Date.now();
    await repo.insertToken('aa'.repeat(32), id, 'cli', 'full', null);
    await repo.insertSession('s1', id, now + 60_000, now);

    // 'yes' is not an integer: SQLite keeps it as text in an INTEGER column.
    await loosen(kind, db, 'users', 'disabled');
    await db.run("UPDATE users SET disabled = 'yes' WHERE id = ?", [id]);
    await assert.rejects(repo.userByName('alice'), { message: /^users\.disabled: expected an integer, found "yes"/ });
    await assert.rejects(repo.userByToken('aa'.repeat(32), now), /users\.disabled/);
    await assert.rejects(repo.userBySession('s1', now, 0), /users\.disabled/);
    await db.run("UPDATE users SET disabled = '0' WHERE id = ?", [id]);
    if (kind === 'postgres') await assert.rejects(repo.userByName('alice'), /users\.disabled: expected an integer, found "0"/, 'text, even of a number, is not an integer');
    await db.run('UPDATE users SET disabled = 0 WHERE id = ?', [id]);

    await db.run("UPDATE api_tokens SET scope = 'everything'");
    await assert.rejects(repo.userByToken('aa'.repeat(32), now), { message: /^api_tokens\.scope: expected a token scope, found "everything"/ });

    if (kind === 'sqlite') {
      await db.run('UPDATE web_sessions SET last_seen_at = ?', [new Uint8Array([0x00, 0xff])]);
      await assert.rejects(repo.userBySession('s1', now, -1), { message: /^web_sessions\.last_seen_at: expected an integer, found a 2-byte blob/ });
    }

    await loosen(kind, db, 'api_tokens', 'expires_at');
    await db.run("UPDATE api_tokens SET expires_at = 'never'");
    await assert.rejects(repo.tokens(id), /^Error: api_tokens\.expires_at: expected an integer/);
  });
});
