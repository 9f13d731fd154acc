import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ANCHOR_FILE, readAnchorFile } from '../../server/audit/anchor.ts';
import { AuditLog } from '../../server/audit/audit-log.ts';
import type { AuditEntry } from '../../server/audit/audit-log.ts';
import { canonicalJson } from '../../server/audit/canonical.ts';
import { GENESIS_HASH, checkpointMessage, entryHash } from '../../server/audit/entry.ts';
import { AUDIT_HEAD_SCHEMA } from '../../server/audit/schema.ts';
import { keyIdOf, loadOrCreateServerKey, loadServerKey } from '../../server/audit/server-key.ts';
import { verifyAudit } from '../../server/audit/verify.ts';
import { PgDatabase } from '../../server/store/postgres/pg-database.ts';
import { openDatabase } from '../../server/store/sqlite/database.ts';
import { PG_URL, onEachDatabase, openTestStorage } from '../helpers/databases.ts';
import { tempDir } from './fixtures.ts';

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

const rolledBack = new Error('rolled back');

onEachDatabase('AuditLog', (kind) => {
  /** A migrated, empty database of this kind, and the server key in its data directory. */
  async function opened() {
    const storage = await openTestStorage(kind);
    return { db: storage.db, dir: storage.dataDir, key: loadOrCreateServerKey(storage.dataDir) };
  }

  it('chains entries by hash from the genesis hash and stores detail as canonical JSON', async () => {
    const { db, key } = await opened();
    const log = new AuditLog(db, key);
    const e1 = await log.append({ actor: 'alice', action: 'revision.submit', subject: 'chg-1', outcome: 'ok', detail: { revision: 1, hash: 'ab' } });
    const e2 = await log.append({ actor: 'bob', action: 'vote', subject: 'chg-1', outcome: 'refused', detail: { reason: 'self-approval' } });
    const e3 = await log.append({ actor: 'system', action: 'noop', subject: 'chg-2', outcome: 'ok' });
    assert.deepEqual([e1.seq, e2.seq, e3.seq], [1, 2, 3]);
    assert.equal(e1.prevHash, GENESIS_HASH);
    assert.equal(e2.prevHash, e1.hash);
    assert.equal(e3.prevHash, e2.hash);
    assert.equal(e3.detail, null);
    const { hash, ...fields } = e2;
    assert.equal(hash, entryHash(fields));
    assert.equal(hash, createHash('sha256').update(canonicalJson({ ...fields })).digest('hex'));
    const stored = await db.get<{ detail: string }>('SELECT detail FROM audit_log WHERE seq = 1');
    assert.equal(stored?.detail, '{"hash":"ab","revision":1}');
    assert.deepEqual(await log.all(), [e1, e2, e3]);
    assert.deepEqual(await log.entriesFor('chg-1'), [e1, e2]);
    assert.equal(await log.firstSeqFor('chg-2'), 3);
    assert.equal(await log.firstSeqFor('nope'), undefined);
    await assert.rejects(log.append({ actor: '', action: 'x', subject: 's', outcome: 'ok' }), /actor/);
    await assert.rejects(log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'maybe' as 'ok' }), /outcome/);
  });

  it("writes in the caller's unit of work: a rolled-back command leaves no entry", async () => {
    const { db, key } = await opened();
    const log = new AuditLog(db, key);
    await assert.rejects(db.transaction(async () => {
      await db.run('INSERT INTO policies (name, yaml, updated_by, updated_at) VALUES (?, ?, ?, ?)', ['p', 'x: 1', 'a', '2025-01-01T00:00:00.000Z']);
      await log.append({ actor: 'a', action: 'vote', subject: 'c', outcome: 'ok' });
      assert.equal(db.inTransaction, true, "append must not end the caller's unit of work");
      throw rolledBack;
    }), rolledBack);
    assert.deepEqual(await log.all(), []);
    assert.equal(await db.get('SELECT name FROM policies'), undefined, 'the state change rolled back with it');
    await db.transaction(() => log.append({ actor: 'a', action: 'vote', subject: 'c', outcome: 'ok' }));
    await log.append({ actor: 'a', action: 'vote', subject: 'c', outcome: 'ok' });
    assert.equal(db.inTransaction, false);
    assert.deepEqual((await log.all()).map((e) => e.seq), [1, 2]);
  });

  it('signs a checkpoint every N entries and on demand, over the entry hash, position and key', async () => {
    const { db, key } = await opened();
    const log = new AuditLog(db, key, { checkpointEvery: 3 });
    assert.equal(await log.checkpoint(), null);
    const entries: AuditEntry[] = [];
    for (let i = 0; i < 7; i++) entries.push(await log.append({ actor: 'a', action: 'x', subject: `s${i}`, outcome: 'ok' }));
    assert.deepEqual((await log.checkpoints()).map((c) => c.seq), [3, 6]);
    const onDemand = await log.checkpoint();
    assert.ok(onDemand);
    assert.equal(onDemand.seq, 7);
    assert.equal(onDemand.hash, entries[6]!.hash);
    assert.deepEqual(await log.checkpoint(), onDemand, 'idempotent while no entry is appended');
    assert.deepEqual(onDemand, await log.head(), 'on demand, the signed head');
    assert.deepEqual((await log.checkpoints()).map((c) => c.seq), [3, 6], 'no checkpoint row beyond the periodic ones');
    assert.ok(verify(null, checkpointMessage(onDemand), createPublicKey(key.publicKeyPem), Buffer.from(onDemand.signature, 'base64')));
    for (const c of await log.checkpoints()) {
      assert.equal(c.keyId, key.keyId);
      assert.equal(c.hash, entries[c.seq - 1]!.hash);
      assert.ok(verify(null, checkpointMessage(c), createPublicKey(key.publicKeyPem), Buffer.from(c.signature, 'base64')));
    }
  });

  it('signs the head in the transaction of every append: a rollback restores the previous head', async () => {
    const { db, key } = await opened();
    const log = new AuditLog(db, key);
    assert.equal(await log.head(), null);
    const e1 = await log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
    const head1 = await log.head();
    assert.deepEqual(head1 && { seq: head1.seq, hash: head1.hash, at: head1.at, keyId: head1.keyId }, { seq: 1, hash: e1.hash, at: e1.at, keyId: key.keyId });
    assert.ok(verify(null, checkpointMessage(head1!), createPublicKey(key.publicKeyPem), Buffer.from(head1!.signature, 'base64')));
    await assert.rejects(db.transaction(async () => {
      const e2 = await log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
      assert.equal((await log.head())?.hash, e2.hash);
      throw rolledBack;
    }), rolledBack);
    assert.deepEqual(await log.head(), head1);
    assert.equal((await db.get<{ n: number }>('SELECT count(*) AS n FROM audit_head'))?.n, 1);
  });

  it('signs the head of a log written before heads were signed when asked for a checkpoint', async () => {
    const { db, key } = await opened();
    const log = new AuditLog(db, key);
    let last: AuditEntry | undefined;
    for (let i = 0; i < 3; i++) last = await log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' });
    await db.run('DELETE FROM audit_head');
    const head = await log.checkpoint();
    assert.equal(head?.seq, 3);
    assert.equal(head?.hash, last!.hash);
    assert.deepEqual(await log.head(), head);
  });

  it('keeps `at` monotonic when the clock steps back', async () => {
    const { db, key } = await opened();
    const times = ['2025-01-01T10:00:00.000Z', '2025-01-01T09:00:00.000Z', '2025-01-01T11:00:00.000Z'];
    const log = new AuditLog(db, key, { now: () => new Date(times.shift()!) });
    const ats: string[] = [];
    for (let i = 0; i < 3; i++) ats.push((await log.append({ actor: 'a', action: 'x', subject: 's', outcome: 'ok' })).at);
    assert.deepEqual(ats, ['2025-01-01T10:00:00.000Z', '2025-01-01T10:00:00.000Z', '2025-01-01T11:00:00.000Z']);
  });

  it('concurrent appends (and exports of the head) each get their own seq: one chain, no gaps', async () => {
    const { db, key } = await opened();
    const log = new AuditLog(db, key, { checkpointEvery: 5 });
    const appended = await Promise.all(Array.from({ length: 30 }, (_, i) => i % 10 === 9
      ? db.transaction(async () => {
        const e = await log.append({ actor: 'a', action: 'x', subject: `s${i}`, outcome: 'ok' });
        await log.checkpoint();
        return e;
      })
      : log.append({ actor: 'a', action: 'x', subject: `s${i}`, outcome: 'ok' })));
    assert.deepEqual(appended.map((e) => e.seq).sort((a, b) => a - b), Array.from({ length: 30 }, (_, i) => i + 1));
    assert.deepEqual(await verifyAudit(db, key.publicKeyPem, { checkpointEvery: 5 }), {
      ok: true, entries: 30, checkpoints: 6, lastSeq: 30, lastCheckpointSeq: 30, head: 30, keyId: key.keyId, anchors: [],
    });
  });

  if (kind === 'postgres') {
    it('two nodes (two pools on one schema) appending at once write one intact chain, each anchoring in order', async () => {
      const { db, dir, key } = await opened();
      const { schema } = (await db.get<{ schema: string }>('SELECT current_schema() AS schema'))!;
      const other = new PgDatabase(PG_URL, { schema, max: 4 });
      try {
        const anchors = ['node-a', 'node-b'].map((name) => {
          mkdirSync(join(dir, name));
          return join(dir, name, ANCHOR_FILE);
        });
        const nodes = [db, other].map((d, i) => new AuditLog(d, key, { checkpointEvery: 10, anchorPath: anchors[i]! }));
        const perNode = 40;
        const appended = await Promise.all(nodes.flatMap((log, n) => Array.from({ length: perNode }, (_, i) =>
          log.append({ actor: `node-${n}`, action: 'change.vote', subject: `chg-${i % 3}`, outcome: 'ok', detail: { n, i } }))));
        await Promise.all(nodes.map((log) => log.close()));
        const total = 2 * perNode;
        assert.deepEqual(appended.map((e) => e.seq).sort((a, b) => a - b), Array.from({ length: total }, (_, i) => i + 1), 'every append got its own seq');
        const r = await verifyAudit(db, key.publicKeyPem, {
          checkpointEvery: 10, anchors: anchors.map((path, i) => readAnchorFile(path, `the anchor file of node ${i}`)),
        });
        assert.equal(r.ok, true, JSON.stringify(r));
        if (r.ok) {
          assert.equal(r.entries, total);
          assert.equal(r.head, total);
          assert.equal(r.checkpoints, total / 10);
          for (const a of r.anchors) assert.ok(a.lines > 0 && a.lastSeq !== null, `${a.label} holds lines in order`);
        }
        const bySubject = await Promise.all(['chg-0', 'chg-1', 'chg-2'].map((s) => nodes[1]!.entriesFor(s)));
        assert.equal(bySubject.flat().length, total, 'every entry, from both nodes');
      } finally {
        await other.close();
      }
    });
  }
});

describe('AuditLog on SQLite', () => {
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
});
