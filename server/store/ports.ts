/**
 * Storage ports. Every adapter (SQLite now, PostgreSQL later) honours the same contract,
 * proven by test/store/document-store.contract.ts.
 */

/** What is stored for one Yjs document: a compacted snapshot and the updates appended after it. */
export interface StoredDocument {
  snapshot: Uint8Array | null;
  updates: Uint8Array[];
  /** Sequence number of the last update included (snapshot or log); 0 when empty. */
  lastSeq: number;
}

export interface UpdateToAppend {
  docId: string;
  update: Uint8Array;
}

export interface DocumentStore {
  /** Creates the document's row if it does not exist. Returns true when it was created. */
  create(docId: string): Promise<boolean>;
  exists(docId: string): Promise<boolean>;
  /** The document's snapshot and log, or null for an unknown document. */
  load(docId: string): Promise<StoredDocument | null>;
  /**
   * Appends updates for any number of documents in ONE durable transaction (group commit).
   * Resolves only once the data is on disk; returns each document's new last sequence number.
   */
  append(batch: readonly UpdateToAppend[]): Promise<Map<string, number>>;
  /** Replaces the snapshot with `snapshot` and drops log entries up to `uptoSeq`, atomically. */
  compact(docId: string, snapshot: Uint8Array, uptoSeq: number): Promise<void>;
  /** Number of log entries after the snapshot. */
  logLength(docId: string): Promise<number>;
  /** Each named document's last sequence number (several nodes compare what they hold with it). */
  heads?(docIds: readonly string[]): Promise<Map<string, number>>;
  close(): Promise<void>;
}
