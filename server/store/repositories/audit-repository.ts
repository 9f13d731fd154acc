/**
 * AuditRepository: every SQL statement on the audit trail's tables (SQLite: sqlite/schema/audit.ts;
 * PostgreSQL: postgres/schema.ts): the hash-chained entries `audit_log`, the periodic signed
 * `audit_checkpoints`, and the one-row signed head `audit_head`. What goes into them (hashes,
 * signatures, the rules of the chain) is AuditLog's (server/audit/audit-log.ts); this class only stores
 * and reads rows. The same SQL runs on both databases (server/store/sql.ts); where they differ (the
 * chain's lock, finding the table) it asks `dialect`.
 *
 * Units of work (all through the port, so a caller's open `db.transaction` is joined):
 * - `transaction(fn)` runs `fn` holding the chain's write lock: in the caller's unit of work, or in its
 *   own. AuditLog.append reads the chain's last entry and inserts after it in one; the anchor flush reads
 *   the committed head in one (writing nothing) so that writers' anchor lines keep their order. The lock
 *   is SQLite's BEGIN IMMEDIATE (the port opens write transactions so) and, on PostgreSQL, a
 *   transaction-scoped advisory lock per schema (`lockChain`): without it two nodes (or two
 *   transactions of one) would both read the same head and write the same seq.
 * - `readTransaction(fn)` runs reads in one read-only unit of work: one snapshot of the database even
 *   while another connection or node appends (`accord audit verify`).
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
import type { AuditCheckpoint, AuditEntry } from '../../audit/entry.ts';
import type { Database, Row, SqlValue } from '../sql.ts';
import { SqliteDatabase } from '../sqlite/sqlite-database.ts';

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

const ENTRY_COLUMNS = 'seq, at, actor, action, subject, outcome, detail, prev_hash, hash';
const CHECKPOINT_COLUMNS = 'seq, hash, signature, key_id, at';

const SQL = {
  last: 'SELECT seq, at, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
  insert: `INSERT INTO audit_log (${ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  insertCheckpoint: `INSERT INTO audit_checkpoints (${CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING`,
  // One row by contract; if someone inserted more, any of them (verification reports the extra rows).
  head: `SELECT ${CHECKPOINT_COLUMNS} FROM audit_head LIMIT 1`,
  updateHead: 'UPDATE audit_head SET seq = ?, hash = ?, signature = ?, key_id = ?, at = ?',
  insertHead: `INSERT INTO audit_head (${CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?)`,
  bySubject: `SELECT ${ENTRY_COLUMNS} FROM audit_log WHERE subject = ? ORDER BY seq`,
  all: `SELECT ${ENTRY_COLUMNS} FROM audit_log ORDER BY seq`,
  range: `SELECT ${ENTRY_COLUMNS} FROM audit_log WHERE seq BETWEEN ? AND ? ORDER BY seq`,
  firstSeq: 'SELECT MIN(seq) AS seq FROM audit_log WHERE subject = ?',
  checkpoints: `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY seq`,
  heads: `SELECT ${CHECKPOINT_COLUMNS} FROM audit_head`,
  /**
   * PostgreSQL: the chain's write lock, held until the unit of work ends. Keyed by the schema, so two
   * installations in one database (or test schemas) do not wait for each other.
   */
  lockChain: "SELECT pg_advisory_xact_lock(hashtext('accord.audit.' || current_schema()))",
} as const;

export class AuditRepository {
  readonly #db: Database;

  /** The tables must exist (the migrations of either database, or AUDIT_SCHEMA and AUDIT_HEAD_SCHEMA on SQLite). */
  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * Does the database hold the audit log table? (A file that is not Accord's, a schema that does not
   * exist or was never migrated, does not.) Looks without creating anything: `accord audit verify` asks it.
   */
  static async hasAuditLog(db: Database): Promise<boolean> {
    if (db.dialect === 'sqlite') {
      return (await db.get("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'")) !== undefined;
    }
    // Resolved through search_path, as every other statement on the table is.
    const row = await db.get<{ found: unknown }>("SELECT to_regclass('audit_log') IS NOT NULL AS found");
    return row?.found === true;
  }

  /**
   * Runs `fn` holding the chain's write lock, in the caller's unit of work or in its own (committed when
   * `fn` resolves, rolled back when it throws). See the module comment.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.#db.transaction(async () => {
      await this.#lockChain();
      return fn();
    });
  }

  /** Runs `fn` (reads only) in one read-only unit of work (or the caller's): every read sees the same commit. */
  readTransaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.#db.transaction(fn, { readOnly: true });
  }

  /** The chain's last entry (null for an empty log). */
  async last(): Promise<AuditTail | null> {
    const row = await this.#db.get(SQL.last);
    if (!row) return null;
    const seq = integer(row, 'audit_log', 'seq');
    return { seq, at: text(row, 'audit_log', 'at', seq), hash: text(row, 'audit_log', 'hash', seq) };
  }

  /** Inserts an entry; `detailText` is its detail as stored (canonical JSON). */
  async insertEntry(entry: AuditEntry, detailText: string): Promise<void> {
    await this.#db.run(SQL.insert, [entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.outcome, detailText, entry.prevHash, entry.hash]);
  }

  /** Keeps a checkpoint row (nothing when one is already kept at its seq). */
  async insertCheckpoint(c: AuditCheckpoint): Promise<void> {
    await this.#db.run(SQL.insertCheckpoint, [c.seq, c.hash, c.signature, c.keyId, c.at]);
  }

  /** The signed head row (null when there is none). */
  async head(): Promise<AuditCheckpoint | null> {
    const row = await this.#db.get(SQL.head);
    return row ? decodeCheckpoint(row, 'audit_head') : null;
  }

  /**
   * Stores the signed head: an update of the row, inserted only when there is none (never delete-and-insert:
   * a second row someone inserted stays visible to verification). Run it under `transaction`: the chain's
   * lock makes the update-or-insert one writer's.
   */
  async putHead(c: AuditCheckpoint): Promise<void> {
    const values = [c.seq, c.hash, c.signature, c.keyId, c.at];
    if ((await this.#db.run(SQL.updateHead, values)) === 0) await this.#db.run(SQL.insertHead, values);
  }

  /** Every entry about `subject`, in order. */
  async entriesFor(subject: string): Promise<AuditEntry[]> {
    return (await this.#db.all(SQL.bySubject, [subject])).map(decodeEntry);
  }

  /** Every entry, in order. */
  async all(): Promise<AuditEntry[]> {
    return (await this.#db.all(SQL.all)).map(decodeEntry);
  }

  /**
   * A page of the log for browsing, newest first: entries before `before` (a seq; none: from the end),
   * at most `limit`, filtered by exact actor, action prefix (`change.` finds `change.vote`) and subject.
   */
  async page(q: { before?: number; limit: number; actor?: string; action?: string; subject?: string }): Promise<AuditEntry[]> {
    const where: string[] = [];
    const values: SqlValue[] = [];
    if (q.before !== undefined) { where.push('seq < ?'); values.push(q.before); }
    if (q.actor) { where.push('actor = ?'); values.push(q.actor); }
    if (q.subject) { where.push('subject = ?'); values.push(q.subject); }
    // A prefix by substr, not LIKE or a range: no wildcards, and no collation decides it (both databases).
    if (q.action) { where.push('(action = ? OR substr(action, 1, ?) = ?)'); values.push(q.action, q.action.length + 1, `${q.action}.`); }
    const sql = `SELECT ${ENTRY_COLUMNS} FROM audit_log${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    return (await this.#db.all(sql, [...values, q.limit])).map(decodeEntry);
  }

  /** Entries fromSeq..toSeq inclusive, in order. */
  async range(fromSeq: number, toSeq: number): Promise<AuditEntry[]> {
    return (await this.#db.all(SQL.range, [fromSeq, toSeq])).map(decodeEntry);
  }

  /** The seq of the first entry about `subject`, if any. */
  async firstSeqFor(subject: string): Promise<number | undefined> {
    const row = await this.#db.get(SQL.firstSeq, [subject]);
    return row === undefined || row.seq === null ? undefined : integer(row, 'audit_log', 'seq');
  }

  /** Every checkpoint row, by seq. */
  async checkpoints(): Promise<AuditCheckpoint[]> {
    return (await this.#db.all(SQL.checkpoints)).map((row) => decodeCheckpoint(row, 'audit_checkpoints'));
  }

  /** For the verifier: every audit_log row by seq, undecoded (`prev_hash` named prevHash). */
  async rawEntries(): Promise<RawAuditEntryRow[]> {
    return (await this.#db.all(SQL.all)).map((r) => ({
      seq: r.seq, at: r.at, actor: r.actor, action: r.action, subject: r.subject,
      outcome: r.outcome, detail: r.detail, prevHash: r.prev_hash, hash: r.hash,
    }));
  }

  /** For the verifier: every audit_checkpoints row by seq, undecoded (`key_id` named keyId). */
  async rawCheckpoints(): Promise<RawCheckpointRow[]> {
    return (await this.#db.all(SQL.checkpoints)).map(rawCheckpoint);
  }

  /** For the verifier: every audit_head row (one, unless someone inserted more), undecoded (`key_id` named keyId). */
  async rawHeads(): Promise<RawCheckpointRow[]> {
    return (await this.#db.all(SQL.heads)).map(rawCheckpoint);
  }

  /**
   * The chain's write lock for the rest of the current unit of work. SQLite: the port began it with
   * BEGIN IMMEDIATE, which already excludes every other writer (other processes included). PostgreSQL
   * (READ COMMITTED): the advisory lock; the reads after it see every append committed before it.
   */
  async #lockChain(): Promise<void> {
    if (this.#db.dialect === 'postgres') await this.#db.get(SQL.lockChain);
  }
}

/**
 * Opens an existing SQLite database file as it is, for reading it beside a running server (`accord
 * audit verify --data DIR`): no migration, no change of journal mode; waits up to 5 s for a writer's
 * lock. The caller closes it.
 */
export function openDatabaseFile(path: string): SqliteDatabase {
  const raw = new DatabaseSync(path);
  try {
    raw.exec('PRAGMA busy_timeout = 5000');
  } catch (err) {
    raw.close();
    throw err;
  }
  return new SqliteDatabase(raw);
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

/** An integer column: a number from either driver (PostgreSQL's BIGINT comes back as a number, sql.ts). */
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
