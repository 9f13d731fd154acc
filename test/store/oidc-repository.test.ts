import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DatabaseSync } from 'node:sqlite';
import { openDatabase } from '../../server/store/sqlite/database.ts';
import { OidcRepository } from '../../server/store/sqlite/oidc-repository.ts';
import { UserRepository } from '../../server/store/sqlite/user-repository.ts';
import { tempDir } from '../helpers/server.ts';

const ISSUER = 'https://idp.example';

function open(): { db: DatabaseSync; links: OidcRepository; users: UserRepository } {
  const db = openDatabase(tempDir());
  after(() => db.close());
  return { db, links: new OidcRepository(db), users: new UserRepository(db) };
}

test('links: insert, read, update the granted groups', () => {
  const { db, links, users } = open();
  const id = users.insertUser('alice', 'reviewer', null);
  assert.equal(links.link(ISSUER, 'sub-1'), null);
  links.insertLink(ISSUER, 'sub-1', id, ['dba', 'ops']);
  assert.deepEqual(links.link(ISSUER, 'sub-1'), { userId: id, groups: ['dba', 'ops'] });
  assert.equal(links.link('https://other.example', 'sub-1'), null, 'the link is (issuer, subject)');
  const before = db.prepare('SELECT last_login_at FROM oidc_identities').get()!.last_login_at;
  links.updateLink(ISSUER, 'sub-1', []);
  assert.deepEqual(links.link(ISSUER, 'sub-1'), { userId: id, groups: [] });
  assert.ok(String(db.prepare('SELECT last_login_at FROM oidc_identities').get()!.last_login_at) >= String(before));
  assert.throws(() => links.insertLink(ISSUER, 'sub-2', id + 100, []), /FOREIGN KEY/);
});

test('inTransaction commits together, or rolls everything back on error', () => {
  const { links, users } = open();
  const id = links.inTransaction(() => {
    const userId = users.insertUser('alice', 'reviewer', null);
    links.insertLink(ISSUER, 'sub-1', userId, []);
    return userId;
  });
  assert.deepEqual(links.link(ISSUER, 'sub-1'), { userId: id, groups: [] });

  assert.throws(() => links.inTransaction(() => {
    const userId = users.insertUser('bob', 'reviewer', null);
    links.insertLink(ISSUER, 'sub-2', userId, ['ops']);
    throw new Error('audit failed');
  }), /audit failed/);
  assert.equal(links.link(ISSUER, 'sub-2'), null);
  assert.equal(users.usernameTaken('bob'), false);
});

test('a corrupted column is an error naming the table and column, not a wrong value', () => {
  const { db, links, users } = open();
  const id = users.insertUser('alice', 'reviewer', null);
  links.insertLink(ISSUER, 'sub-1', id, ['ops']);

  db.prepare("UPDATE oidc_identities SET groups = 'ops'").run();
  assert.throws(() => links.link(ISSUER, 'sub-1'), { message: /^oidc_identities\.groups: is not JSON/ });
  db.prepare(`UPDATE oidc_identities SET groups = '["ops", 7]'`).run();
  assert.throws(() => links.link(ISSUER, 'sub-1'), { message: /^oidc_identities\.groups at 1: / });
  db.exec("PRAGMA foreign_keys = OFF; UPDATE oidc_identities SET groups = '[]', user_id = 'alice'; PRAGMA foreign_keys = ON;");
  assert.throws(() => links.link(ISSUER, 'sub-1'), { message: /^oidc_identities\.user_id: .*number/ });
});
