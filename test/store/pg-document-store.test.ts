/**
 * PgDocumentStore against a real PostgreSQL: ACCORD_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test
 * (CI's .ci/run starts the server). Each store gets its own schema (accord_test_<random>), dropped afterwards.
 * Fails (does not skip) when PostgreSQL is unreachable, unless ACCORD_SKIP_PG=1.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { PgDocumentStore } from '../../server/store/postgres/pg-document-store.ts';
import { createPool, migrate, SCHEMA_VERSION } from '../../server/store/postgres/schema.ts';
import { documentStoreContract } from './document-store.contract.ts';

const url = process.env.ACCORD_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const shownUrl = url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');

async function reachable(): Promise<string | null> {
  const pool = createPool(url, { max: 1, connectionTimeoutMillis: 5000 });
  try {
    await pool.query('SELECT 1');
    return null;
  } catch (err) {
    return err instanceof Error ? err.message || String(err) : String(err);
  } finally {
    await pool.end();
  }
}

/** A fresh schema; pools made with `pool()` use it; everything is dropped after the calling test. */
async function isolatedSchema(): Promise<{ pool: (max?: number) => Pool }> {
  const schema = `accord_test_${randomBytes(6).toString('hex')}`;
  const admin = createPool(url, { max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`); // a generated identifier, not input: no parameter possible for DDL
  const pools: Pool[] = [];
  after(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  });
  return {
    pool: (max = 4) => {
      const p = createPool(url, { max, schema });
      pools.push(p);
      return p;
    },
  };
}

const skip = process.env.ACCORD_SKIP_PG === '1';
const unreachable = skip ? null : await reachable();

if (skip) {
  it('PgDocumentStore', { skip: 'ACCORD_SKIP_PG=1' }, () => {});
} else if (unreachable !== null) {
  it('PostgreSQL is reachable for PgDocumentStore', () => {
    assert.fail(`PostgreSQL at ${shownUrl} is not reachable (${unreachable}); start it, set ACCORD_DATABASE_URL, or set ACCORD_SKIP_PG=1 to skip`);
  });
} else {
  documentStoreContract('PgDocumentStore', async () => {
    const pool = (await isolatedSchema()).pool();
    await migrate(pool);
    return new PgDocumentStore(pool);
  });

  describe('PgDocumentStore across nodes', () => {
    it('migrates idempotently, even when several nodes start at once', async () => {
      const db = await isolatedSchema();
      const versions = await Promise.all([migrate(db.pool(1)), migrate(db.pool(1)), migrate(db.pool(1))]);
      assert.deepEqual(versions, [SCHEMA_VERSION, SCHEMA_VERSION, SCHEMA_VERSION]);
      assert.equal(await migrate(db.pool(1)), SCHEMA_VERSION);
      const { rows } = await db.pool(1).query('SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(rows.map((r) => r.version), Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    });

    it('two nodes appending to the same documents at once never lose nor duplicate a sequence number', async () => {
      const db = await isolatedSchema();
      const nodes = [new PgDocumentStore(db.pool(5)), new PgDocumentStore(db.pool(5))];
      await migrate(db.pool(1));
      const docs = ['notes:x', 'notes:y', 'notes:z'];
      for (const d of docs) await nodes[0]!.create(d);

      // Each node sends 40 batches; a batch carries 1–3 updates for a few documents, in varying order.
      const sent = new Map<string, string[]>(docs.map((d) => [d, []]));
      const returned = new Map<string, number[]>(docs.map((d) => [d, []]));
      const runs = nodes.map(async (store, n) =>
        Promise.all(
          Array.from({ length: 40 }, async (_, b) => {
            const batch = [];
            for (let k = 0; k < 1 + ((b + n) % 3); k++) {
              const docId = docs[(b * 7 + k * (n + 1)) % docs.length]!;
              const payload = `node${n}-batch${b}-${k}`;
              sent.get(docId)!.push(payload);
              batch.push({ docId, update: Buffer.from(payload) });
            }
            const seqs = await store.append(batch);
            for (const [docId, seq] of seqs) returned.get(docId)!.push(seq);
          }),
        ),
      );
      await Promise.all(runs);

      for (const d of docs) {
        const loaded = (await nodes[1]!.load(d))!;
        const stored = loaded.updates.map((u) => Buffer.from(u).toString());
        assert.deepEqual([...stored].sort(), [...sent.get(d)!].sort(), `${d}: every update stored exactly once`);
        assert.equal(loaded.lastSeq, sent.get(d)!.length, `${d}: lastSeq is the number of updates`);
        const { rows } = await db.pool(1).query<{ seq: string }>('SELECT seq FROM document_updates WHERE doc_id = $1 ORDER BY seq', [d]);
        assert.deepEqual(rows.map((r) => Number(r.seq)), Array.from({ length: sent.get(d)!.length }, (_, i) => i + 1), `${d}: 1..n, no gap`);
        const acked = returned.get(d)!;
        assert.equal(new Set(acked).size, acked.length, `${d}: no two batches were told the same last sequence number`);
        // Within one batch a document's updates keep their order.
        for (const n of [0, 1]) {
          const mine = stored.filter((p) => p.startsWith(`node${n}-`));
          const byBatch = new Map<string, string[]>();
          for (const p of mine) byBatch.set(p.split('-')[1]!, [...(byBatch.get(p.split('-')[1]!) ?? []), p]);
          for (const ps of byBatch.values()) assert.deepEqual(ps, [...ps].sort());
        }
      }
    });

    it('a compaction racing appends from another node loses nothing; a stale compaction is ignored', async () => {
      const db = await isolatedSchema();
      const [a, b] = [new PgDocumentStore(db.pool(3)), new PgDocumentStore(db.pool(3))];
      await migrate(db.pool(1));
      await a.create('notes:r');
      await a.append(Array.from({ length: 10 }, (_, i) => ({ docId: 'notes:r', update: Buffer.from(`u${i + 1}`) })));
      const appends = Promise.all(Array.from({ length: 10 }, (_, i) => b.append([{ docId: 'notes:r', update: Buffer.from(`v${i}`) }])));
      await a.compact('notes:r', Buffer.from('snap@10'), 10);
      await appends;
      await b.compact('notes:r', Buffer.from('snap@5'), 5); // stale: must not win
      const loaded = (await a.load('notes:r'))!;
      assert.equal(Buffer.from(loaded.snapshot!).toString(), 'snap@10');
      assert.equal(loaded.lastSeq, 20);
      assert.deepEqual(loaded.updates.map((u) => Buffer.from(u).toString()).sort(), Array.from({ length: 10 }, (_, i) => `v${i}`).sort());
      assert.equal(await a.logLength('notes:r'), 10);
    });
  });
}
