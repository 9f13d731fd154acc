/**
 * Contract of SqliteAuditRepository (server/store/sqlite/audit-repository.ts) on a real, migrated SQLite
 * file: writes and reads of entries, checkpoints and the signed head, its transactions, and rows that do
 * not decode (a clear error naming table and column, never a wrong value; the verifier's raw reads pass
 * them through for verification to report).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import type { AuditCheckpoint, AuditEntry } from '../../server/audit/entry.ts';
import { SqliteAuditRepository, openDatabaseFile } from '../../server/store/sqlite/audit-repository.ts';
import { openDatabase } from '../../server/store/sqlite/database.ts';
import { tempDir } from '../helpers/server.ts';

function entry(seq: number, subject: string, detail: unknown = { n: seq }): AuditEntry {
  return {
    seq, at: `2025-01-01T10:00:0${seq}.000Z`, actor: 'alice', action: 'change.vote', subject, outcome: seq % 2 ? 'ok' : 'refused',
    detail, prevHash: String(seq - 1).repeat(64).slice(0, 64), hash: String(seq).repeat(64).slice(0, 64),
  };
}

function checkpoint(seq: number, signature = `sig-${seq}`): AuditCheckpoint {
  return { seq, hash: String(seq).repeat(64).slice(0, 64), signature, keyId: 'key-1', at: `2025-01-01T10:00:0${seq}.000Z` };
}

function fresh(): { db: DatabaseSync; store: SqliteAuditRepository } {
  const db = openDatabase(tempDir());
  return { db, store: new SqliteAuditRepository(db) };
}

function append(store: SqliteAuditRepository, e: AuditEntry): void {
  store.insertEntry(e, JSON.stringify(e.detail));
}

describe('SqliteAuditRepository', () => {
  it('stores entries and reads them back, all, by subject and by range; the tail is the last entry', () => {
    const { db, store } = fresh();
    assert.equal(store.last(), null);
    assert.deepEqual(store.all(), []);
    const entries = [entry(1, 'chg-1'), entry(2, 'chg-2', null), entry(3, 'chg-1', { list: [1, 'x'], nested: { ok: true } })];
    for (const e of entries) append(store, e);
    assert.deepEqual(store.all(), entries);
    assert.deepEqual(store.entriesFor('chg-1'), [entries[0], entries[2]]);
    assert.deepEqual(store.entriesFor('nope'), []);
    assert.deepEqual(store.range(2, 3), entries.slice(1));
    assert.deepEqual(store.last(), { seq: 3, at: entries[2]!.at, hash: entries[2]!.hash });
    assert.equal(store.firstSeqFor('chg-2'), 2);
    assert.equal(store.firstSeqFor('nope'), undefined);
    assert.throws(() => append(store, entries[0]!), /UNIQUE|PRIMARY KEY/, 'a seq is stored once');
    db.close();
  });

  it('keeps one checkpoint per seq and one signed head row, updated in place', () => {
    const { db, store } = fresh();
    assert.equal(store.head(), null);
    store.putHead(checkpoint(1));
    store.putHead(checkpoint(2));
    assert.deepEqual(store.head(), checkpoint(2));
    assert.equal(store.rawHeads().length, 1, 'updated, not inserted again');
    store.insertCheckpoint(checkpoint(2));
    store.insertCheckpoint(checkpoint(2, 'another'));
    store.insertCheckpoint(checkpoint(4));
    assert.deepEqual(store.checkpoints(), [checkpoint(2), checkpoint(4)], 'the first kept at a seq stays');
    db.close();
  });

  it("writes in the caller's open transaction, or in its own that rolls back on error", () => {
    const { db, store } = fresh();
    db.exec('BEGIN IMMEDIATE');
    store.transaction(() => append(store, entry(1, 's')));
    assert.equal(store.isTransaction, true, "the caller's transaction is not committed");
    db.exec('ROLLBACK');
    assert.deepEqual(store.all(), []);
    assert.throws(() => store.transaction(() => {
      append(store, entry(1, 's'));
      throw new Error('refused');
    }), /refused/);
    assert.equal(store.isTransaction, false);
    assert.deepEqual(store.all(), []);
    store.transaction(() => append(store, entry(1, 's')));
    assert.equal(store.isTransaction, false);
    assert.equal(store.all().length, 1);
    assert.throws(() => store.underWriteLock(() => { throw new Error('in lock'); }), /in lock/);
    assert.equal(store.isTransaction, false, 'the write lock is released on error');
    assert.equal(store.readTransaction(() => store.all().length), 1);
    db.close();
  });

  it('reads one snapshot in a read transaction while another connection appends', () => {
    const dir = tempDir();
    const db = openDatabase(dir);
    const writer = new SqliteAuditRepository(db);
    append(writer, entry(1, 's'));
    const file = openDatabaseFile(join(dir, 'accord.sqlite'));
    assert.equal(SqliteAuditRepository.hasAuditLog(file), true);
    const reader = new SqliteAuditRepository(file);
    const [before, after] = reader.readTransaction(() => {
      const first = reader.rawEntries().length;
      append(writer, entry(2, 's'));
      return [first, reader.rawEntries().length];
    });
    assert.deepEqual([before, after], [1, 1]);
    assert.equal(reader.all().length, 2);
    file.close();
    db.close();
  });

  it('tells a database without the audit log', () => {
    const dir = tempDir();
    const file = openDatabaseFile(join(dir, 'other.sqlite'));
    assert.equal(SqliteAuditRepository.hasAuditLog(file), false);
    file.close();
  });

  it('refuses a row whose column does not decode, naming table and column; raw reads pass it to the verifier', () => {
    const { db, store } = fresh();
    for (let seq = 1; seq <= 3; seq++) append(store, entry(seq, 's'));
    store.putHead(checkpoint(3));
    store.insertCheckpoint(checkpoint(2));
    db.prepare('UPDATE audit_log SET at = ? WHERE seq = 3').run(new Uint8Array([1, 2]));
    assert.throws(() => store.last(), { message: 'audit_log.at of the row with seq 3 is not text: it holds a blob of 2 bytes' });
    assert.throws(() => store.all(), /^Error: audit_log\.at of the row with seq 3 is not text/);
    assert.deepEqual(store.range(1, 2).map((e) => e.seq), [1, 2], 'the other rows still read');
    db.prepare("UPDATE audit_log SET detail = '{\"n\":' WHERE seq = 2").run();
    assert.throws(() => store.entriesFor('s'), { message: 'audit_log.detail of the row with seq 2 is not JSON: it holds the text "{\\"n\\":"' });
    db.prepare("UPDATE audit_head SET seq = 'three'").run();
    assert.throws(() => store.head(), { message: 'audit_head.seq is not an integer: it holds the text "three"' });
    db.prepare('UPDATE audit_checkpoints SET key_id = 7 WHERE seq = 2').run();
    assert.equal(store.checkpoints()[0]!.keyId, '7', 'TEXT affinity stores a number as text: still text');
    db.prepare('UPDATE audit_checkpoints SET signature = ? WHERE seq = 2').run(new Uint8Array([0]));
    assert.throws(() => store.checkpoints(), /^Error: audit_checkpoints\.signature of the row with seq 2 is not text: it holds a blob of 1 bytes$/);
    // The verifier's reads: as stored, for verify.ts to report.
    const raws = store.rawEntries();
    assert.deepEqual(raws[2]!.at, new Uint8Array([1, 2]));
    assert.equal(raws[1]!.detail, '{"n":');
    assert.equal(raws[0]!.prevHash, entry(1, 's').prevHash, 'prev_hash is named prevHash');
    assert.equal(store.rawHeads()[0]!.seq, 'three');
    assert.deepEqual(store.rawCheckpoints()[0]!.signature, new Uint8Array([0]));
    assert.equal(store.rawCheckpoints()[0]!.keyId, '7', 'key_id is named keyId');
    db.close();
  });
});
