import type { DocumentStore, StoredDocument, UpdateToAppend } from './ports.ts';
import type { Database } from './sql.ts';
import { openDatabase } from './sqlite/database.ts';
import { SqliteDatabase } from './sqlite/sqlite-database.ts';
import { SqliteDocumentStore } from './sqlite/sqlite-document-store.ts';
import { PgDatabase, redactUrl } from './postgres/pg-database.ts';
import { PgDocumentStore } from './postgres/pg-document-store.ts';
import { migrate as migratePg } from './postgres/schema.ts';

export interface StorageOptions {
  dataDir: string;
  /** A postgres:// URL: everything on PostgreSQL. Empty: SQLite in `dataDir`. */
  databaseUrl?: string;
  databaseSchema?: string;
  /** SQLite only: document commits on a writer thread (true) or on the event loop with an async WAL fsync. */
  offThread?: boolean;
  /** PostgreSQL pool size. */
  poolSize?: number;
  /** An idle pooled connection failed, or work after a commit threw. */
  onError?: (err: unknown) => void;
}

/** Where Accord keeps its state: the transaction port for every repository and the Yjs document store. */
export interface Storage {
  readonly kind: 'sqlite' | 'postgres';
  readonly db: Database;
  readonly documents: DocumentStore;
  close(): Promise<void>;
}

/** PostgreSQL could not be reached or prepared at start: the message names the URL (never its password). */
export class StorageStartError extends Error {
  override name = 'StorageStartError';
}

/**
 * Opens (creating and migrating as needed) the configured storage. PostgreSQL that cannot be reached
 * fails here with the URL and the cause, so a server never starts half-connected.
 */
export async function openStorage(o: StorageOptions): Promise<Storage> {
  const onError = o.onError ?? (() => {});
  if (!o.databaseUrl) {
    const db = new SqliteDatabase(openDatabase(o.dataDir), onError);
    const documents = new SqliteDocumentStore(db, { offThread: o.offThread ?? false });
    return {
      kind: 'sqlite', db, documents,
      close: async () => {
        await documents.close();
        await db.close();
      },
    };
  }
  const db = new PgDatabase(o.databaseUrl, {
    max: o.poolSize ?? 10,
    ...(o.databaseSchema ? { schema: o.databaseSchema } : {}),
    onIdleError: onError,
    onAfterCommitError: onError,
  });
  try {
    if (o.databaseSchema) await db.script(`CREATE SCHEMA IF NOT EXISTS ${o.databaseSchema}`); // validated identifier (config.ts, PgDatabase)
    await migratePg(db.pool);
  } catch (err) {
    await db.close().catch(() => {});
    const cause = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    throw new StorageStartError(`cannot use PostgreSQL at ${redactUrl(o.databaseUrl)}: ${cause || (err as { code?: string }).code || 'unknown error'}`, { cause: err });
  }
  const documents = reportingAs(new PgDocumentStore(db.pool), (err) => db.mapError(err));
  return {
    kind: 'postgres', db, documents,
    close: async () => {
      await documents.close();
      await db.close();
    },
  };
}

/** The same store, its errors reported as `mapError` says (a lost PostgreSQL connection: `storage_unavailable`). */
function reportingAs(store: DocumentStore, mapError: (err: unknown) => unknown): DocumentStore {
  const mapped = <T>(work: Promise<T>): Promise<T> => work.catch((err: unknown) => Promise.reject(mapError(err)));
  return {
    create: (docId: string) => mapped(store.create(docId)),
    exists: (docId: string) => mapped(store.exists(docId)),
    load: (docId: string): Promise<StoredDocument | null> => mapped(store.load(docId)),
    append: (batch: readonly UpdateToAppend[]) => mapped(store.append(batch)),
    compact: (docId: string, snapshot: Uint8Array, uptoSeq: number) => mapped(store.compact(docId, snapshot, uptoSeq)),
    logLength: (docId: string) => mapped(store.logLength(docId)),
    ...(store.heads ? { heads: (docIds: readonly string[]) => mapped(store.heads!(docIds)) } : {}),
    close: () => store.close(),
  };
}
