/**
 * SqliteAuditRepository: every SQL statement on the audit trail's tables (schema/audit.ts): the
 * hash-chained entries `audit_log`, the periodic signed `audit_checkpoints`, and the one-row signed head
 * `audit_head`. What goes into them (hashes, signatures, the rules of the chain) is AuditLog's
 * (server/audit/audit-log.ts); this class only stores and reads rows.
 *
 * Transactions:
 * - `transaction(fn)` runs `fn` in the transaction already open on the connection (the caller's command
 *   transaction: the entry commits or rolls back with the state change it records), or else in its own
 *   BEGIN IMMEDIATE one (commit; rollback and rethrow on error). AuditLog.append reads the chain's last
 *   entry and inserts after it in one such transaction.
 * - `underWriteLock(fn)` takes the write lock (BEGIN IMMEDIATE) for reads that must not interleave with
 *   another writer's commit, writes nothing and commits whatever happens (the anchor flush reads the
 *   committed head under it).
 * - `readTransaction(fn)` runs reads in one deferred transaction: one snapshot of the database even while
 *   another connection appends (`accord audit verify`).
 * The other methods open none.
 *
 * Decoding: the rows AuditLog reads (`last`, `head`, `entriesFor`, `all`, `range`, `firstSeqFor`,
 * `checkpoints`) are decoded by hand-written functions (`last` runs on every command) that check each
 * column's type and throw an Error naming the table and column for a row that does not match. The
 * `raw*` reads are for verification only and deliberately not decoded: their fields are `unknown`, and
 * the verifier (server/audit/chain.ts, verify.ts) checks each one and reports a malformed row as a broken
 * entry, which is its purpose, rather than an exception.
 */
import { DatabaseSync } from 'node:sqlite';
import type { SQLOutputValue, StatementSync } from 'node:sqlite';
import type { AuditCheckpoint, AuditEntry } from '../../audit/entry.ts';

/** The chain's last entry, as the next append needs it. */
export interface AuditTail {
  seq: number;
  at: string;
  hash: string;
}

/** An audit_log row as stored, for the verifier: nothing checked yet. */
export type RawAuditEntryRow = {
  seq: unknown; at: unknown; actor: unknown; action: unknown; subject: unknown;
  outcome: unknown; detail: unknown; prevHash: unknown; hash: unknown;
};

/** An audit_checkpoints or audit_head row as stored, for the verifier: nothing checked yet. */
export type RawCheckpointRow = { seq: unknown; hash: unknown; signature: unknown; keyId: unknown; at: unknown };

type Row = Record<string, SQLOutputValue>;

const ENTRY_COLUMNS = 'seq, at, actor, action, subject, outcome, detail, prev_hash, hash';
const CHECKPOINT_COLUMNS = 'seq, hash, signature, key_id, at';

export class SqliteAuditRepository {
  readonly #db: DatabaseSync;
  readonly #last: StatementSync;
  readonly #insert: StatementSync;
  readonly #insertCheckpoint: StatementSync;
  readonly #head: StatementSync;
  readonly #updateHead: StatementSync;
  readonly #insertHead: StatementSync;
  readonly #bySubject: StatementSync;
  readonly #all: StatementSync;
  readonly #range: StatementSync;
  readonly #firstSeq: StatementSync;
  readonly #checkpoints: StatementSync;
  readonly #heads: StatementSync;

  /** The tables must exist (the migrations, or AUDIT_SCHEMA and AUDIT_HEAD_SCHEMA): the statements are prepared here. */
  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#last = db.prepare('SELECT seq, at, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    this.#insert = db.prepare(`INSERT INTO audit_log (${ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#insertCheckpoint = db.prepare(`INSERT INTO audit_checkpoints (${CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING`);
    this.#head = db.prepare(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_head ORDER BY rowid DESC LIMIT 1`);
    this.#updateHead = db.prepare('UPDATE audit_head SET seq = ?, hash = ?, signature = ?, key_id = ?, at = ?');
    this.#insertHead = db.prepare(`INSERT INTO audit_head (${CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?)`);
    this.#bySubject = db.prepare(`SELECT ${ENTRY_COLUMNS} FROM audit_log WHERE subject = ? ORDER BY seq`);
    this.#all = db.prepare(`SELECT ${ENTRY_COLUMNS} FROM audit_log ORDER BY seq`);
    this.#range = db.prepare(`SELECT ${ENTRY_COLUMNS} FROM audit_log WHERE seq BETWEEN ? AND ? ORDER BY seq`);
    this.#firstSeq = db.prepare('SELECT MIN(seq) AS seq FROM audit_log WHERE subject = ?');
    this.#checkpoints = db.prepare(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY seq`);
    this.#heads = db.prepare(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_head`);
  }

  /** Does the database hold the audit log table? (A file that is not Accord's, or was never migrated, does not.) */
  static hasAuditLog(db: DatabaseSync): boolean {
    return db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'").get() !== undefined;
  }

  /** Is a transaction open on the connection (the caller's, or one of ours)? */
  get isTransaction(): boolean {
    return this.#db.isTransaction;
  }

  /** Runs `fn` in the caller's open transaction, or in its own BEGIN IMMEDIATE one (rolled back, and rethrown, on error). */
  transaction<T>(fn: () => T): T {
    if (this.#db.isTransaction) return fn();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Runs `fn` (reads only) holding the write lock: BEGIN IMMEDIATE, then COMMIT whether `fn` returns or throws. */
  underWriteLock<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      return fn();
    } finally {
      this.#db.exec('COMMIT');
    }
  }

  /** Runs `fn` (reads only) in one deferred read transaction: every read sees the same commit. */
  readTransaction<T>(fn: () => T): T {
    this.#db.exec('BEGIN');
    try {
      return fn();
    } finally {
      this.#db.exec('COMMIT');
    }
  }

  /** The chain's last entry (null for an empty log). */
  last(): AuditTail | null {
    const row = this.#last.get();
    if (!row) return null;
    const seq = integer(row, 'audit_log', 'seq');
    return { seq, at: text(row, 'audit_log', 'at', seq), hash: text(row, 'audit_log', 'hash', seq) };
  }

  /** Inserts an entry; `detailText` is its detail as stored (canonical JSON). */
  insertEntry(entry: AuditEntry, detailText: string): void {
    this.#insert.run(entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.outcome, detailText, entry.prevHash, entry.hash);
  }

  /** Keeps a checkpoint row (nothing when one is already kept at its seq). */
  insertCheckpoint(c: AuditCheckpoint): void {
    this.#insertCheckpoint.run(c.seq, c.hash, c.signature, c.keyId, c.at);
  }

  /** The signed head row (the last inserted if someone inserted more; null when there is none). */
  head(): AuditCheckpoint | null {
    const row = this.#head.get();
    return row ? decodeCheckpoint(row, 'audit_head') : null;
  }

  /**
   * Stores the signed head: an update of the row, inserted only when there is none (never delete-and-insert:
   * a second row someone inserted stays visible to verification).
   */
  putHead(c: AuditCheckpoint): void {
    const values = [c.seq, c.hash, c.signature, c.keyId, c.at] as const;
    if (Number(this.#updateHead.run(...values).changes) === 0) this.#insertHead.run(...values);
  }

  /** Every entry about `subject`, in order. */
  entriesFor(subject: string): AuditEntry[] {
    return this.#bySubject.all(subject).map(decodeEntry);
  }

  /** Every entry, in order. */
  all(): AuditEntry[] {
    return this.#all.all().map(decodeEntry);
  }

  /** Entries fromSeq..toSeq inclusive, in order. */
  range(fromSeq: number, toSeq: number): AuditEntry[] {
    return this.#range.all(fromSeq, toSeq).map(decodeEntry);
  }

  /** The seq of the first entry about `subject`, if any. */
  firstSeqFor(subject: string): number | undefined {
    const row = this.#firstSeq.get(subject);
    return row === undefined || row.seq === null ? undefined : integer(row, 'audit_log', 'seq');
  }

  /** Every checkpoint row, by seq. */
  checkpoints(): AuditCheckpoint[] {
    return this.#checkpoints.all().map((row) => decodeCheckpoint(row, 'audit_checkpoints'));
  }

  /** For the verifier: every audit_log row by seq, undecoded (`prev_hash` named prevHash). */
  rawEntries(): RawAuditEntryRow[] {
    return this.#all.all().map((r) => ({
      seq: r.seq, at: r.at, actor: r.actor, action: r.action, subject: r.subject,
      outcome: r.outcome, detail: r.detail, prevHash: r.prev_hash, hash: r.hash,
    }));
  }

  /** For the verifier: every audit_checkpoints row by seq, undecoded (`key_id` named keyId). */
  rawCheckpoints(): RawCheckpointRow[] {
    return this.#checkpoints.all().map(rawCheckpoint);
  }

  /** For the verifier: every audit_head row (one, unless someone inserted more), undecoded (`key_id` named keyId). */
  rawHeads(): RawCheckpointRow[] {
    return this.#heads.all().map(rawCheckpoint);
  }
}

/**
 * Opens an existing database file as it is, for reading it beside a running server (`accord audit
 * verify`): no migration, no change of journal mode; waits up to 5 s for a writer's lock. The caller closes it.
 */
export function openDatabaseFile(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  try {
    db.exec('PRAGMA busy_timeout = 5000');
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

function rawCheckpoint(r: Row): RawCheckpointRow {
  return { seq: r.seq, hash: r.hash, signature: r.signature, keyId: r.key_id, at: r.at };
}

/** Decodes an audit_log row (all of ENTRY_COLUMNS); throws naming the column that does not match. */
export function decodeEntry(row: Row): AuditEntry {
  const seq = integer(row, 'audit_log', 'seq');
  const outcome = text(row, 'audit_log', 'outcome', seq);
  if (outcome !== 'ok' && outcome !== 'refused') throw malformed('audit_log', 'outcome', seq, "'ok' or 'refused'", outcome);
  const detailText = text(row, 'audit_log', 'detail', seq);
  let detail: unknown;
  try {
    detail = JSON.parse(detailText);
  } catch {
    throw malformed('audit_log', 'detail', seq, 'JSON', detailText);
  }
  return {
    seq, at: text(row, 'audit_log', 'at', seq), actor: text(row, 'audit_log', 'actor', seq), action: text(row, 'audit_log', 'action', seq),
    subject: text(row, 'audit_log', 'subject', seq), outcome, detail,
    prevHash: text(row, 'audit_log', 'prev_hash', seq), hash: text(row, 'audit_log', 'hash', seq),
  };
}

/** Decodes an audit_checkpoints or audit_head row (all of CHECKPOINT_COLUMNS). */
export function decodeCheckpoint(row: Row, table: 'audit_checkpoints' | 'audit_head'): AuditCheckpoint {
  const seq = integer(row, table, 'seq');
  return {
    seq, hash: text(row, table, 'hash', seq), signature: text(row, table, 'signature', seq),
    keyId: text(row, table, 'key_id', seq), at: text(row, table, 'at', seq),
  };
}

function text(row: Row, table: string, column: string, seq: number): string {
  const value = row[column];
  if (typeof value === 'string') return value;
  throw malformed(table, column, seq, 'text', value);
}

function integer(row: Row, table: string, column: string): number {
  const value = row[column];
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  throw malformed(table, column, undefined, 'an integer', value);
}

function malformed(table: string, column: string, seq: number | undefined, expected: string, value: unknown): Error {
  return new Error(`${table}.${column}${seq === undefined ? '' : ` of the row with seq ${seq}`} is not ${expected}: it holds ${describe(value)}`);
}

function describe(value: unknown): string {
  if (value === undefined) return 'no such column';
  if (value === null) return 'NULL';
  if (value instanceof Uint8Array) return `a blob of ${value.length} bytes`;
  if (typeof value === 'string') return `the text ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `the ${typeof value} ${String(value)}`;
}
