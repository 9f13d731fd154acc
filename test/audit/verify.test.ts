import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { AuditLog } from '../../server/audit/audit-log.ts';
import type { AuditRow, CheckpointRow } from '../../server/audit/audit-log.ts';
import { canonicalJson } from '../../server/audit/canonical.ts';
import { entryHash, signCheckpoint } from '../../server/audit/entry.ts';
import { loadOrCreateServerKey, loadServerKey } from '../../server/audit/server-key.ts';
import { verifyAudit } from '../../server/audit/verify.ts';
import { openAuditDb, rechain, tempDir } from './fixtures.ts';

/** 25 entries over three subjects, checkpoints every 10 (10, 20) and one on demand (25). */
function seeded(): { dir: string; db: DatabaseSync; pem: string } {
  const dir = tempDir();
  const db = openAuditDb(dir);
  const key = loadOrCreateServerKey(dir);
  const log = new AuditLog(db, key, { checkpointEvery: 10 });
  for (let i = 1; i <= 25; i++) {
    log.append({ actor: `user${i % 4}`, action: i % 5 === 0 ? 'vote' : 'annotate', subject: `chg-${i % 3}`, outcome: i % 7 === 0 ? 'refused' : 'ok', detail: { n: i, note: `entry ${i}` } });
  }
  log.checkpoint();
  return { dir, db, pem: key.publicKeyPem };
}

const opts = { checkpointEvery: 10 };

function assertBroken(db: DatabaseSync, pem: string, seq: number | null, reason: RegExp): void {
  const r = verifyAudit(db, pem, opts);
  assert.equal(r.ok, false, 'verification should fail');
  if (r.ok) return;
  assert.equal(r.seq, seq, `names entry ${String(seq)} (got ${String(r.seq)}: ${r.reason})`);
  assert.match(r.reason, reason);
}


describe('verifyAudit on a real SQLite file', () => {
  it('accepts an untouched log and reports counts', () => {
    const { dir, db, pem } = seeded();
    const r = verifyAudit(db, pem, opts);
    assert.deepEqual(r, { ok: true, entries: 25, checkpoints: 2, lastSeq: 25, lastCheckpointSeq: 25, head: 25, keyId: loadServerKey(dir).keyId, anchors: [] });
  });

  it('accepts an empty log', () => {
    const dir = tempDir();
    const r = verifyAudit(openAuditDb(dir), loadOrCreateServerKey(dir).publicKeyPem);
    assert.equal(r.ok, true);
  });

  it("names an entry whose detail was UPDATEd", () => {
    const { db, pem } = seeded();
    db.prepare('UPDATE audit_log SET detail = ? WHERE seq = 17').run(canonicalJson({ n: 17, note: 'nothing happened' }));
    assertBroken(db, pem, 17, /^hash mismatch$/);
  });

  it('names the entry whose actor was changed and re-hashed, at the broken link', () => {
    const { db, pem } = seeded();
    const row = db.prepare('SELECT * FROM audit_log WHERE seq = 13').get() as unknown as AuditRow;
    const fields = { seq: 13, at: row.at, actor: 'mallory', action: row.action, subject: row.subject, outcome: row.outcome as 'ok', detail: JSON.parse(row.detail) as unknown, prevHash: row.prev_hash };
    db.prepare('UPDATE audit_log SET actor = ?, hash = ? WHERE seq = 13').run('mallory', entryHash(fields));
    assertBroken(db, pem, 14, /chain broken: prev_hash is not the hash of entry 13/);
  });

  it('catches a consistent rewrite of the tail at the first signed checkpoint after it', () => {
    const { db, pem } = seeded();
    db.prepare("UPDATE audit_log SET outcome = 'ok' WHERE seq = 14").run();
    rechain(db, 14);
    assertBroken(db, pem, 20, /rewritten after signing/);
  });

  it('names a DELETEd entry', () => {
    const { db, pem } = seeded();
    db.exec('DELETE FROM audit_log WHERE seq = 12');
    assertBroken(db, pem, 12, /missing \(the log jumps from entry 11 to 13\)/);
  });

  it('catches a truncated tail through the signed head', () => {
    const { db, pem } = seeded();
    db.exec('DELETE FROM audit_log WHERE seq >= 23');
    assertBroken(db, pem, 23, /^missing \(the log ends at entry 22 but its signed head is entry 25: entries 23 to 25 were deleted\)$/);
  });

  it('accepts a checkpoint row copied from the signed head: a true statement, harmless', () => {
    const { db, pem } = seeded();
    db.exec('INSERT INTO audit_checkpoints SELECT * FROM audit_head');
    const r = verifyAudit(db, pem, opts);
    assert.equal(r.ok && r.checkpoints, 3);
  });

  it('names the first of two entries whose seq were swapped', () => {
    const { db, pem } = seeded();
    db.exec('UPDATE audit_log SET seq = -5 WHERE seq = 5; UPDATE audit_log SET seq = 5 WHERE seq = 8; UPDATE audit_log SET seq = 8 WHERE seq = -5;');
    assertBroken(db, pem, 5, /^hash mismatch$/);
  });

  it('detects a detail rewritten to equivalent but non-canonical JSON', () => {
    const { db, pem } = seeded();
    db.prepare('UPDATE audit_log SET detail = ? WHERE seq = 3').run('{ "note": "entry 3", "n": 3 }');
    assertBroken(db, pem, 3, /not canonical/);
  });

  it('names a checkpoint whose signature was forged', () => {
    const { db, pem } = seeded();
    const real = db.prepare('SELECT * FROM audit_checkpoints WHERE seq = 10').get() as unknown as CheckpointRow;
    const mallory = generateKeyPairSync('ed25519').privateKey;
    const forged = signCheckpoint({ seq: 10, hash: real.hash, keyId: real.key_id, at: real.at }, mallory);
    db.prepare('UPDATE audit_checkpoints SET signature = ? WHERE seq = 10').run(forged.signature);
    assertBroken(db, pem, 10, /checkpoint signature does not verify/);
  });

  it('names the position of a deleted checkpoint', () => {
    const { db, pem } = seeded();
    db.exec('DELETE FROM audit_checkpoints WHERE seq = 20');
    assertBroken(db, pem, 20, /checkpoint is missing \(one is signed every 10 entries\)/);
  });

  it('reports the lowest broken entry when several are broken', () => {
    const { db, pem } = seeded();
    db.exec("UPDATE audit_log SET actor = 'x' WHERE seq = 22; DELETE FROM audit_checkpoints WHERE seq = 10;");
    assertBroken(db, pem, 10, /checkpoint is missing/);
  });

  it('fails every checkpoint once the server key is replaced (a rewrite with a new key is visible)', () => {
    const { dir, db } = seeded();
    rmSync(join(dir, 'server-key.pem'));
    const replaced = loadOrCreateServerKey(dir);
    assertBroken(db, replaced.publicKeyPem, 10, /checkpoint signed by key [0-9a-f]{16}, not by the verifying key/);
  });

  it('refuses a public key that is not Ed25519', () => {
    const { db } = seeded();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assertBroken(db, rsa, null, /not an ed25519 key/);
  });
});
