/**
 * Contract of AuditRepository (server/store/repositories/audit-repository.ts) on each database, migrated
 * as the server migrates it: writes and reads of entries, checkpoints and the signed head, its units of
 * work and the chain's lock, and (SQLite, whose columns take any type) rows that do not decode: a clear
 * error naming table and column, never a wrong value; the verifier's raw reads pass them through for
 * verification to report.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { AuditCheckpoint, AuditEntry } from '../../server/audit/entry.ts';
import { PgDatabase } from '../../server/store/postgres/pg-database.ts';
import { AuditRepository, openDatabaseFile } from '../../server/store/repositories/audit-repository.ts';
import { isUniqueViolation, type Database } from '../../server/store/sql.ts';
import type { SqliteDatabase } from '../../server/store/sqlite/sqlite-database.ts';
import { PG_URL, freshSchema, onEachDatabase, openTestStorage, type DatabaseKind } from '../helpers/databases.ts';
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

async function fresh(kind: DatabaseKind): Promise<{ db: Database; store: AuditRepository; dataDir: string }> {
  const storage = await openTestStorage(kind);
  return { db: storage.db, store: new AuditRepository(storage.db), dataDir: storage.dataDir };
}

function append(store: AuditRepository, e: AuditEntry): Promise<void> {
  return store.insertEntry(e, JSON.stringify(e.detail));
}

/** A second connection to the same database: another process (SQLite file) or another node (PostgreSQL schema). */
async function secondConnection(kind: DatabaseKind, db: Database, dataDir: string): Promise<Database> {
  if (kind === 'sqlite') return openDatabaseFile(join(dataDir, 'accord.sqlite'));
  const { schema } = (await db.get<{ schema: string }>('SELECT current_schema() AS schema'))!;
  return new PgDatabase(PG_URL, { schema, max: 2 });
}

const rolledBack = new Error('rolled back');

onEachDatabase('AuditRepository', (kind) => {
  it('stores entries and reads them back, all, by subject and by range; the tail is the last entry', async () => {
    const { store } = await fresh(kind);
    assert.equal(await store.last(), null);
    assert.deepEqual(await store.all(), []);
    const entries = [entry(1, 'chg-1'), entry(2, 'chg-2', null), entry(3, 'chg-1', { list: [1, 'x'], nested: { ok: true } })];
    for (const e of entries) await append(store, e);
    assert.deepEqual(await store.all(), entries);
    assert.deepEqual(await store.entriesFor('chg-1'), [entries[0], entries[2]]);
    assert.deepEqual(await store.entriesFor('nope'), []);
    assert.deepEqual(await store.range(2, 3), entries.slice(1));
    assert.deepEqual(await store.last(), { seq: 3, at: entries[2]!.at, hash: entries[2]!.hash });
    assert.equal(await store.firstSeqFor('chg-2'), 2);
    assert.equal(await store.firstSeqFor('nope'), undefined);
    await assert.rejects(append(store, entries[0]!), (err) => isUniqueViolation(err), 'a seq is stored once');
  });

  it('keeps one checkpoint per seq and one signed head row, updated in place', async () => {
    const { store } = await fresh(kind);
    assert.equal(await store.head(), null);
    await store.putHead(checkpoint(1));
    await store.putHead(checkpoint(2));
    assert.deepEqual(await store.head(), checkpoint(2));
    assert.equal((await store.rawHeads()).length, 1, 'updated, not inserted again');
    await store.insertCheckpoint(checkpoint(2));
    await store.insertCheckpoint(checkpoint(2, 'another'));
    await store.insertCheckpoint(checkpoint(4));
    assert.deepEqual(await store.checkpoints(), [checkpoint(2), checkpoint(4)], 'the first kept at a seq stays');
  });

  it("writes in the caller's unit of work, or in its own that rolls back on error", async () => {
    const { db, store } = await fresh(kind);
    await assert.rejects(db.transaction(async () => {
      await store.transaction(() => append(store, entry(1, 's')));
      assert.equal(db.inTransaction, true, "the caller's unit of work is still open");
      throw rolledBack;
    }), rolledBack);
    assert.deepEqual(await store.all(), [], "rolled back with the caller's");
    await assert.rejects(store.transaction(async () => {
      await append(store, entry(1, 's'));
      throw new Error('refused');
    }), /refused/);
    assert.equal(db.inTransaction, false);
    assert.deepEqual(await store.all(), []);
    await store.transaction(() => append(store, entry(1, 's')));
    assert.equal(db.inTransaction, false);
    assert.equal((await store.all()).length, 1);
    assert.equal(await store.readTransaction(async () => (await store.all()).length), 1);
  });

  it('reads one snapshot in a read transaction while another connection appends', async () => {
    const { db, store: writer, dataDir } = await fresh(kind);
    await append(writer, entry(1, 's'));
    const other = await secondConnection(kind, db, dataDir);
    try {
      assert.equal(await AuditRepository.hasAuditLog(other), true);
      const reader = new AuditRepository(other);
      const [before, after] = await reader.readTransaction(async () => {
        const first = (await reader.rawEntries()).length;
        await append(writer, entry(2, 's'));
        return [first, (await reader.rawEntries()).length];
      });
      assert.deepEqual([before, after], [1, 1]);
      assert.equal((await reader.all()).length, 2);
    } finally {
      await other.close();
    }
  });

  it('tells a database without the audit log (and creates no table)', async () => {
    const empty: Database = kind === 'sqlite'
      ? openDatabaseFile(join(tempDir(), 'other.sqlite'))
      : new PgDatabase(PG_URL, { schema: await freshSchema(), max: 1 });
    try {
      assert.equal(await AuditRepository.hasAuditLog(empty), false);
      assert.equal(await AuditRepository.hasAuditLog(empty), false);
    } finally {
      await empty.close();
    }
  });

  if (kind === 'postgres') {
    it("holds the chain's lock until the unit of work ends: a second node waits, then reads the new tail", async () => {
      const { db, store, dataDir } = await fresh(kind);
      const other = await secondConnection(kind, db, dataDir);
      try {
        const second = new AuditRepository(other);
        const events: string[] = [];
        let release!: () => void;
        const held = new Promise<void>((resolve) => { release = resolve; });
        let locked!: () => void;
        const isLocked = new Promise<void>((resolve) => { locked = resolve; });
        const first = store.transaction(async () => {
          locked();
          await append(store, entry(1, 's'));
          await held;
          events.push('first commits');
        });
        await isLocked;
        const tail = second.transaction(async () => {
          events.push('second has the lock');
          return second.last();
        });
        await new Promise((resolve) => setTimeout(resolve, 200));
        const meanwhile = [...events];
        release(); // before asserting: a failure must not leave the first unit of work (and its connection) open
        await first;
        const tail1 = await tail;
        assert.deepEqual(meanwhile, [], 'the second waits while the first holds the lock');
        assert.equal(tail1?.seq, 1, 'and then sees what the first committed');
        assert.deepEqual(events, ['first commits', 'second has the lock']);
      } finally {
        await other.close();
      }
    });
  }

  if (kind === 'sqlite') {
    it('refuses a row whose column does not decode, naming table and column; raw reads pass it to the verifier', async () => {
      const { db, store } = await fresh(kind);
      const raw = (db as SqliteDatabase).raw;
      for (let seq = 1; seq <= 3; seq++) await append(store, entry(seq, 's'));
      await store.putHead(checkpoint(3));
      await store.insertCheckpoint(checkpoint(2));
      raw.prepare('UPDATE audit_log SET at = ? WHERE seq = 3').run(new Uint8Array([1, 2]));
      await assert.rejects(store.last(), { message: 'audit_log.at of the row with seq 3 is not text: it holds a blob of 2 bytes' });
      await assert.rejects(store.all(), /^Error: audit_log\.at of the row with seq 3 is not text/);
      assert.deepEqual((await store.range(1, 2)).map((e) => e.seq), [1, 2], 'the other rows still read');
      raw.prepare("UPDATE audit_log SET detail = '{\"n\":' WHERE seq = 2").run();
      await assert.rejects(store.entriesFor('s'), { message: 'audit_log.detail of the row with seq 2 is not JSON: it holds the text "{\\"n\\":"' });
      raw.prepare("UPDATE audit_head SET seq = 'three'").run();
      await assert.rejects(store.head(), { message: 'audit_head.seq is not an integer: it holds the text "three"' });
      raw.prepare('UPDATE audit_checkpoints SET key_id = 7 WHERE seq = 2').run();
      assert.equal((await store.checkpoints())[0]!.keyId, '7', 'TEXT affinity stores a number as text: still text');
      raw.prepare('UPDATE audit_checkpoints SET signature = ? WHERE seq = 2').run(new Uint8Array([0]));
      await assert.rejects(store.checkpoints(), /^Error: audit_checkpoints\.signature of the row with seq 2 is not text: it holds a blob of 1 bytes$/);
      // The verifier's reads: as stored, for verify.ts to report.
      const raws = await store.rawEntries();
      assert.deepEqual(raws[2]!.at, new Uint8Array([1, 2]));
      assert.equal(raws[1]!.detail, '{"n":');
      assert.equal(raws[0]!.prevHash, entry(1, 's').prevHash, 'prev_hash is named prevHash');
      assert.equal((await store.rawHeads())[0]!.seq, 'three');
      assert.deepEqual((await store.rawCheckpoints())[0]!.signature, new Uint8Array([0]));
      assert.equal((await store.rawCheckpoints())[0]!.keyId, '7', 'key_id is named keyId');
    });
  }
});
