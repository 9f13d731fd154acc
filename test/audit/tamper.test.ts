/**
 * Someone who can write the database but does not hold the server key must not be able to truncate or
 * rewrite the audit log unnoticed (docs/audit.md, "the signed head and the anchor").
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import fc from 'fast-check';
import { ANCHOR_FILE, readAnchorFile } from '../../server/audit/anchor.ts';
import { AuditLog } from '../../server/audit/audit-log.ts';
import type { AuditRow } from '../../server/audit/audit-log.ts';
import { entryHash } from '../../server/audit/entry.ts';
import { loadOrCreateServerKey } from '../../server/audit/server-key.ts';
import type { ServerKey } from '../../server/audit/server-key.ts';
import { verifyAudit } from '../../server/audit/verify.ts';
import type { VerifyResult } from '../../server/audit/verify.ts';
import type { Database } from '../../server/store/sql.ts';
import { onEachDatabase, openTestStorage, type DatabaseKind } from '../helpers/databases.ts';
import { openAuditDb, rechain, tempDir } from './fixtures.ts';

const EVERY = 10;

interface Anchored {
  dir: string;
  db: Database;
  key: ServerKey;
  log: AuditLog;
  anchorPath: string;
  /** Verifies the database alone (what the signed head proves without the anchor). */
  verifyDb: () => Promise<VerifyResult>;
  /** Verifies the database against the anchor file. */
  verify: () => Promise<VerifyResult>;
}

/**
 * 31 entries, checkpoints at 10, 20, 30; the anchor holds the heads at 3, 6, ..., 30 and 31: the entries
 * are appended three to a unit of work, and each commit anchors its last head.
 */
async function anchored(kind: DatabaseKind, n = 31): Promise<Anchored> {
  const { db, dataDir: dir } = await openTestStorage(kind);
  const key = loadOrCreateServerKey(dir);
  const anchorPath = join(dir, ANCHOR_FILE);
  // One instant for every entry: reordered entries are not given away by their times.
  const log = new AuditLog(db, key, { checkpointEvery: EVERY, anchorPath, now: () => new Date('2025-03-01T10:00:00.000Z') });
  for (let first = 1; first <= n; first += 3) {
    await db.transaction(async () => {
      for (let i = first; i <= Math.min(n, first + 2); i++) {
        await log.append({ actor: `user${i % 4}`, action: 'change.vote', subject: `chg-${i % 3}`, outcome: i % 7 === 0 ? 'refused' : 'ok', detail: { n: i } });
      }
    });
    await log.flushAnchor();
  }
  return {
    dir, db, key, log, anchorPath,
    verifyDb: () => verifyAudit(db, key.publicKeyPem, { checkpointEvery: EVERY }),
    verify: () => verifyAudit(db, key.publicKeyPem, { checkpointEvery: EVERY, anchors: [readAnchorFile(anchorPath, 'the anchor file')] }),
  };
}

/** Runs each statement in turn (plain SQL both databases take). */
async function edit(db: Database, ...statements: string[]): Promise<void> {
  for (const sql of statements) await db.run(sql);
}

/** Puts back an older signed head (an anchor line), as someone who truncated the log would. */
async function putBackHead(db: Database, line: { seq: number; hash: string; signature: string; keyId: string; at: string }): Promise<void> {
  await db.run('INSERT INTO audit_head (seq, hash, signature, key_id, at) VALUES (?, ?, ?, ?, ?)', [line.seq, line.hash, line.signature, line.keyId, line.at]);
}

function assertBroken(r: VerifyResult, seq: number | null, reason: RegExp): void {
  assert.equal(r.ok, false, 'verification should fail');
  if (r.ok) return;
  assert.equal(r.seq, seq, `names ${String(seq)} (got ${String(r.seq)}: ${r.reason})`);
  assert.match(r.reason, reason);
}


const anchorLines = (path: string): { seq: number; hash: string; signature: string; keyId: string; at: string }[] =>
  readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { seq: number; hash: string; signature: string; keyId: string; at: string });

onEachDatabase('tampering', (kind) => {
  describe('the signed head', () => {
    it('an untouched anchored log verifies, with its head signed at the last entry', async () => {
      const { verify, key, anchorPath } = await anchored(kind);
      assert.deepEqual(anchorLines(anchorPath).map((l) => l.seq), [3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 31]);
      assert.deepEqual(await verify(), {
        ok: true, entries: 31, checkpoints: 3, lastSeq: 31, lastCheckpointSeq: 31, head: 31, keyId: key.keyId,
        anchors: [{ label: 'the anchor file', lines: 11, lastSeq: 31, tornTail: false }],
      });
    });

    it('deleting the last entries is caught by the signed head, even without the anchor', async () => {
      const { db, verifyDb, verify } = await anchored(kind);
      await edit(db, 'DELETE FROM audit_log WHERE seq >= 24');
      assertBroken(await verifyDb(), 24, /^missing \(the log ends at entry 23 but its signed head is entry 31: entries 24 to 31 were deleted\)$/);
      assertBroken(await verify(), 24, /the log ends at entry 23/);
    });

    it('deleting everything after entry 23 with its checkpoints and the head row is caught', async () => {
      const { db, verifyDb, verify } = await anchored(kind);
      await edit(db, 'DELETE FROM audit_log WHERE seq > 23', 'DELETE FROM audit_checkpoints WHERE seq > 23', 'DELETE FROM audit_head');
      assertBroken(await verifyDb(), null, /the signed head \(table audit_head\) is missing/);
      assertBroken(await verify(), null, /the signed head \(table audit_head\) is missing/);
    });

    it('a truncation that puts back an older signed head passes the database alone, and is caught by the anchor', async () => {
      const { db, verifyDb, verify, anchorPath } = await anchored(kind);
      // Whoever can write the data directory can read the anchor file: line 7 signs entry 21.
      const older = anchorLines(anchorPath)[6]!;
      assert.equal(older.seq, 21);
      await edit(db, 'DELETE FROM audit_log WHERE seq > 21', 'DELETE FROM audit_checkpoints WHERE seq > 21', 'DELETE FROM audit_head');
      await putBackHead(db, older);
      assert.equal((await verifyDb()).ok, true, 'the database alone cannot tell: this is what the anchor is for');
      assertBroken(await verify(), 22, /^missing \(the log ends at entry 21 but the anchor file records entry 31 \(line 11\): entries after 21 were deleted\)$/);
    });

    it('a consistent rewrite of the entries after the last checkpoint is caught by the head and the anchor', async () => {
      const { db, verifyDb, verify } = await anchored(kind);
      await db.run('UPDATE audit_log SET detail = ? WHERE seq = 31', ['{"n":-31}']);
      await rechain(db, 31);
      assertBroken(await verifyDb(), 31, /^hash does not match the signed head \(rewritten after signing\)$/);
      assertBroken(await verify(), 31, /hash/);
      // The same from entry 25 on (after the checkpoint at 20, before the one at 30): entry 27 was anchored.
      const second = await anchored(kind, 29);
      await edit(second.db, "UPDATE audit_log SET outcome = 'refused' WHERE seq = 26");
      await rechain(second.db, 25);
      assertBroken(await second.verifyDb(), 29, /^hash does not match the signed head/);
      assertBroken(await second.verify(), 27, /^its hash differs from the one the anchor file recorded at line 9 \(rewritten after it was anchored\)$/);
    });

    it('a re-signed head from another key does not help the rewrite', async () => {
      const { db, verifyDb } = await anchored(kind);
      await db.run('UPDATE audit_log SET detail = ? WHERE seq = 31', ['{"n":-31}']);
      await rechain(db, 31);
      const last = (await db.get<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = 31'))!;
      await db.run('UPDATE audit_head SET hash = ?', [last.hash]);
      assertBroken(await verifyDb(), 31, /the signed head's signature does not verify/);
    });

    it('an entry inserted at the tail (correctly chained) is caught by the head', async () => {
      const { db, verifyDb } = await anchored(kind);
      const prev = (await db.get<AuditRow>('SELECT * FROM audit_log WHERE seq = 31'))!;
      const fields = { seq: 32, at: prev.at, actor: 'mallory', action: 'change.vote', subject: 'chg-1', outcome: 'ok' as const, detail: { n: 32 }, prevHash: prev.hash };
      await db.run('INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', [32, fields.at, fields.actor, fields.action, fields.subject, 'ok', '{"n":32}', prev.hash, entryHash(fields)]);
      assertBroken(await verifyDb(), 32, /^entry 32 comes after the signed head \(entry 31\): appended without the server key$/);
    });

    it('the last two entries reordered (seqs swapped, chain recomputed) are caught', async () => {
      const { db, verifyDb, verify } = await anchored(kind, 29);
      await edit(db, 'UPDATE audit_log SET seq = -1 WHERE seq = 28', 'UPDATE audit_log SET seq = 28 WHERE seq = 29', 'UPDATE audit_log SET seq = 29 WHERE seq = -1');
      await rechain(db, 28);
      assertBroken(await verifyDb(), 29, /^hash does not match the signed head/);
      assertBroken(await verify(), 29, /hash/);
    });

    it('requires exactly one head row, and none for an empty log', async () => {
      const { db, verifyDb } = await anchored(kind, 5);
      await edit(db, 'INSERT INTO audit_head SELECT * FROM audit_head');
      assertBroken(await verifyDb(), null, /audit_head holds 2 rows, not one/);
      const empty = await anchored(kind, 0);
      assert.equal((await empty.verify()).ok, true);
      for (let i = 0; i < 3; i++) await empty.log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
      await edit(empty.db, 'DELETE FROM audit_log');
      assertBroken(await empty.verifyDb(), 1, /^missing \(the log is empty but its signed head records entry 3: every entry was deleted\)$/);
    });
  });

  describe('the anchor file', () => {
    it('never holds a head that was not committed: a rolled-back append is not anchored', async () => {
      const { db, dataDir: dir } = await openTestStorage(kind);
      const key = loadOrCreateServerKey(dir);
      const anchorPath = join(dir, ANCHOR_FILE);
      const log = new AuditLog(db, key, { anchorPath });
      await log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
      await log.flushAnchor();
      const rolledBack = new Error('rolled back');
      await assert.rejects(db.transaction(async () => {
        await log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
        // Turns pass while the unit of work is open: nothing is anchored for it.
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 2));
        assert.deepEqual(anchorLines(anchorPath).map((l) => l.seq), [1]);
        await assert.rejects(log.flushAnchor(), /inside a unit of work/);
        throw rolledBack;
      }), rolledBack);
      await log.flushAnchor();
      assert.deepEqual(anchorLines(anchorPath).map((l) => l.seq), [1]);
      const committed = await db.transaction(() => log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' }));
      await log.flushAnchor();
      assert.equal(committed.seq, 2);
      assert.deepEqual(anchorLines(anchorPath).map((l) => [l.seq, l.hash]), [[1, (await log.range(1, 1))[0]!.hash], [2, committed.hash]]);
      await log.close();
    });

    it('collapses the appends committed before a flush reads the head into one line, signed in the checkpoint format', async () => {
      const { anchorPath, log, key } = await anchored(kind, 0);
      const appends = Array.from({ length: 50 }, () => log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' }));
      await Promise.all(appends);
      await log.flushAnchor();
      const lines = anchorLines(anchorPath);
      const head = await log.head();
      // SQLite: one connection, the flush waits behind every append queued before it: exactly one line.
      // PostgreSQL: appends commit on several connections while a flush runs: fewer lines than appends, in order.
      if (kind === 'sqlite') assert.deepEqual(lines, [head]);
      else {
        assert.deepEqual(lines.at(-1), head);
        assert.deepEqual(lines.map((l) => l.seq), [...new Set(lines.map((l) => l.seq))].sort((a, b) => a - b));
        assert.ok(lines.length < 50, `${lines.length} lines for 50 appends`);
      }
      assert.equal(lines.at(-1)!.seq, 50);
      assert.equal(lines.at(-1)!.keyId, key.keyId);
      assert.deepEqual(await log.checkpoint(), await log.head(), 'checkpoint() returns the signed head');
    });

    it('a missing anchor file fails a non-empty log with a reason to act on', async () => {
      const { anchorPath, verify } = await anchored(kind, 4);
      rmSync(anchorPath);
      assertBroken(await verify(), null, /^the anchor file does not exist, but the log has 4 entries: it was deleted or moved, or the server ran without anchoring/);
    });

    it('fails on a line that is not signed by the key, out of order, or not an anchor line', async () => {
      const { anchorPath, verify } = await anchored(kind);
      const original = readFileSync(anchorPath, 'utf8');
      const lines = original.split('\n').filter((l) => l !== '');
      const forged = { ...JSON.parse(lines[2]!) as Record<string, unknown>, at: '2020-01-01T00:00:00.000Z' };
      writeFileSync(anchorPath, [...lines.slice(0, 2), JSON.stringify(forged), ...lines.slice(3)].join('\n') + '\n');
      assertBroken(await verify(), 9, /^the anchor file line 3 \(entry 9\) is not signed by the server key: its signature does not verify$/);
      writeFileSync(anchorPath, [lines[0], lines[2], lines[1], ...lines.slice(3)].join('\n') + '\n');
      assertBroken(await verify(), null, /^the anchor file line 3 records entry 6 after entry 9: its lines are out of order \(edited\?\)$/);
      writeFileSync(anchorPath, `${original}{"seq":"x"}\n`);
      assertBroken(await verify(), null, /^the anchor file line 12 is not an anchor line/);
    });

    it('ignores a torn last line (a crash during the write), and the writer repairs it', async () => {
      const { anchorPath, verify, log, db, key } = await anchored(kind);
      appendFileSync(anchorPath, '{"at":"2025-');
      const r = await verify();
      assert.equal(r.ok, true, JSON.stringify(r));
      if (r.ok) assert.deepEqual(r.anchors, [{ label: 'the anchor file', lines: 11, lastSeq: 31, tornTail: true }]);
      await log.close();
      const reopened = new AuditLog(db, key, { checkpointEvery: EVERY, anchorPath });
      await reopened.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
      await reopened.flushAnchor();
      assert.ok(readFileSync(anchorPath, 'utf8').endsWith('}\n'));
      assert.deepEqual(anchorLines(anchorPath).map((l) => l.seq).slice(-2), [31, 32]);
      assert.equal((await verify()).ok, true);
    });

    it('two writers on one database (the server and a CLI export) never anchor a lower seq after a higher one', async () => {
      const { db, key, log, anchorPath, verify } = await anchored(kind, 3);
      const other = new AuditLog(db, key, { checkpointEvery: EVERY, anchorPath });
      for (let i = 0; i < 20; i++) {
        await (i % 2 === 0 ? log : other).append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
        if (i % 3 === 0) await Promise.all([log.flushAnchor(), other.flushAnchor()]);
      }
      await Promise.all([log.flushAnchor(), other.flushAnchor()]);
      const seqs = anchorLines(anchorPath).map((l) => l.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
      assert.equal(seqs.at(-1), 23);
      assert.equal((await verify()).ok, true);
    });

    it('a witness file on other storage catches a truncation even when the anchor file was truncated too', async () => {
      const { db, dataDir: dir } = await openTestStorage(kind);
      const key = loadOrCreateServerKey(dir);
      const anchorPath = join(dir, ANCHOR_FILE);
      mkdirSync(join(dir, 'elsewhere'));
      const witnessPath = join(dir, 'elsewhere', 'witness.jsonl');
      const log = new AuditLog(db, key, { anchorPath, witnessPath });
      for (let i = 1; i <= 12; i++) {
        await log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
        await log.flushAnchor();
      }
      assert.deepEqual(anchorLines(witnessPath), anchorLines(anchorPath));
      const older = anchorLines(anchorPath)[7]!;
      await edit(db, 'DELETE FROM audit_log WHERE seq > 8', 'DELETE FROM audit_head');
      await putBackHead(db, older);
      writeFileSync(anchorPath, readFileSync(anchorPath, 'utf8').split('\n').slice(0, 8).join('\n') + '\n');
      const both = [readAnchorFile(anchorPath, 'the anchor file'), readAnchorFile(witnessPath, 'the witness file')];
      assert.equal((await verifyAudit(db, key.publicKeyPem, { anchors: both.slice(0, 1) })).ok, true, 'the data directory alone is consistent');
      assertBroken(await verifyAudit(db, key.publicKeyPem, { anchors: both }), 9, /the log ends at entry 8 but the witness file records entry 12 \(line 12\)/);
      await log.close();
    });
  });

  describe('anchor errors', () => {
    it('are reported, not thrown at the appender: a witness that cannot be written, a head behind the anchor', async () => {
      const { db, dataDir: dir } = await openTestStorage(kind);
      const key = loadOrCreateServerKey(dir);
      const anchorPath = join(dir, ANCHOR_FILE);
      const errors: string[] = [];
      const log = new AuditLog(db, key, { anchorPath, witnessPath: join(dir, 'no-such-dir', 'witness.jsonl'), onAnchorError: (err) => errors.push(err.message) });
      await log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
      await assert.rejects(log.flushAnchor(), /audit anchor .*witness\.jsonl: cannot append the signed head of entry 1: ENOENT/);
      assert.equal(errors.length, 1);
      assert.deepEqual(anchorLines(anchorPath).map((l) => l.seq), [1], 'the anchor file still got its line');
      await log.flushAnchor();

      // A database restored from a backup (or truncated) is behind its anchor: said once, nothing written.
      const fresh = new AuditLog(db, key, { anchorPath, onAnchorError: (err) => errors.push(err.message) });
      await db.transaction(async () => {
        for (let i = 0; i < 3; i++) await fresh.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
      });
      await fresh.flushAnchor();
      await edit(db, 'DELETE FROM audit_log WHERE seq > 2', 'DELETE FROM audit_head');
      await fresh.checkpoint();
      await assert.rejects(fresh.flushAnchor(), /the log's signed head \(entry 2\) is behind this file \(entry 4\)/);
      await fresh.checkpoint();
      await fresh.flushAnchor();
      assert.deepEqual(anchorLines(anchorPath).map((l) => l.seq), [1, 4]);
      await fresh.close();
      await log.close();
    });
  });
});

describe('any single edit of the audit tables is detected (property, SQLite: hundreds of throw-away logs)', () => {
  const TABLES = {
    audit_log: ['seq', 'at', 'actor', 'action', 'subject', 'outcome', 'detail', 'prev_hash', 'hash'],
    audit_checkpoints: ['seq', 'hash', 'signature', 'key_id', 'at'],
    audit_head: ['seq', 'hash', 'signature', 'key_id', 'at'],
  } as const;
  type Table = keyof typeof TABLES;

  const command = fc.record({
    actor: fc.constantFrom('alice', 'bob', 'system'),
    action: fc.constantFrom('change.vote', 'change.submit', 'evidence.export'),
    subject: fc.constantFrom('chg-1', 'chg-2'),
    outcome: fc.constantFrom('ok' as const, 'refused' as const),
    detail: fc.oneof(fc.constant(null), fc.record({ n: fc.integer(), s: fc.string({ maxLength: 4 }) })),
    /** Appended in a transaction that rolls back (never anchored, never in the log). */
    rolledBack: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
    /** Wait for the anchor after this command (otherwise several commands share one anchor line). */
    flush: fc.boolean(),
  });
  const value = fc.oneof(
    fc.constant({ kind: 'mutate' as const }),
    fc.constant({ kind: 'other-row' as const }),
    fc.integer({ min: -2, max: 40 }).map((n) => ({ kind: 'int' as const, n })),
    fc.string({ maxLength: 8 }).map((s) => ({ kind: 'text' as const, s })),
  );
  const edit = fc.record({
    table: fc.constantFrom<Table>('audit_log', 'audit_checkpoints', 'audit_head'),
    kind: fc.constantFrom('update' as const, 'delete' as const, 'insert' as const),
    row: fc.nat(),
    column: fc.nat(),
    value,
    freshSeq: fc.integer({ min: -1, max: 40 }),
  });

  type Value = Parameters<typeof newValue>[0];
  function newValue(v: { kind: 'mutate' } | { kind: 'other-row' } | { kind: 'int'; n: number } | { kind: 'text'; s: string }, current: unknown, others: unknown[]): unknown {
    switch (v.kind) {
      case 'mutate':
        if (typeof current === 'number') return current + 1;
        if (typeof current === 'string' && current.length > 0) {
          const i = Math.floor(current.length / 2);
          return current.slice(0, i) + (current[i] === 'a' ? 'b' : 'a') + current.slice(i + 1);
        }
        return 'a';
      case 'other-row': return others.length > 0 ? others[0] : 'x';
      case 'int': return v.n;
      case 'text': return v.s;
    }
  }

  const dump = (db: DatabaseSync): string => JSON.stringify(Object.keys(TABLES).map((t) => db.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all()));

  /** Applies one edit; false when SQLite refused it or it changed nothing (not an edit then). */
  function apply(db: DatabaseSync, e: { table: Table; kind: 'update' | 'delete' | 'insert'; row: number; column: number; value: Value; freshSeq: number }): boolean {
    const columns = TABLES[e.table];
    const rows = db.prepare(`SELECT rowid AS _rowid, * FROM ${e.table} ORDER BY rowid`).all() as Record<string, unknown>[];
    const before = dump(db);
    const column = columns[e.column % columns.length]!;
    try {
      if (e.kind === 'insert') {
        const base: Record<string, unknown> = rows.length > 0
          ? { ...rows[e.row % rows.length]! }
          : Object.fromEntries(columns.map((c) => [c, c === 'seq' ? 1 : 'x']));
        // Keyed tables: a fresh seq, or the insert is refused; the head table has no key, so a plain copy is an edit too.
        if (e.table !== 'audit_head') base.seq = e.freshSeq;
        if (column !== 'seq' || e.table === 'audit_head') base[column] = newValue(e.value, base[column], rows.filter((_, i) => i !== e.row % Math.max(rows.length, 1)).map((r) => r[column]));
        // Not generated: a copy of the head row (or of an anchor line) into audit_checkpoints at its seq. It carries a
        // valid signature over a true statement (the entry at that seq has that hash), so it verifies, and it is
        // harmless: it hides nothing and vouches only for what the head or the anchor already vouch for.
        db.prepare(`INSERT INTO ${e.table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`).run(...columns.map((c) => base[c] as string | number | null));
      } else {
        if (rows.length === 0) return false;
        const target = rows[e.row % rows.length]!;
        if (e.kind === 'delete') db.prepare(`DELETE FROM ${e.table} WHERE rowid = ?`).run(target._rowid as number);
        else {
          const others = rows.filter((r) => r !== target).map((r) => r[column]);
          db.prepare(`UPDATE ${e.table} SET ${column} = ? WHERE rowid = ?`).run(newValue(e.value, target[column], others) as string | number | null, target._rowid as number);
        }
      }
    } catch {
      return false; // refused by a constraint (NOT NULL, duplicate seq): the database is unchanged
    }
    return dump(db) !== before;
  }

  it('builds random anchored logs, applies one random edit to audit_log, audit_checkpoints or audit_head, and verification fails', async () => {
    const base = tempDir();
    const key = loadOrCreateServerKey(base);
    let run = 0;
    await fc.assert(fc.asyncProperty(fc.array(command, { minLength: 0, maxLength: 24 }), edit, async (commands, e) => {
      const dir = join(base, `run-${run++}`);
      mkdirSync(dir);
      const db = openAuditDb(dir);
      db.raw.exec('PRAGMA synchronous = OFF'); // hundreds of throw-away logs: durability is not what is tested here
      const anchorPath = join(dir, ANCHOR_FILE);
      const log = new AuditLog(db, key, { checkpointEvery: 4, anchorPath });
      const rolledBack = new Error('rolled back');
      try {
        for (const c of commands) {
          if (c.rolledBack) {
            await assert.rejects(db.transaction(async () => {
              await log.append(c);
              throw rolledBack;
            }), rolledBack);
          } else await log.append(c);
          if (c.flush) await log.flushAnchor();
        }
        await log.flushAnchor();
        const verify = () => verifyAudit(db, key.publicKeyPem, { checkpointEvery: 4, anchors: [readAnchorFile(anchorPath, 'the anchor file')] });
        const clean = await verify();
        assert.equal(clean.ok, true, JSON.stringify(clean));
        fc.pre(apply(db.raw, e));
        const r = await verify();
        assert.equal(r.ok, false, `undetected: ${JSON.stringify(e)} on ${commands.length} commands`);
      } finally {
        await log.close();
        await db.close();
        if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
      }
    }), { numRuns: 300 });
  });
});
