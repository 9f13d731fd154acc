import type { Pool, PoolClient } from 'pg';
import type { DocumentStore, StoredDocument, UpdateToAppend } from '../ports.ts';
import { inTransaction } from './schema.ts';

/** Rows per INSERT statement (3 parameters each; PostgreSQL allows at most 65535 per statement). */
const INSERT_CHUNK = 1000;

/**
 * DocumentStore on PostgreSQL (node-postgres), for several server nodes sharing one database.
 * Tables come from `migrate(pool)` in ./schema.ts; the pool is owned by the caller, as SQLite's
 * database handle is. Durability: with `synchronous_commit = on` (PostgreSQL's default) COMMIT
 * returns once the WAL is flushed, so a resolved `append` is on disk.
 */
export class PgDocumentStore implements DocumentStore {
  readonly #pool: Pool;

  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async create(docId: string): Promise<boolean> {
    const res = await this.#pool.query('INSERT INTO documents (id) VALUES ($1) ON CONFLICT (id) DO NOTHING', [docId]);
    return res.rowCount === 1;
  }

  async exists(docId: string): Promise<boolean> {
    const res = await this.#pool.query('SELECT 1 FROM documents WHERE id = $1', [docId]);
    return res.rowCount === 1;
  }

  /** Snapshot, log and lastSeq read from one snapshot of the database (REPEATABLE READ). */
  async load(docId: string): Promise<StoredDocument | null> {
    return inTransaction(
      this.#pool,
      async (client) => {
        const doc = await client.query<{ snapshot: Buffer | null; last_seq: string }>(
          'SELECT snapshot, last_seq FROM documents WHERE id = $1',
          [docId],
        );
        const row = doc.rows[0];
        if (!row) return null;
        const log = await client.query<{ data: Buffer }>('SELECT data FROM document_updates WHERE doc_id = $1 ORDER BY seq', [docId]);
        return { snapshot: row.snapshot, updates: log.rows.map((r) => r.data), lastSeq: Number(row.last_seq) };
      },
      'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
    );
  }

  /**
   * One transaction for the whole batch (group commit). Sequence numbers: the documents' rows are
   * locked in id order (`FOR UPDATE`, the same order on every node, so no deadlock), their
   * `last_seq` counters advanced by the number of updates each receives, and the updates inserted
   * with the numbers in between. Another node appending to the same document waits for the lock
   * and then reads the advanced counter, so numbers are never reused nor skipped.
   */
  async append(batch: readonly UpdateToAppend[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const { docId } of batch) counts.set(docId, (counts.get(docId) ?? 0) + 1);
    if (counts.size === 0) return new Map();
    const ids = [...counts.keys()];
    return inTransaction(this.#pool, async (client) => {
      const locked = await client.query<{ id: string }>('SELECT id FROM documents WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [ids]);
      if (locked.rowCount !== ids.length) {
        const found = new Set(locked.rows.map((r) => r.id));
        throw new Error(`append to unknown document ${ids.find((id) => !found.has(id))}`);
      }
      const bumped = await client.query<{ id: string; last_seq: string }>(
        `UPDATE documents AS d SET last_seq = d.last_seq + c.n
           FROM unnest($1::text[], $2::bigint[]) AS c(id, n)
          WHERE d.id = c.id
          RETURNING d.id, d.last_seq`,
        [ids, ids.map((id) => counts.get(id)!)],
      );
      // Next number to hand out per document: the counter before this batch, plus one.
      const next = new Map<string, number>();
      for (const r of bumped.rows) next.set(r.id, Number(r.last_seq) - counts.get(r.id)! + 1);
      const rows: [string, number, Uint8Array][] = [];
      for (const { docId, update } of batch) {
        const seq = next.get(docId)!;
        next.set(docId, seq + 1);
        rows.push([docId, seq, update]);
      }
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) await insertUpdates(client, rows.slice(i, i + INSERT_CHUNK));
      return new Map(bumped.rows.map((r) => [r.id, Number(r.last_seq)]));
    });
  }

  /**
   * Replaces the snapshot and drops the log up to `uptoSeq` in one transaction. A compaction older
   * than the stored snapshot (another node compacted further meanwhile) changes nothing: applying it
   * would pair an older snapshot with a log already trimmed past it and lose updates.
   */
  async compact(docId: string, snapshot: Uint8Array, uptoSeq: number): Promise<void> {
    await inTransaction(this.#pool, async (client) => {
      const res = await client.query(
        `UPDATE documents SET snapshot = $2, snapshot_seq = $3, last_seq = greatest(last_seq, $3)
          WHERE id = $1 AND snapshot_seq <= $3`,
        [docId, snapshot, uptoSeq],
      );
      if (res.rowCount === 1) await client.query('DELETE FROM document_updates WHERE doc_id = $1 AND seq <= $2', [docId, uptoSeq]);
    });
  }

  async heads(docIds: readonly string[]): Promise<Map<string, number>> {
    const res = await this.#pool.query<{ id: string; last_seq: string }>('SELECT id, last_seq FROM documents WHERE id = ANY($1::text[])', [docIds]);
    return new Map(res.rows.map((r) => [r.id, Number(r.last_seq)]));
  }

  async logLength(docId: string): Promise<number> {
    const res = await this.#pool.query<{ n: number }>('SELECT count(*)::int AS n FROM document_updates WHERE doc_id = $1', [docId]);
    return res.rows[0]!.n;
  }

  async close(): Promise<void> {
    // The pool is owned by the app; nothing of our own to release.
  }
}

async function insertUpdates(client: PoolClient, rows: readonly [string, number, Uint8Array][]): Promise<void> {
  const values: unknown[] = [];
  const tuples = rows.map(([docId, seq, data], i) => {
    values.push(docId, seq, data);
    return `($${3 * i + 1}, $${3 * i + 2}, $${3 * i + 3})`;
  });
  await client.query(`INSERT INTO document_updates (doc_id, seq, data) VALUES ${tuples.join(', ')}`, values);
}
