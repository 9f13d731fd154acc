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
import { openAuditDb, rechain, tempDir } from './fixtures.ts';

const EVERY = 10;

interface Anchored {
  dir: string;
  db: DatabaseSync;
  key: ServerKey;
  log: AuditLog;
  anchorPath: string;
  /** Verifies the database alone (what the signed head proves without the anchor). */
  verifyDb: () => VerifyResult;
  /** Verifies the database against the anchor file. */
  verify: () => VerifyResult;
}

/** 31 entries, checkpoints at 10, 20, 30; the anchor holds the heads at 3, 6, ..., 30 and 31. */
async function anchored(n = 31): Promise<Anchored> {
  const dir = tempDir();
  const db = openAuditDb(dir);
  const key = loadOrCreateServerKey(dir);
  const anchorPath = join(dir, ANCHOR_FILE);
  // One instant for every entry: reordered entries are not given away by their times.
  const log = new AuditLog(db, key, { checkpointEvery: EVERY, anchorPath, now: () => new Date('2025-03-01T10:00:00.000Z') });
  for (let i = 1; i <= n; i++) {
    log.append({ actor: `user${i % 4}`, action: 'change.vote', subject: `chg-${i % 3}`, outcome: i % 7 === 0 ? 'refused' : 'ok', detail: { n: i } });
    if (i % 3 === 0) await log.flushAnchor();
  }
  await log.flushAnchor();
  return {
    dir, db, key, log, anchorPath,
    verifyDb: () => verifyAudit(db, key.publicKeyPem, { checkpointEvery: EVERY }),
    verify: () => verifyAudit(db, key.publicKeyPem, { checkpointEvery: EVERY, anchors: [readAnchorFile(anchorPath, 'the anchor file')] }),
  };
}

function assertBroken(r: VerifyResult, seq: number | null, reason: RegExp): void {
  assert.equal(r.ok, false, 'verification should fail');
  if (r.ok) return;
  assert.equal(r.seq, seq, `names ${String(seq)} (got ${String(r.seq)}: ${r.reason})`);
  assert.match(r.reason, reason);
}


const anchorLines = (path: string): { seq: number; hash: string; signature: string; keyId: string; at: string }[] =>
  readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { seq: number; hash: string; signature: string; keyId: string; at: string });

describe('the signed head', () => {
  it('an untouched anchored log verifies, with its head signed at the last entry', async () => {
    const { verify, key, anchorPath } = await anchored();
    assert.deepEqual(anchorLines(anchorPath).map((l) => l.seq), [3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 31]);
    assert.deepEqual(verify(), {
      ok: true, entries: 31, checkpoints: 3, lastSeq: 31, lastCheckpointSeq: 31, head: 31, keyId: key.keyId,
      anchors: [{ label: 'the anchor file', lines: 11, lastSeq: 31, tornTail: false }],
    });
  });

  it('deleting the last entries is caught by the signed head, even without the anchor', async () => {
    const { db, verifyDb, verify } = await anchored();
    db.exec('DELETE FROM audit_log WHERE seq >= 24');
    assertBroken(verifyDb(), 24, /^missing \(the log ends at entry 23 but its signed head is entry 31: entries 24 to 31 were deleted\)$/);
    assertBroken(verify(), 24, /the log ends at entry 23/);
  });

  it('deleting everything after entry 23 with its checkpoints and the head row is caught', async () => {
    const { db, verifyDb, verify } = await anchored();
    db.exec('DELETE FROM audit_log WHERE seq > 23; DELETE FROM audit_checkpoints WHERE seq > 23; DELETE FROM audit_head;');
    assertBroken(verifyDb(), null, /the signed head \(table audit_head\) is missing/);
    assertBroken(verify(), null, /the signed head \(table audit_head\) is missing/);
  });

  it('a truncation that puts back an older signed head passes the database alone, and is caught by the anchor', async () => {
    const { db, verifyDb, verify, anchorPath } = await anchored();
    // Whoever can write the data directory can read the anchor file: line 7 signs entry 21.
    const older = anchorLines(anchorPath)[6]!;
    assert.equal(older.seq, 21);
    db.exec('DELETE FROM audit_log WHERE seq > 21; DELETE FROM audit_checkpoints WHERE seq > 21; DELETE FROM audit_head;');
    db.prepare('INSERT INTO audit_head (seq, hash, signature, key_id, at) VALUES (?, ?, ?, ?, ?)').run(older.seq, older.hash, older.signature, older.keyId, older.at);
    assert.equal(verifyDb().ok, true, 'the database alone cannot tell: this is what the anchor is for');
    assertBroken(verify(), 22, /^missing \(the log ends at entry 21 but the anchor file records entry 31 \(line 11\): entries after 21 were deleted\)$/);
  });

  it('a consistent rewrite of the entries after the last checkpoint is caught by the head and the anchor', async () => {
    const { db, verifyDb, verify } = await anchored();
    db.prepare('UPDATE audit_log SET detail = ? WHERE seq = 31').run('{"n":-31}');
    rechain(db, 31);
    assertBroken(verifyDb(), 31, /^hash does not match the signed head \(rewritten after signing\)$/);
    assertBroken(verify(), 31, /hash/);
    // The same from entry 25 on (after the checkpoint at 20, before the one at 30): entry 27 was anchored.
    const second = await anchored(29);
    second.db.prepare("UPDATE audit_log SET outcome = 'refused' WHERE seq = 26").run();
    rechain(second.db, 25);
    assertBroken(second.verifyDb(), 29, /^hash does not match the signed head/);
    assertBroken(second.verify(), 27, /^its hash differs from the one the anchor file recorded at line 9 \(rewritten after it was anchored\)$/);
  });

  it('a re-signed head from another key does not help the rewrite', async () => {
    const { db, verifyDb } = await anchored();
    db.prepare('UPDATE audit_log SET detail = ? WHERE seq = 31').run('{"n":-31}');
    rechain(db, 31);
    const last = db.prepare('SELECT hash FROM audit_log WHERE seq = 31').get() as { hash: string };
    db.prepare('UPDATE audit_head SET hash = ?').run(last.hash);
    assertBroken(verifyDb(), 31, /the signed head's signature does not verify/);
  });

  it('an entry inserted at the tail (correctly chained) is caught by the head', async () => {
    const { db, verifyDb } = await anchored();
    const prev = db.prepare('SELECT * FROM audit_log WHERE seq = 31').get() as unknown as AuditRow;
    const fields = { seq: 32, at: prev.at, actor: 'mallory', action: 'change.vote', subject: 'chg-1', outcome: 'ok' as const, detail: { n: 32 }, prevHash: prev.hash };
    db.prepare('INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(32, fields.at, fields.actor, fields.action, fields.subject, 'ok', '{"n":32}', prev.hash, entryHash(fields));
    assertBroken(verifyDb(), 32, /^entry 32 comes after the signed head \(entry 31\): appended without the server key$/);
  });

  it('the last two entries reordered (seqs swapped, chain recomputed) are caught', async () => {
    const { db, verifyDb, verify } = await anchored(29);
    db.exec('UPDATE audit_log SET seq = -1 WHERE seq = 28; UPDATE audit_log SET seq = 28 WHERE seq = 29; UPDATE audit_log SET seq = 29 WHERE seq = -1;');
    rechain(db, 28);
    assertBroken(verifyDb(), 29, /^hash does not match the signed head/);
    assertBroken(verify(), 29, /hash/);
  });

  it('requires exactly one head row, and none for an empty log', async () => {
    const { db, verifyDb } = await anchored(5);
    db.exec('INSERT INTO audit_head SELECT * FROM audit_head');
    assertBroken(verifyDb(), null, /audit_head holds 2 rows, not one/);
    const empty = await anchored(0);
    assert.equal(empty.verify().ok, true);
    for (let i = 0; i < 3; i++) empty.log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
    empty.db.exec('DELETE FROM audit_log');
    assertBroken(empty.verifyDb(), 1, /^missing \(the log is empty but its signed head records entry 3: every entry was deleted\)$/);
  });
});

describe('the anchor file', () => {
  it('never holds a head that was not committed: a rolled-back append is not anchored', async () => {
    const dir = tempDir();
    const db = openAuditDb(dir);
    const key = loadOrCreateServerKey(dir);
    const anchorPath = join(dir, ANCHOR_FILE);
    const log = new AuditLog(db, key, { anchorPath });
    log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
    await log.flushAnchor();
    db.exec('BEGIN IMMEDIATE');
    log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
    // Turns pass while the transaction is open: nothing is anchored for it.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 2));
    assert.deepEqual(anchorLines(anchorPath).map((l) => l.seq), [1]);
    db.exec('ROLLBACK');
    await log.flushAnchor();
    assert.deepEqual(anchorLines(anchorPath).map((l) => l.seq), [1]);
    db.exec('BEGIN IMMEDIATE');
    const committed = log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
    db.exec('COMMIT');
    await log.flushAnchor();
    assert.equal(committed.seq, 2);
    assert.deepEqual(anchorLines(anchorPath).map((l) => [l.seq, l.hash]), [[1, log.range(1, 1)[0]!.hash], [2, committed.hash]]);
    await log.close();
  });

  it('collapses the appends of one turn into one line, signed in the checkpoint format', async () => {
    const { anchorPath, log, key } = await anchored(0);
    for (let i = 0; i < 50; i++) log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
    await log.flushAnchor();
    const lines = anchorLines(anchorPath);
    assert.deepEqual(lines, [log.head()]);
    assert.equal(lines[0]!.seq, 50);
    assert.equal(lines[0]!.keyId, key.keyId);
    assert.deepEqual(log.checkpoint(), log.head(), 'checkpoint() returns the signed head');
  });

  it('a missing anchor file fails a non-empty log with a reason to act on', async () => {
    const { anchorPath, verify } = await anchored(4);
    rmSync(anchorPath);
    assertBroken(verify(), null, /^the anchor file does not exist, but the log has 4 entries: it was deleted or moved, or the server ran without anchoring/);
  });

  it('fails on a line that is not signed by the key, out of order, or not an anchor line', async () => {
    const { anchorPath, verify } = await anchored();
    const original = readFileSync(anchorPath, 'utf8');
    const lines = original.split('\n').filter((l) => l !== '');
    const forged = { ...JSON.parse(lines[2]!) as Record<string, unknown>, at: '2020-01-01T00:00:00.000Z' };
    writeFileSync(anchorPath, [...lines.slice(0, 2), JSON.stringify(forged), ...lines.slice(3)].join('\n') + '\n');
    assertBroken(verify(), 9, /^the anchor file line 3 \(entry 9\) is not signed by the server key: its signature does not verify$/);
    writeFileSync(anchorPath, [lines[0], lines[2], lines[1], ...lines.slice(3)].join('\n') + '\n');
    assertBroken(verify(), null, /^the anchor file line 3 records entry 6 after entry 9: its lines are out of order \(edited\?\)$/);
    writeFileSync(anchorPath, `${original}{"seq":"x"}\n`);
    assertBroken(verify(), null, /^the anchor file line 12 is not an anchor line/);
  });

  it('ignores a torn last line (a crash during the write), and the writer repairs it', async () => {
    const { anchorPath, verify, log, db, key } = await anchored();
    appendFileSync(anchorPath, '{"at":"2025-');
    const r = verify();
    assert.equal(r.ok, true, JSON.stringify(r));
    if (r.ok) assert.deepEqual(r.anchors, [{ label: 'the anchor file', lines: 11, lastSeq: 31, tornTail: true }]);
    await log.close();
    const reopened = new AuditLog(db, key, { checkpointEvery: EVERY, anchorPath });
    reopened.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
    await reopened.flushAnchor();
    assert.ok(readFileSync(anchorPath, 'utf8').endsWith('}\n'));
    assert.deepEqual(anchorLines(anchorPath).map((l) => l.seq).slice(-2), [31, 32]);
    assert.equal(verify().ok, true);
  });

  it('two writers on one database (the server and a CLI export) never anchor a lower seq after a higher one', async () => {
    const { db, key, log, anchorPath, verify } = await anchored(3);
    const other = new AuditLog(db, key, { checkpointEvery: EVERY, anchorPath });
    for (let i = 0; i < 20; i++) {
      (i % 2 === 0 ? log : other).append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
      if (i % 3 === 0) await Promise.all([log.flushAnchor(), other.flushAnchor()]);
    }
    await Promise.all([log.flushAnchor(), other.flushAnchor()]);
    const seqs = anchorLines(anchorPath).map((l) => l.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.equal(seqs.at(-1), 23);
    assert.equal(verify().ok, true);
  });

  it('a witness file on other storage catches a truncation even when the anchor file was truncated too', async () => {
    const dir = tempDir();
    const db = openAuditDb(dir);
    const key = loadOrCreateServerKey(dir);
    const anchorPath = join(dir, ANCHOR_FILE);
    mkdirSync(join(dir, 'elsewhere'));
    const witnessPath = join(dir, 'elsewhere', 'witness.jsonl');
    const log = new AuditLog(db, key, { anchorPath, witnessPath });
    for (let i = 1; i <= 12; i++) {
      log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
      await log.flushAnchor();
    }
    assert.deepEqual(anchorLines(witnessPath), anchorLines(anchorPath));
    const older = anchorLines(anchorPath)[7]!;
    db.exec('DELETE FROM audit_log WHERE seq > 8; DELETE FROM audit_head;');
    db.prepare('INSERT INTO audit_head (seq, hash, signature, key_id, at) VALUES (?, ?, ?, ?, ?)').run(older.seq, older.hash, older.signature, older.keyId, older.at);
    writeFileSync(anchorPath, readFileSync(anchorPath, 'utf8').split('\n').slice(0, 8).join('\n') + '\n');
    const both = [readAnchorFile(anchorPath, 'the anchor file'), readAnchorFile(witnessPath, 'the witness file')];
    assert.equal(verifyAudit(db, key.publicKeyPem, { anchors: both.slice(0, 1) }).ok, true, 'the data directory alone is consistent');
    assertBroken(verifyAudit(db, key.publicKeyPem, { anchors: both }), 9, /the log ends at entry 8 but the witness file records entry 12 \(line 12\)/);
    await log.close();
  });
});

describe('anchor errors', () => {
  it('are reported, not thrown at the appender: a witness that cannot be written, a head behind the anchor', async () => {
    const dir = tempDir();
    const db = openAuditDb(dir);
    const key = loadOrCreateServerKey(dir);
    const anchorPath = join(dir, ANCHOR_FILE);
    const errors: string[] = [];
    const log = new AuditLog(db, key, { anchorPath, witnessPath: join(dir, 'no-such-dir', 'witness.jsonl'), onAnchorError: (err) => errors.push(err.message) });
    log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
    await assert.rejects(log.flushAnchor(), /audit anchor .*witness\.jsonl: cannot append the signed head of entry 1: ENOENT/);
    assert.equal(errors.length, 1);
    assert.deepEqual(anchorLines(anchorPath).map((l) => l.seq), [1], 'the anchor file still got its line');
    await log.flushAnchor();

    // A database restored from a backup (or truncated) is behind its anchor: said once, nothing written.
    const fresh = new AuditLog(db, key, { anchorPath, onAnchorError: (err) => errors.push(err.message) });
    for (let i = 0; i < 3; i++) fresh.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
    await fresh.flushAnchor();
    db.exec('DELETE FROM audit_log WHERE seq > 2; DELETE FROM audit_head;');
    fresh.checkpoint();
    await assert.rejects(fresh.flushAnchor(), /the log's signed head \(entry 2\) is behind this file \(entry 4\)/);
    fresh.checkpoint();
    await fresh.flushAnchor();
    assert.deepEqual(anchorLines(anchorPath).map((l) => l.seq), [1, 4]);
    await fresh.close();
    await log.close();
  });
});

describe('any single edit of the audit tables is detected (property)', () => {
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
      db.exec('PRAGMA synchronous = OFF'); // hundreds of throw-away logs: durability is not what is tested here
      const anchorPath = join(dir, ANCHOR_FILE);
      const log = new AuditLog(db, key, { checkpointEvery: 4, anchorPath });
      try {
        for (const c of commands) {
          if (c.rolledBack) {
            db.exec('BEGIN IMMEDIATE');
            log.append(c);
            db.exec('ROLLBACK');
          } else log.append(c);
          if (c.flush) await log.flushAnchor();
        }
        await log.flushAnchor();
        const verify = () => verifyAudit(db, key.publicKeyPem, { checkpointEvery: 4, anchors: [readAnchorFile(anchorPath, 'the anchor file')] });
        const clean = verify();
        assert.equal(clean.ok, true, JSON.stringify(clean));
        fc.pre(apply(db, e));
        const r = verify();
        assert.equal(r.ok, false, `undetected: ${JSON.stringify(e)} on ${commands.length} commands`);
      } finally {
        await log.close();
        db.close();
        if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
      }
    }), { numRuns: 300 });
  });
});
