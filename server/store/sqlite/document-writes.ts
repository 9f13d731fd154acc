import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { UpdateToAppend } from '../ports.ts';
import { inTransaction } from './database.ts';

/**
 * The two writes of the document store (append, compact) on one connection: shared by the store's
 * own connection and by the writer thread (document-writer-worker.ts), so both run the same SQL.
 */
export class DocumentWrites {
  readonly #db: DatabaseSync;
  readonly #maxSeq: StatementSync;
  readonly #insertUpdate: StatementSync;
  readonly #setSnapshot: StatementSync;
  readonly #dropUpdates: StatementSync;
  /**
   * Last sequence number written per document by this connection, so an append skips the max(seq)
   * lookup (a sixth of its CPU). Updated only after a commit. Only the write batcher appends, through
   * one connection; should anything else have written, the primary key refuses the duplicate and the
   * batch is retried once with fresh lookups.
   */
  readonly #lastSeq = new Map<string, number>();

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#maxSeq = db.prepare(
      'SELECT max(coalesce((SELECT max(seq) FROM document_updates WHERE doc_id = ?1), 0), snapshot_seq) AS seq FROM documents WHERE id = ?1',
    );
    this.#insertUpdate = db.prepare('INSERT INTO document_updates (doc_id, seq, data) VALUES (?, ?, ?)');
    // A compaction older than the stored snapshot must not pair that older snapshot with a trimmed log.
    this.#setSnapshot = db.prepare('UPDATE documents SET snapshot = ?, snapshot_seq = ? WHERE id = ? AND snapshot_seq <= ?');
    this.#dropUpdates = db.prepare('DELETE FROM document_updates WHERE doc_id = ? AND seq <= ?');
  }

  /** One transaction for the whole batch; returns each document's new last sequence number. */
  append(batch: readonly UpdateToAppend[]): Map<string, number> {
    let seqs: Map<string, number>;
    try {
      seqs = this.#append(batch, true);
    } catch (err) {
      if (!isConstraintError(err)) throw err;
      this.#lastSeq.clear();
      seqs = this.#append(batch, false);
    }
    for (const [docId, seq] of seqs) this.#lastSeq.set(docId, seq);
    return seqs;
  }

  #append(batch: readonly UpdateToAppend[], useCache: boolean): Map<string, number> {
    return inTransaction(this.#db, () => {
      const seqs = new Map<string, number>();
      for (const { docId, update } of batch) {
        let seq = seqs.get(docId) ?? (useCache ? this.#lastSeq.get(docId) : undefined);
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

  compact(docId: string, snapshot: Uint8Array, uptoSeq: number): void {
    inTransaction(this.#db, () => {
      if (Number(this.#setSnapshot.run(snapshot, uptoSeq, docId, uptoSeq).changes) === 1) this.#dropUpdates.run(docId, uptoSeq);
    });
  }
}

function isConstraintError(err: unknown): boolean {
  return err instanceof Error && /constraint/i.test(`${(err as { code?: string }).code ?? ''} ${err.message}`);
}
