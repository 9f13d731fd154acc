import pg from 'pg';
import type { Pool, PoolClient, PoolConfig, QueryResult } from 'pg';
import { AppError } from '../../protocol/errors.ts';
import { numberPlaceholders, storageUnavailable, UnitOfWork, type Database, type Row, type SqlValue, type TransactionOptions } from '../sql.ts';

/** BIGINT (int8) columns come back as numbers: Accord's are counters and milliseconds, far below 2^53. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** Errors that mean "the database is not reachable" rather than "this statement is wrong". */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) return true;
    // SQLSTATE 08xxx connection exception; 57P01-57P03 the server is shutting down or terminated us; too many connections.
    if (code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  }
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Client was closed/i.test(err.message);
}

/** Errors of a checked-out client surface through its queries; this listener only keeps them from crashing the process. */
function ignoreWhileCheckedOut(): void {}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

export interface PgDatabaseOptions {
  /** Pool size per node. */
  max?: number;
  /** Schema to create tables in and read them from (sets `search_path`); default: the server's. */
  schema?: string;
  connectionTimeoutMillis?: number;
  /** An idle pooled connection failed (the pool discards it); without a listener the process would crash. */
  onIdleError?: (err: Error) => void;
  onAfterCommitError?: (err: unknown) => void;
}

/**
 * The transaction port on PostgreSQL (node-postgres pool). A unit of work takes one pooled connection
 * from BEGIN to COMMIT; queries outside one go to any pooled connection. Isolation is READ COMMITTED;
 * what must not interleave is serialised by the repositories (aggregate versions, the audit chain's lock).
 * A lost connection becomes `storage_unavailable` (503): the command changed nothing, and the pool
 * reconnects by itself when the server is back.
 */
export class PgDatabase implements Database {
  readonly dialect = 'postgres' as const;
  readonly target: string;
  readonly pool: Pool;
  readonly #uow: UnitOfWork<PoolClient>;
  readonly #texts = new Map<string, string>();

  constructor(url: string, options: PgDatabaseOptions = {}) {
    this.target = `${redactUrl(url)}${options.schema ? ` (schema ${options.schema})` : ''}`;
    const config: PoolConfig = {
      connectionString: url,
      max: options.max ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5_000,
      // Names the installation in pg_stat_activity (operators, and tests that cut this server's connections).
      application_name: `accord:${options.schema ?? 'default'}`.slice(0, 63),
      types: TYPES,
    };
    if (options.schema !== undefined) {
      if (!/^[a-z_][a-z0-9_]*$/.test(options.schema)) throw new Error(`invalid schema name ${options.schema}`);
      config.options = `-c search_path=${options.schema}`;
    }
    this.pool = new pg.Pool(config);
    this.pool.on('error', options.onIdleError ?? (() => {}));
    this.#uow = new UnitOfWork<PoolClient>(this, options.onAfterCommitError ?? ((err) => { throw err; }));
  }

  get inTransaction(): boolean {
    return this.#uow.current() !== undefined;
  }

  async get<T extends object = Row>(text: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.#query<T>(text, params)).rows[0];
  }

  async all<T extends object = Row>(text: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return (await this.#query<T>(text, params)).rows;
  }

  async run(text: string, params: readonly SqlValue[] = []): Promise<number> {
    return (await this.#query(text, params)).rowCount ?? 0;
  }

  transaction<T>(fn: () => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.#uow.run(
      fn,
      async () => {
        let client: PoolClient;
        try {
          client = await this.pool.connect();
        } catch (err) {
          throw this.#mapped(err);
        }
        // A checked-out client has no error listener of the pool's: the backend being terminated meanwhile
        // would otherwise be an uncaught 'error' event. The query in flight fails on its own.
        client.on('error', ignoreWhileCheckedOut);
        try {
          await client.query(options.readOnly ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
        } catch (err) {
          client.off('error', ignoreWhileCheckedOut);
          client.release(true);
          throw this.#mapped(err);
        }
        return client;
      },
      async (client, ok) => {
        client.off('error', ignoreWhileCheckedOut);
        try {
          await client.query(ok ? 'COMMIT' : 'ROLLBACK');
          client.release();
        } catch (err) {
          client.release(true); // a broken connection: discard it
          if (ok) throw this.#mapped(err); // the commit did not happen (or is unknown): never report success
        }
      },
    );
  }

  afterCommit(fn: () => void): void {
    this.#uow.afterCommit(fn);
  }

  /** Runs a script of several statements (migrations); no parameters. */
  async script(text: string): Promise<void> {
    const client = this.#uow.current();
    try {
      await (client ?? this.pool).query(text);
    } catch (err) {
      throw this.#mapped(err);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async #query<T extends object>(text: string, params: readonly SqlValue[]): Promise<QueryResult<T & pg.QueryResultRow>> {
    let numbered = this.#texts.get(text);
    if (numbered === undefined) {
      numbered = numberPlaceholders(text);
      this.#texts.set(text, numbered);
    }
    try {
      return await (this.#uow.current() ?? this.pool).query<T & pg.QueryResultRow>(numbered, params as unknown[]);
    } catch (err) {
      throw this.#mapped(err);
    }
  }

  /** A driver error as Accord reports it: a lost connection becomes `storage_unavailable`. */
  mapError(err: unknown): unknown {
    return this.#mapped(err);
  }

  #mapped(err: unknown): unknown {
    if (err instanceof AppError) return err;
    return isConnectionError(err) ? storageUnavailable(this.target, err) : err;
  }
}
