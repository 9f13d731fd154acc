import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { DocumentStore, StoredDocument, UpdateToAppend } from '../ports.ts';
import { inTransaction } from './database.ts';

/** DocumentStore on node:sqlite. Synchronous underneath; the async surface matches other adapters. */
export class SqliteDocumentStore implements DocumentStore {
  readonly #db: DatabaseSync;
  readonly #insertDoc: StatementSync;
  readonly #getDoc: StatementSync;
  readonly #getUpdates: StatementSync;
  readonly #maxSeq: StatementSync;
  readonly #insertUpdate: StatementSync;
  readonly #setSnapshot: StatementSync;
  readonly #dropUpdates: StatementSync;
  readonly #countLog: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#insertDoc = db.prepare('INSERT INTO documents (id) VALUES (?) ON CONFLICT (id) DO NOTHING');
    this.#getDoc = db.prepare('SELECT snapshot, snapshot_seq FROM documents WHERE id = ?');
    this.#getUpdates = db.prepare('SELECT seq, data FROM document_updates WHERE doc_id = ? ORDER BY seq');
    this.#maxSeq = db.prepare(
      'SELECT max(coalesce((SELECT max(seq) FROM document_updates WHERE doc_id = ?1), 0), snapshot_seq) AS seq FROM documents WHERE id = ?1',
    );
    this.#insertUpdate = db.prepare('INSERT INTO document_updates (doc_id, seq, data) VALUES (?, ?, ?)');
    // A compaction older than the stored snapshot must not pair that older snapshot with a trimmed log.
    this.#setSnapshot = db.prepare('UPDATE documents SET snapshot = ?, snapshot_seq = ? WHERE id = ? AND snapshot_seq <= ?');
    this.#dropUpdates = db.prepare('DELETE FROM document_updates WHERE doc_id = ? AND seq <= ?');
    this.#countLog = db.prepare('SELECT count(*) AS n FROM document_updates WHERE doc_id = ?');
  }

  async create(docId: string): Promise<boolean> {
    return Number(this.#insertDoc.run(docId).changes) === 1;
  }

  async exists(docId: string): Promise<boolean> {
    return this.#getDoc.get(docId) !== undefined;
  }

  async load(docId: string): Promise<StoredDocument | null> {
    const doc = this.#getDoc.get(docId) as { snapshot: Uint8Array | null; snapshot_seq: number } | undefined;
    if (!doc) return null;
    const rows = this.#getUpdates.all(docId) as { seq: number; data: Uint8Array }[];
    const lastSeq = rows.length > 0 ? rows[rows.length - 1]!.seq : doc.snapshot_seq;
    return { snapshot: doc.snapshot, updates: rows.map((r) => r.data), lastSeq: Number(lastSeq) };
  }

  async append(batch: readonly UpdateToAppend[]): Promise<Map<string, number>> {
    return inTransaction(this.#db, () => {
      const seqs = new Map<string, number>();
      for (const { docId, update } of batch) {
        let seq = seqs.get(docId);
        if (seq === undefined) {
          const row = this.#maxSeq.get(docId) as { seq: number | null } | undefined;
          if (!row) throw new Error(`append to unknown document ${docId}`);
          seq = Number(row.seq ?? 0);
        }
        seq += 1;
        this.#insertUpdate.run(docId, seq, update);
        seqs.set(docId, seq);
      }
      return seqs;
    });
  }

  async compact(docId: string, snapshot: Uint8Array, uptoSeq: number): Promise<void> {
    inTransaction(this.#db, () => {
      if (Number(this.#setSnapshot.run(snapshot, uptoSeq, docId, uptoSeq).changes) === 1) this.#dropUpdates.run(docId, uptoSeq);
    });
  }

  async logLength(docId: string): Promise<number> {
    return Number((this.#countLog.get(docId) as { n: number }).n);
  }

  async close(): Promise<void> {
    // The database handle is owned by the app; nothing of our own to release.
  }
}
