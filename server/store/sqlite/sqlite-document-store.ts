import type { DocumentStore, StoredDocument, UpdateToAppend } from '../ports.ts';
import { DocumentWriter } from './document-writer.ts';
import { DocumentWrites } from './document-writes.ts';
import { SqliteDatabase } from './sqlite-database.ts';
import { WalSyncedWrites } from './wal-synced-writes.ts';
import type { DatabaseSync } from 'node:sqlite';

/**
 * DocumentStore on node:sqlite. Reads (and creating a document's row) go through the app's connection
 * and its lock (sqlite-database.ts), so they wait for an open unit of work instead of blocking the event
 * loop on SQLite's busy timeout. Writes (append, compact) run on a writer thread with its own
 * connection to the same file (document-writer.ts), so a commit's fsync never blocks the main thread;
 * with `offThread: false` they commit in-thread, under the same lock, and fsync the WAL on libuv's thread
 * pool (wal-synced-writes.ts); an in-memory database simply writes in-thread.
 */
export class SqliteDocumentStore implements DocumentStore {
  readonly #writes: DocumentWrites | DocumentWriter | WalSyncedWrites;
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase | DatabaseSync, options: { offThread?: boolean } = {}) {
    this.#db = db instanceof SqliteDatabase ? db : new SqliteDatabase(db);
    const file = this.#db.raw.location();
    if (!file) this.#writes = new DocumentWrites(this.#db.raw); // in memory: nothing to sync
    else this.#writes = options.offThread === false ? new WalSyncedWrites(file) : new DocumentWriter(file);
  }

  async create(docId: string): Promise<boolean> {
    return (await this.#db.run('INSERT INTO documents (id) VALUES (?) ON CONFLICT (id) DO NOTHING', [docId])) === 1;
  }

  async exists(docId: string): Promise<boolean> {
    return (await this.#db.get('SELECT 1 AS one FROM documents WHERE id = ?', [docId])) !== undefined;
  }

  async load(docId: string): Promise<StoredDocument | null> {
    // The snapshot and the log from one commit: a compaction on the writer thread may land between the two reads.
    const read = await this.#db.transaction(async () => {
      const doc = await this.#db.get<{ snapshot: Uint8Array | null; snapshot_seq: number }>('SELECT snapshot, snapshot_seq FROM documents WHERE id = ?', [docId]);
      return doc && { doc, rows: await this.#db.all<{ seq: number; data: Uint8Array }>('SELECT seq, data FROM document_updates WHERE doc_id = ? ORDER BY seq', [docId]) };
    }, { readOnly: true });
    if (!read) return null;
    const { doc, rows } = read;
    const lastSeq = rows.length > 0 ? rows[rows.length - 1]!.seq : doc.snapshot_seq;
    return { snapshot: doc.snapshot, updates: rows.map((r) => r.data), lastSeq: Number(lastSeq) };
  }

  async append(batch: readonly UpdateToAppend[]): Promise<Map<string, number>> {
    if (this.#writes instanceof DocumentWriter) return this.#writes.append(batch);
    // In-thread writes wait for the app's open unit of work rather than busy-wait on its lock.
    const writes = this.#writes;
    return this.#db.exclusive(() => writes.append(batch));
  }

  async compact(docId: string, snapshot: Uint8Array, uptoSeq: number): Promise<void> {
    if (this.#writes instanceof DocumentWriter) return this.#writes.compact(docId, snapshot, uptoSeq);
    const writes = this.#writes;
    await this.#db.exclusive(() => writes.compact(docId, snapshot, uptoSeq));
  }

  async logLength(docId: string): Promise<number> {
    return Number((await this.#db.get<{ n: number }>('SELECT count(*) AS n FROM document_updates WHERE doc_id = ?', [docId]))!.n);
  }

  /** Waits for the writes in flight and closes the writer's own connection. The main connection belongs to the app. */
  async close(): Promise<void> {
    if (!(this.#writes instanceof DocumentWrites)) await this.#writes.close();
  }
}
