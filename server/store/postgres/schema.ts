import { Pool } from 'pg';
import type { PoolClient, PoolConfig } from 'pg';

/**
 * PostgreSQL schema for the document store, the same data as SQLite's `documents` and
 * `document_updates` (server/store/sqlite/database.ts) with bytea for blobs.
 *
 * `last_seq` is the per-document sequence counter: `append` bumps it under the document row's
 * lock, so nodes appending to the same document at once never allocate the same number. It is
 * always max(snapshot_seq, max(seq) of the log), the value SQLite computes on every append.
 *
 * Tables are created unqualified, in the first schema of the connection's `search_path`.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE documents (
     id TEXT PRIMARY KEY,
     snapshot BYTEA,
     snapshot_seq BIGINT NOT NULL DEFAULT 0,
     last_seq BIGINT NOT NULL DEFAULT 0,
     created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     CHECK (last_seq >= snapshot_seq)
   );
   CREATE TABLE document_updates (
     doc_id TEXT NOT NULL REFERENCES documents(id),
     seq BIGINT NOT NULL,
     data BYTEA NOT NULL,
     PRIMARY KEY (doc_id, seq)
   );`,
];

/** Version the schema would reach with every migration applied. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Applies pending migrations, idempotently and safely when several nodes start at once:
 * everything runs in one transaction holding an advisory lock scoped to the current schema,
 * and PostgreSQL DDL is transactional, so a node sees either no migration or all of it.
 * Returns the schema version reached.
 */
export async function migrate(pool: Pool): Promise<number> {
  return inTransaction(pool, async (client) => {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('accord.migrate.' || current_schema()))`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version INTEGER PRIMARY KEY,
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ v: number }>('SELECT coalesce(max(version), 0)::int AS v FROM schema_migrations');
    let version = rows[0]!.v;
    for (; version < MIGRATIONS.length; version++) {
      await client.query(MIGRATIONS[version]!);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version + 1]);
    }
    return version;
  });
}

export interface PgPoolOptions {
  /** Pool size per node. */
  max?: number;
  /** Schema to create tables in and read them from (sets `search_path`); default: the server's. */
  schema?: string;
  /** Called when an idle pooled connection fails (without a listener the process would crash). */
  onIdleError?: (err: Error) => void;
  connectionTimeoutMillis?: number;
}

/** A pool for `url` (e.g. the value of ACCORD_DATABASE_URL). The caller ends it. */
export function createPool(url: string, options: PgPoolOptions = {}): Pool {
  const config: PoolConfig = {
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
    application_name: 'accord',
  };
  if (options.schema !== undefined) {
    if (!/^[a-z_][a-z0-9_]*$/.test(options.schema)) throw new Error(`invalid schema name ${options.schema}`);
    config.options = `-c search_path=${options.schema}`;
  }
  const pool = new Pool(config);
  pool.on('error', options.onIdleError ?? (() => {}));
  return pool;
}

/** Runs `fn` in one transaction on a pooled connection; rolls back and rethrows on error. */
export async function inTransaction<T>(
  pool: Pool,
  fn: (client: PoolClient) => Promise<T>,
  begin = 'BEGIN',
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(begin);
    const result = await fn(client);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
      client.release();
    } catch (rollbackErr) {
      client.release(rollbackErr instanceof Error ? rollbackErr : true); // broken connection: discard it
    }
    throw err;
  }
}
