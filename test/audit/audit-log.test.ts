import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { AuditLog } from '../../server/audit/audit-log.ts';
import { canonicalJson } from '../../server/audit/canonical.ts';
import { GENESIS_HASH, checkpointMessage, entryHash } from '../../server/audit/entry.ts';
import { AUDIT_HEAD_SCHEMA } from '../../server/audit/schema.ts';
import { keyIdOf, loadOrCreateServerKey, loadServerKey } from '../../server/audit/server-key.ts';
import { openDatabase } from '../../server/store/sqlite/database.ts';
import { openAuditDb, tempDir } from './fixtures.ts';

describe('canonicalJson', () => {
  it('sorts keys at every depth, drops undefined members, refuses what JSON cannot hold', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: 'x', c: null }, true], u: undefined }), '{"a":[{"c":null,"d":"x"},true],"b":1}');
    assert.throws(() => canonicalJson({ n: Number.NaN }), /not a finite number/);
    assert.throws(() => canonicalJson([undefined]), /undefined/);
    assert.throws(() => canonicalJson(new Date()), /not a plain object/);
  });
});

describe('server key', () => {
  it('is created once as a 0600 PKCS#8 Ed25519 key and reused; the key id is SHA-256 of the SPKI DER', () => {
    const dir = tempDir();
    const key = loadOrCreateServerKey(join(dir, 'data'));
    const path = join(dir, 'data', 'server-key.pem');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.match(readFileSync(path, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(key.privateKey.asymmetricKeyType, 'ed25519');
    const der = createPublicKey(key.publicKeyPem).export({ type: 'spki', format: 'der' });
    assert.equal(key.keyId, createHash('sha256').update(der).digest('hex').slice(0, 16));
    assert.equal(keyIdOf(key.publicKeyPem), key.keyId);
    assert.equal(loadOrCreateServerKey(join(dir, 'data')).keyId, key.keyId);
    assert.equal(loadServerKey(join(dir, 'data')).publicKeyPem, key.publicKeyPem);
    assert.throws(() => loadServerKey(dir), { code: 'ENOENT' });
  });
});

describe('AuditLog', () => {
  it('chains entries by hash from the genesis hash and stores detail as canonical JSON', () => {
    const dir = tempDir();
    const db = openAuditDb(dir);
    const log = new AuditLog(db, loadOrCreateServerKey(dir));
    const e1 = log.append({ actor: 'alice', action: 'revision.submit', subject: 'chg-1', outcome: 'ok', detail: { revision: 1, hash: 'ab' } });
    const e2 = log.append({ actor: 'bob', action: 'vote', subject: 'chg-1', outcome: 'refused', detail: { reason: 'self-approval' } });
    const e3 = log.append({ actor: 'system', action: 'noop', subject: 'chg-2', outcome: 'ok' });
    assert.deepEqual([e1.seq, e2.seq, e3.seq], [1, 2, 3]);
    assert.equal(e1.prevHash, GENESIS_HASH);
    assert.equal(e2.prevHash, e1.hash);
    assert.equal(e3.prevHash, e2.hash);
    assert.equal(e3.detail, null);
    const { hash, ...fields } = e2;
    assert.equal(hash, entryHash(fields));
    assert.equal(hash, createHash('sha256').update(canonicalJson({ ...fields })).digest('hex'));
    const stored = db.prepare('SELECT detail FROM audit_log WHERE seq = 1').get() as { detail: string };
    assert.equal(stored.detail, '{"hash":"ab","revision":1}');
    assert.deepEqual(log.all(), [e1, e2, e3]);
    assert.deepEqual(log.entriesFor('chg-1'), [e1, e2]);
    assert.equal(log.firstSeqFor('chg-2'), 3);
    assert.equal(log.firstSeqFor('nope'), undefined);
    assert.throws(() => log.append({ actor: '', action: 'x', subject: 's', outcome: 'ok' }), /actor/);
    assert.throws(() => log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'maybe' as 'ok' }), /outcome/);
  });

  it("writes in the caller's open transaction: a rolled-back command leaves no entry", () => {
    const dir = tempDir();
    const db = openAuditDb(dir);
    db.exec('CREATE TABLE state (v TEXT)');
    const log = new AuditLog(db, loadOrCreateServerKey(dir));
    db.exec('BEGIN IMMEDIATE');
    db.prepare('INSERT INTO state VALUES (?)').run('x');
    log.append({ actor: 'a', action: 'vote', subject: 'c', outcome: 'ok' });
    assert.equal(db.isTransaction, true, 'append must not commit the caller\'s transaction');
    db.exec('ROLLBACK');
    assert.deepEqual(log.all(), []);
    db.exec('BEGIN IMMEDIATE');
    log.append({ actor: 'a', action: 'vote', subject: 'c', outcome: 'ok' });
    db.exec('COMMIT');
    log.append({ actor: 'a', action: 'vote', subject: 'c', outcome: 'ok' });
    assert.equal(db.isTransaction, false);
    assert.deepEqual(log.all().map((e) => e.seq), [1, 2]);
  });

  it('signs a checkpoint every N entries and on demand, over the entry hash, position and key', () => {
    const dir = tempDir();
    const db = openAuditDb(dir);
    const key = loadOrCreateServerKey(dir);
    const log = new AuditLog(db, key, { checkpointEvery: 3 });
    assert.equal(log.checkpoint(), null);
    const entries = Array.from({ length: 7 }, (_, i) => log.append({ actor: 'a', action: 'x', subject: `s${i}`, outcome: 'ok' }));
    assert.deepEqual(log.checkpoints().map((c) => c.seq), [3, 6]);
    const onDemand = log.checkpoint();
    assert.ok(onDemand);
    assert.equal(onDemand.seq, 7);
    assert.equal(onDemand.hash, entries[6]!.hash);
    assert.deepEqual(log.checkpoint(), onDemand, 'idempotent while no entry is appended');
    assert.deepEqual(onDemand, log.head(), 'on demand, the signed head');
    assert.deepEqual(log.checkpoints().map((c) => c.seq), [3, 6], 'no checkpoint row beyond the periodic ones');
    assert.ok(verify(null, checkpointMessage(onDemand), createPublicKey(key.publicKeyPem), Buffer.from(onDemand.signature, 'base64')));
    for (const c of log.checkpoints()) {
      assert.equal(c.keyId, key.keyId);
      assert.equal(c.hash, entries[c.seq - 1]!.hash);
      assert.ok(verify(null, checkpointMessage(c), createPublicKey(key.publicKeyPem), Buffer.from(c.signature, 'base64')));
    }
  });

  it('signs the head in the transaction of every append: a rollback restores the previous head', () => {
    const dir = tempDir();
    const db = openAuditDb(dir);
    const key = loadOrCreateServerKey(dir);
    const log = new AuditLog(db, key);
    assert.equal(log.head(), null);
    const e1 = log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
    const head1 = log.head();
    assert.deepEqual(head1 && { seq: head1.seq, hash: head1.hash, at: head1.at, keyId: head1.keyId }, { seq: 1, hash: e1.hash, at: e1.at, keyId: key.keyId });
    assert.ok(verify(null, checkpointMessage(head1!), createPublicKey(key.publicKeyPem), Buffer.from(head1!.signature, 'base64')));
    db.exec('BEGIN IMMEDIATE');
    const e2 = log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
    assert.equal(log.head()?.hash, e2.hash);
    db.exec('ROLLBACK');
    assert.deepEqual(log.head(), head1);
    assert.equal((db.prepare('SELECT count(*) AS n FROM audit_head').get() as { n: number }).n, 1);
  });

  it('signs the head of a log written before heads were signed when asked for a checkpoint', () => {
    const dir = tempDir();
    const db = openAuditDb(dir);
    const log = new AuditLog(db, loadOrCreateServerKey(dir));
    const last = Array.from({ length: 3 }, () => log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' })).at(-1)!;
    db.exec('DELETE FROM audit_head');
    const head = log.checkpoint();
    assert.equal(head?.seq, 3);
    assert.equal(head?.hash, last.hash);
    assert.deepEqual(log.head(), head);
  });

  it('the store migration creates the audit_head table of AUDIT_HEAD_SCHEMA', () => {
    const dir = tempDir();
    const migrated = openDatabase(dir);
    const plain = new DatabaseSync(':memory:');
    plain.exec(AUDIT_HEAD_SCHEMA);
    const columns = (d: DatabaseSync) => d.prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info('audit_head')").all();
    assert.deepEqual(columns(migrated), columns(plain));
    assert.equal(columns(plain).length, 5);
    migrated.close();
  });

  it('keeps `at` monotonic when the clock steps back', () => {
    const dir = tempDir();
    const times = ['2025-01-01T10:00:00.000Z', '2025-01-01T09:00:00.000Z', '2025-01-01T11:00:00.000Z'];
    const log = new AuditLog(openAuditDb(dir), loadOrCreateServerKey(dir), { now: () => new Date(times.shift()!) });
    const ats = [1, 2, 3].map(() => log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' }).at);
    assert.deepEqual(ats, ['2025-01-01T10:00:00.000Z', '2025-01-01T10:00:00.000Z', '2025-01-01T11:00:00.000Z']);
  });
});
