import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { DocumentStore, StoredDocument, UpdateToAppend } from '../ports.ts';
import { DocumentWriter } from './document-writer.ts';
import { DocumentWrites } from './document-writes.ts';
import { inReadTransaction } from './database.ts';
import { WalSyncedWrites } from './wal-synced-writes.ts';

/**
 * DocumentStore on node:sqlite. Reads run on the given connection. Writes (append, compact) run on a
 * writer thread with its own connection to the same file (document-writer.ts), so a commit's fsync
 * never blocks the main thread; with `offThread: false` they commit in-thread and fsync the WAL on
 * libuv's thread pool (wal-synced-writes.ts); an in-memory database simply writes in-thread.
 */
export class SqliteDocumentStore implements DocumentStore {
  readonly #insertDoc: StatementSync;
  readonly #getDoc: StatementSync;
  readonly #getUpdates: StatementSync;
  readonly #countLog: StatementSync;
  readonly #writes: DocumentWrites | DocumentWriter | WalSyncedWrites;
  readonly #db: DatabaseSync;

  constructor(db: DatabaseSync, options: { offThread?: boolean } = {}) {
    this.#insertDoc = db.prepare('INSERT INTO documents (id) VALUES (?) ON CONFLICT (id) DO NOTHING');
    this.#getDoc = db.prepare('SELECT snapshot, snapshot_seq FROM documents WHERE id = ?');
    this.#getUpdates = db.prepare('SELECT seq, data FROM document_updates WHERE doc_id = ? ORDER BY seq');
    this.#countLog = db.prepare('SELECT count(*) AS n FROM document_updates WHERE doc_id = ?');
    this.#db = db;
    const file = db.location();
    if (!file) this.#writes = new DocumentWrites(db); // in memory: nothing to sync
    else this.#writes = options.offThread === false ? new WalSyncedWrites(file) : new DocumentWriter(file);
  }

  async create(docId: string): Promise<boolean> {
    return Number(this.#insertDoc.run(docId).changes) === 1;
  }

  async exists(docId: string): Promise<boolean> {
    return this.#getDoc.get(docId) !== undefined;
  }

  async load(docId: string): Promise<StoredDocument | null> {
    // The snapshot and the log from one commit: a compaction on the writer thread may land between the two reads.
    const read = inReadTransaction(this.#db, () => {
      const doc = this.#getDoc.get(docId) as { snapshot: Uint8Array | null; snapshot_seq: number } | undefined;
      return doc && { doc, rows: this.#getUpdates.all(docId) as { seq: number; data: Uint8Array }[] };
    });
    if (!read) return null;
    const { doc, rows } = read;
    const lastSeq = rows.length > 0 ? rows[rows.length - 1]!.seq : doc.snapshot_seq;
    return { snapshot: doc.snapshot, updates: rows.map((r) => r.data), lastSeq: Number(lastSeq) };
  }

  async append(batch: readonly UpdateToAppend[]): Promise<Map<string, number>> {
    return this.#writes.append(batch);
  }

  async compact(docId: string, snapshot: Uint8Array, uptoSeq: number): Promise<void> {
    await this.#writes.compact(docId, snapshot, uptoSeq);
  }

  async logLength(docId: string): Promise<number> {
    return Number((this.#countLog.get(docId) as { n: number }).n);
  }

  /** Waits for the writes in flight and closes the writer's own connection. The main connection belongs to the app. */
  async close(): Promise<void> {
    if (!(this.#writes instanceof DocumentWrites)) await this.#writes.close();
  }
}
