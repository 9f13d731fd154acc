/**
 * Contract of OidcRepository (server/store/repositories/oidc-repository.ts) on each database, migrated as
 * the server migrates it (the repository creates no table itself): links, their constraints, statements
 * joining the caller's unit of work, and rows that do not decode.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { OidcRepository } from '../../server/store/repositories/oidc-repository.ts';
import { UserRepository } from '../../server/store/repositories/user-repository.ts';
import { isUniqueViolation, type Database } from '../../server/store/sql.ts';
import type { SqliteDatabase } from '../../server/store/sqlite/sqlite-database.ts';
import { onEachDatabase, openTestStorage, type DatabaseKind } from '../helpers/databases.ts';

const ISSUER = 'https://idp.example';

async function open(kind: DatabaseKind): Promise<{ db: Database; links: OidcRepository; users: UserRepository }> {
  const { db } = await openTestStorage(kind);
  return { db, links: new OidcRepository(db), users: new UserRepository(db) };
}

const lastLogin = async (db: Database): Promise<string> => (await db.get<{ last_login_at: string }>('SELECT last_login_at FROM oidc_identities'))!.last_login_at;

onEachDatabase('OidcRepository', (kind) => {
  it('links: insert, read, update the granted groups and the time of the sign-in', async () => {
    const { db, links, users } = await open(kind);
    const id = await users.insertUser('alice', 'reviewer', null);
    assert.equal(await links.link(ISSUER, 'sub-1'), null);
    await links.insertLink(ISSUER, 'sub-1', id, ['dba', 'ops']);
    assert.deepEqual(await links.link(ISSUER, 'sub-1'), { userId: id, groups: ['dba', 'ops'] });
    assert.equal(await links.link('https://other.example', 'sub-1'), null, 'the link is (issuer, subject)');
    const before = await lastLogin(db);
    // The column's default and the update's value have one format on both databases: ISO 8601, UTC, milliseconds.
    assert.match(before, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    await links.updateLink(ISSUER, 'sub-1', []);
    assert.deepEqual(await links.link(ISSUER, 'sub-1'), { userId: id, groups: [] });
    const after = await lastLogin(db);
    assert.match(after, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(after >= before);
  });

  it('refuses a link to no user, and a second link of one identity', async () => {
    const { links, users } = await open(kind);
    const id = await users.insertUser('alice', 'reviewer', null);
    await assert.rejects(links.insertLink(ISSUER, 'sub-2', id + 100, []), /FOREIGN KEY|foreign key/);
    await links.insertLink(ISSUER, 'sub-1', id, []);
    const bob = await users.insertUser('bob', 'reviewer', null);
    await assert.rejects(links.insertLink(ISSUER, 'sub-1', bob, []), (err: unknown) => isUniqueViolation(err));
    assert.deepEqual(await links.link(ISSUER, 'sub-1'), { userId: id, groups: [] });
  });

  it('a unit of work commits together, or rolls everything back on error', async () => {
    const { db, links, users } = await open(kind);
    const id = await db.transaction(async () => {
      const userId = await users.insertUser('alice', 'reviewer', null);
      await links.insertLink(ISSUER, 'sub-1', userId, []);
      return userId;
    });
    assert.deepEqual(await links.link(ISSUER, 'sub-1'), { userId: id, groups: [] });

    await assert.rejects(db.transaction(async () => {
      const userId = await users.insertUser('bob', 'reviewer', null);
      await links.insertLink(ISSUER, 'sub-2', userId, ['ops']);
      throw new Error('audit failed');
    }), /audit failed/);
    assert.equal(await links.link(ISSUER, 'sub-2'), null);
    assert.equal(await users.usernameTaken('bob'), false);
  });

  it('a corrupted column is an error naming the table and column, not a wrong value', async () => {
    const { db, links, users } = await open(kind);
    const id = await users.insertUser('alice', 'reviewer', null);
    await links.insertLink(ISSUER, 'sub-1', id, ['ops']);

    await db.run("UPDATE oidc_identities SET groups = 'ops'");
    await assert.rejects(links.link(ISSUER, 'sub-1'), { message: /^oidc_identities\.groups: is not JSON/ });
    await db.run(`UPDATE oidc_identities SET groups = '["ops", 7]'`);
    await assert.rejects(links.link(ISSUER, 'sub-1'), { message: /^oidc_identities\.groups at 1: / });
    await db.run("UPDATE oidc_identities SET groups = '[]'");
    if (kind === 'sqlite') {
      // Only SQLite's columns take any type: a user id that is text.
      (db as SqliteDatabase).raw.exec("PRAGMA foreign_keys = OFF; UPDATE oidc_identities SET user_id = 'alice'; PRAGMA foreign_keys = ON;");
      await assert.rejects(links.link(ISSUER, 'sub-1'), { message: /^oidc_identities\.user_id: .*number/ });
    }
  });
});
