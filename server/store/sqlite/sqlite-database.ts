import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { UnitOfWork, type Database, type Row, type SqlValue, type TransactionOptions } from '../sql.ts';

/**
 * The transaction port on node:sqlite (one connection, the embedded default). Statements run
 * synchronously; what makes the port safe is a lock: a unit of work holds the connection from BEGIN to
 * COMMIT, and any query from outside it waits (on one connection, a read from elsewhere would otherwise
 * see, or join, the open transaction). SQLite has one writer anyway, so nothing is lost.
 */
export class SqliteDatabase implements Database {
  readonly dialect = 'sqlite' as const;
  readonly target: string;
  /** The driver handle: for the store's own modules (migrations, the document store) and SQLite-only tests. */
  readonly raw: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #uow: UnitOfWork<true>;
  #locked = false;
  readonly #waiters: (() => void)[] = [];

  constructor(raw: DatabaseSync, onAfterCommitError: (err: unknown) => void = (err) => { throw err; }) {
    this.raw = raw;
    this.target = raw.location() ?? ':memory:';
    this.#uow = new UnitOfWork<true>(this, onAfterCommitError);
  }

  get inTransaction(): boolean {
    return this.#uow.current() !== undefined;
  }

  get<T extends object = Row>(text: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return this.#statement(text, (s) => s.get(...params) as T | undefined);
  }

  all<T extends object = Row>(text: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.#statement(text, (s) => s.all(...params) as T[]);
  }

  run(text: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.#statement(text, (s) => Number(s.run(...params).changes));
  }

  transaction<T>(fn: () => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.#uow.run(
      fn,
      async () => {
        await this.#acquire();
        try {
          this.raw.exec(options.readOnly ? 'BEGIN' : 'BEGIN IMMEDIATE');
        } catch (err) {
          this.#release();
          throw err;
        }
        return true as const;
      },
      async (_conn, ok) => {
        try {
          this.raw.exec(ok ? 'COMMIT' : 'ROLLBACK');
        } finally {
          this.#release();
        }
      },
    );
  }

  afterCommit(fn: () => void): void {
    this.#uow.afterCommit(fn);
  }

  /** Runs `fn` with the connection to itself (no unit of work of anyone else open): migrations, maintenance. */
  async exclusive<T>(fn: (raw: DatabaseSync) => T): Promise<T> {
    if (this.inTransaction) return fn(this.raw);
    await this.#acquire();
    try {
      return fn(this.raw);
    } finally {
      this.#release();
    }
  }

  async close(): Promise<void> {
    await this.#acquire();
    this.#statements.clear();
    if (this.raw.isOpen) this.raw.close();
    this.#release();
  }

  async #statement<R>(text: string, fn: (s: StatementSync) => R): Promise<R> {
    let s = this.#statements.get(text);
    if (s === undefined) {
      s = this.raw.prepare(text);
      this.#statements.set(text, s);
    }
    if (this.inTransaction) return fn(s);
    // Fast path: nobody holds the connection, and the statement runs to completion synchronously.
    if (!this.#locked) return fn(s);
    await this.#acquire();
    try {
      return fn(s);
    } finally {
      this.#release();
    }
  }

  async #acquire(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  #release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#locked = false;
  }
}
