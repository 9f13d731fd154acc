/**
 * The transaction port every repository is written against (docs/storage.md). One implementation per
 * database: `sqlite/sqlite-database.ts` (node:sqlite, the embedded default) and
 * `postgres/pg-database.ts` (node-postgres). Repositories hold a `Database` and never a driver handle.
 *
 * SQL is written once, in the subset both databases understand: `?` placeholders (the PostgreSQL
 * adapter numbers them), `ON CONFLICT ... DO NOTHING/UPDATE`, `RETURNING`, integers for flags and
 * milliseconds, TEXT for ISO timestamps and JSON. Where the two differ (case-insensitive LIKE, string
 * aggregation, insertion order) a repository asks `dialect`.
 *
 * Units of work: `transaction(fn)` runs `fn` in one transaction; every query any repository makes while
 * `fn` runs (found through AsyncLocalStorage, so repositories need no handle passed down) is part of
 * it. Nested calls join the outer transaction. Work `fn` schedules after it returns is not.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { AppError } from '../protocol/errors.ts';

export type SqlValue = string | number | null | Uint8Array;
export type Dialect = 'sqlite' | 'postgres';
export type Row = Record<string, unknown>;

export interface Sql {
  readonly dialect: Dialect;
  /** The first row, or undefined. */
  get<T extends object = Row>(text: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  all<T extends object = Row>(text: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs a write; resolves to the number of rows it changed. */
  run(text: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface TransactionOptions {
  /** A read-only unit: several reads that must see one commit. */
  readOnly?: boolean;
}

export interface Database extends Sql {
  /** Where the data lives, for messages (a file path, or a URL without its password). */
  readonly target: string;
  /** One unit of work: commits when `fn` resolves, rolls back when it throws. Nested calls join it. */
  transaction<T>(fn: () => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Is the caller inside a unit of work on this database? */
  readonly inTransaction: boolean;
  /**
   * Runs `fn` once the current unit of work has committed (immediately when there is none). Facts about
   * a command are published from here, so nobody hears of a write that was rolled back.
   */
  afterCommit(fn: () => void): void;
  close(): Promise<void>;
}

/** The database could not be reached: commands and updates are refused (503), nothing is acknowledged. */
export function storageUnavailable(target: string, cause: unknown): AppError {
  return new AppError('storage_unavailable', `the database (${target}) is unavailable; nothing was changed. Try again shortly`, { cause });
}

interface Frame<C> {
  readonly conn: C;
  readonly db: object;
  done: boolean;
  readonly after: (() => void)[];
}

/**
 * The bookkeeping both adapters share: which unit of work (if any) the caller is in, nesting, and the
 * work that waits for its commit. `C` is the adapter's connection for one transaction.
 */
export class UnitOfWork<C> {
  readonly #als = new AsyncLocalStorage<Frame<C>>();
  readonly #owner: object;
  readonly #onAfterCommitError: (err: unknown) => void;

  constructor(owner: object, onAfterCommitError: (err: unknown) => void) {
    this.#owner = owner;
    this.#onAfterCommitError = onAfterCommitError;
  }

  /** The connection of the caller's open unit of work on this database, if any. */
  current(): C | undefined {
    const frame = this.#als.getStore();
    return frame && !frame.done && frame.db === this.#owner ? frame.conn : undefined;
  }

  /**
   * Runs `fn` inside a unit of work: `begin` gives a connection with the transaction open, `end` commits
   * (ok) or rolls back. A caller already inside one joins it.
   */
  async run<T>(fn: () => Promise<T>, begin: () => Promise<C>, end: (conn: C, ok: boolean) => Promise<void>): Promise<T> {
    if (this.current() !== undefined) return fn();
    const conn = await begin();
    const frame: Frame<C> = { conn, db: this.#owner, done: false, after: [] };
    let result: T;
    try {
      result = await this.#als.run(frame, fn);
    } catch (err) {
      frame.done = true;
      await end(conn, false);
      throw err;
    }
    frame.done = true;
    await end(conn, true);
    for (const task of frame.after) {
      try {
        task();
      } catch (err) {
        this.#onAfterCommitError(err);
      }
    }
    return result;
  }

  afterCommit(fn: () => void): void {
    const frame = this.#als.getStore();
    if (frame && !frame.done && frame.db === this.#owner) frame.after.push(fn);
    else fn();
  }
}

/** `?` placeholders numbered for PostgreSQL (`$1`, `$2`, ...), leaving quoted text alone. */
export function numberPlaceholders(text: string): string {
  let n = 0;
  let out = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === "'") quoted = !quoted;
    out += ch === '?' && !quoted ? `$${++n}` : ch;
  }
  return out;
}

/** A unique or primary-key constraint refused the write (either database). */
export function isUniqueViolation(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return code === '23505' || /UNIQUE constraint failed|PRIMARY KEY constraint failed/.test(err.message);
}
