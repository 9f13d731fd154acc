/**
 * verifyAudit on a real database of each kind, edited by hand (plain SQL that both take) the ways
 * someone who can write the database but does not hold the key could.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../../server/audit/audit-log.ts';
import type { AuditRow, CheckpointRow } from '../../server/audit/audit-log.ts';
import { canonicalJson } from '../../server/audit/canonical.ts';
import { entryHash, signCheckpoint } from '../../server/audit/entry.ts';
import { loadOrCreateServerKey, loadServerKey } from '../../server/audit/server-key.ts';
import { verifyAudit } from '../../server/audit/verify.ts';
import type { Database } from '../../server/store/sql.ts';
import { onEachDatabase, openTestStorage, type DatabaseKind } from '../helpers/databases.ts';
import { rechain } from './fixtures.ts';

const opts = { checkpointEvery: 10 };

async function assertBroken(db: Database, pem: string, seq: number | null, reason: RegExp): Promise<void> {
  const r = await verifyAudit(db, pem, opts);
  assert.equal(r.ok, false, 'verification should fail');
  if (r.ok) return;
  assert.equal(r.seq, seq, `names entry ${String(seq)} (got ${String(r.seq)}: ${r.reason})`);
  assert.match(r.reason, reason);
}

onEachDatabase('verifyAudit', (kind: DatabaseKind) => {
  /** 25 entries over three subjects, checkpoints every 10 (10, 20) and one on demand (25). */
  async function seeded(): Promise<{ dir: string; db: Database; pem: string }> {
    const { db, dataDir: dir } = await openTestStorage(kind);
    const key = loadOrCreateServerKey(dir);
    const log = new AuditLog(db, key, { checkpointEvery: 10 });
    for (let i = 1; i <= 25; i++) {
      await log.append({ actor: `user${i % 4}`, action: i % 5 === 0 ? 'vote' : 'annotate', subject: `chg-${i % 3}`, outcome: i % 7 === 0 ? 'refused' : 'ok', detail: { n: i, note: `entry ${i}` } });
    }
    await log.checkpoint();
    return { dir, db, pem: key.publicKeyPem };
  }

  it('accepts an untouched log and reports counts', async () => {
    const { dir, db, pem } = await seeded();
    const r = await verifyAudit(db, pem, opts);
    assert.deepEqual(r, { ok: true, entries: 25, checkpoints: 2, lastSeq: 25, lastCheckpointSeq: 25, head: 25, keyId: loadServerKey(dir).keyId, anchors: [] });
  });

  it('accepts an empty log', async () => {
    const { db, dataDir } = await openTestStorage(kind);
    const r = await verifyAudit(db, loadOrCreateServerKey(dataDir).publicKeyPem);
    assert.equal(r.ok, true);
  });

  it("names an entry whose detail was UPDATEd", async () => {
    const { db, pem } = await seeded();
    await db.run('UPDATE audit_log SET detail = ? WHERE seq = 17', [canonicalJson({ n: 17, note: 'nothing happened' })]);
    await assertBroken(db, pem, 17, /^hash mismatch$/);
  });

  it('names the entry whose actor was changed and re-hashed, at the broken link', async () => {
    const { db, pem } = await seeded();
    const row = (await db.get<AuditRow>('SELECT * FROM audit_log WHERE seq = 13'))!;
    const fields = { seq: 13, at: row.at, actor: 'mallory', action: row.action, subject: row.subject, outcome: row.outcome as 'ok', detail: JSON.parse(row.detail) as unknown, prevHash: row.prev_hash };
    await db.run('UPDATE audit_log SET actor = ?, hash = ? WHERE seq = 13', ['mallory', entryHash(fields)]);
    await assertBroken(db, pem, 14, /chain broken: prev_hash is not the hash of entry 13/);
  });

  it('catches a consistent rewrite of the tail at the first signed checkpoint after it', async () => {
    const { db, pem } = await seeded();
    await db.run("UPDATE audit_log SET outcome = 'ok' WHERE seq = 14");
    await rechain(db, 14);
    await assertBroken(db, pem, 20, /rewritten after signing/);
  });

  it('names a DELETEd entry', async () => {
    const { db, pem } = await seeded();
    await db.run('DELETE FROM audit_log WHERE seq = 12');
    await assertBroken(db, pem, 12, /missing \(the log jumps from entry 11 to 13\)/);
  });

  it('catches a truncated tail through the signed head', async () => {
    const { db, pem } = await seeded();
    await db.run('DELETE FROM audit_log WHERE seq >= 23');
    await assertBroken(db, pem, 23, /^missing \(the log ends at entry 22 but its signed head is entry 25: entries 23 to 25 were deleted\)$/);
  });

  it('accepts a checkpoint row copied from the signed head: a true statement, harmless', async () => {
    const { db, pem } = await seeded();
    await db.run('INSERT INTO audit_checkpoints SELECT * FROM audit_head');
    const r = await verifyAudit(db, pem, opts);
    assert.equal(r.ok && r.checkpoints, 3);
  });

  it('names the first of two entries whose seq were swapped', async () => {
    const { db, pem } = await seeded();
    for (const [from, to] of [[5, -5], [8, 5], [-5, 8]]) await db.run('UPDATE audit_log SET seq = ? WHERE seq = ?', [to!, from!]);
    await assertBroken(db, pem, 5, /^hash mismatch$/);
  });

  it('detects a detail rewritten to equivalent but non-canonical JSON', async () => {
    const { db, pem } = await seeded();
    await db.run('UPDATE audit_log SET detail = ? WHERE seq = 3', ['{ "note": "entry 3", "n": 3 }']);
    await assertBroken(db, pem, 3, /not canonical/);
  });

  it('names a checkpoint whose signature was forged', async () => {
    const { db, pem } = await seeded();
    const real = (await db.get<CheckpointRow>('SELECT * FROM audit_checkpoints WHERE seq = 10'))!;
    const mallory = generateKeyPairSync('ed25519').privateKey;
    const forged = signCheckpoint({ seq: 10, hash: real.hash, keyId: real.key_id, at: real.at }, mallory);
    await db.run('UPDATE audit_checkpoints SET signature = ? WHERE seq = 10', [forged.signature]);
    await assertBroken(db, pem, 10, /checkpoint signature does not verify/);
  });

  it('names the position of a deleted checkpoint', async () => {
    const { db, pem } = await seeded();
    await db.run('DELETE FROM audit_checkpoints WHERE seq = 20');
    await assertBroken(db, pem, 20, /checkpoint is missing \(one is signed every 10 entries\)/);
  });

  it('reports the lowest broken entry when several are broken', async () => {
    const { db, pem } = await seeded();
    await db.run("UPDATE audit_log SET actor = 'x' WHERE seq = 22");
    await db.run('DELETE FROM audit_checkpoints WHERE seq = 10');
    await assertBroken(db, pem, 10, /checkpoint is missing/);
  });

  it('fails every checkpoint once the server key is replaced (a rewrite with a new key is visible)', async () => {
    const { dir, db } = await seeded();
    rmSync(join(dir, 'server-key.pem'));
    const replaced = loadOrCreateServerKey(dir);
    await assertBroken(db, replaced.publicKeyPem, 10, /checkpoint signed by key [0-9a-f]{16}, not by the verifying key/);
  });

  it('refuses a public key that is not Ed25519', async () => {
    const { db } = await seeded();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await assertBroken(db, rsa, null, /not an ed25519 key/);
  });
});
