/**
 * The append-only audit log (DESIGN.md §4, docs/audit.md). Every command appends one entry whose hash
 * chains to the previous entry; every `checkpointEvery` entries, and on demand, the server signs the
 * latest hash with its Ed25519 key.
 *
 * append() is synchronous and MUST run in the same transaction as the state change it records: when
 * the caller has a transaction open on `db` (e.g. inside inTransaction()), the entry is written in it
 * and commits or rolls back with it; otherwise append opens its own BEGIN IMMEDIATE transaction.
 * Callers should open their transactions with BEGIN IMMEDIATE so that reading the chain's head and
 * inserting after it cannot interleave with another writer.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import { DEFAULT_CHECKPOINT_EVERY, GENESIS_HASH, entryHash, signCheckpoint } from './entry.ts';
import type { AuditCheckpoint, AuditEntry, AuditEntryInput, AuditOutcome } from './entry.ts';

export type { AuditCheckpoint, AuditEntry, AuditEntryInput, AuditOutcome } from './entry.ts';

/** What AuditLog needs of the server key (a ServerKey from server-key.ts fits). */
export interface AuditSigner {
  privateKey: KeyObject;
  keyId: string;
}

export interface AuditLogOptions {
  /** Sign a checkpoint every N entries (default 100); 0 disables automatic checkpoints. */
  checkpointEvery?: number;
  /** Clock, for tests. */
  now?: () => Date;
}

export interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  outcome: string;
  detail: string;
  prev_hash: string;
  hash: string;
}

export interface CheckpointRow {
  seq: number;
  hash: string;
  signature: string;
  key_id: string;
  at: string;
}

const ENTRY_COLUMNS = 'seq, at, actor, action, subject, outcome, detail, prev_hash, hash';

export function rowToEntry(row: AuditRow): AuditEntry {
  return {
    seq: row.seq, at: row.at, actor: row.actor, action: row.action, subject: row.subject,
    outcome: row.outcome as AuditOutcome, detail: JSON.parse(row.detail) as unknown,
    prevHash: row.prev_hash, hash: row.hash,
  };
}

export function rowToCheckpoint(row: CheckpointRow): AuditCheckpoint {
  return { seq: row.seq, hash: row.hash, signature: row.signature, keyId: row.key_id, at: row.at };
}

export class AuditLog {
  readonly #db: DatabaseSync;
  readonly #key: AuditSigner;
  readonly #every: number;
  readonly #now: () => Date;
  readonly #head: StatementSync;
  readonly #insert: StatementSync;
  readonly #insertCheckpoint: StatementSync;

  constructor(db: DatabaseSync, key: AuditSigner, options: AuditLogOptions = {}) {
    const every = options.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
    if (!Number.isInteger(every) || every < 0) throw new RangeError('checkpointEvery must be a non-negative integer');
    this.#db = db;
    this.#key = key;
    this.#every = every;
    this.#now = options.now ?? (() => new Date());
    this.#head = db.prepare('SELECT seq, at, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    this.#insert = db.prepare(`INSERT INTO audit_log (${ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#insertCheckpoint = db.prepare(
      'INSERT INTO audit_checkpoints (seq, hash, signature, key_id, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING',
    );
  }

  /** Appends one entry (and a checkpoint when its seq is a multiple of checkpointEvery). */
  append(input: AuditEntryInput): AuditEntry {
    if (input.outcome !== 'ok' && input.outcome !== 'refused') throw new TypeError(`audit outcome must be ok or refused`);
    for (const field of ['actor', 'action', 'subject'] as const) {
      if (typeof input[field] !== 'string' || input[field] === '') throw new TypeError(`audit ${field} must be a non-empty string`);
    }
    const detailText = canonicalJson(input.detail ?? null);
    return this.#inTransaction(() => {
      const head = this.#head.get() as { seq: number; at: string; hash: string } | undefined;
      const now = this.#now().toISOString();
      // Never earlier than the previous entry, so `at` is monotonic even if the clock steps back.
      const at = head && head.at > now ? head.at : now;
      const fields = {
        seq: (head?.seq ?? 0) + 1, at, actor: input.actor, action: input.action, subject: input.subject,
        outcome: input.outcome, detail: JSON.parse(detailText) as unknown, prevHash: head?.hash ?? GENESIS_HASH,
      };
      const entry: AuditEntry = { ...fields, hash: entryHash(fields) };
      this.#insert.run(entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.outcome, detailText, entry.prevHash, entry.hash);
      if (this.#every > 0 && entry.seq % this.#every === 0) this.#sign(entry.seq, entry.hash, entry.at);
      return entry;
    });
  }

  /** Signs the latest entry's hash now (idempotent per seq); null while the log is empty. */
  checkpoint(): AuditCheckpoint | null {
    return this.#inTransaction(() => {
      const head = this.#head.get() as { seq: number; at: string; hash: string } | undefined;
      if (!head) return null;
      const existing = this.#db.prepare('SELECT seq, hash, signature, key_id, at FROM audit_checkpoints WHERE seq = ?').get(head.seq);
      if (existing) return rowToCheckpoint(existing as unknown as CheckpointRow);
      const now = this.#now().toISOString();
      return this.#sign(head.seq, head.hash, head.at > now ? head.at : now);
    });
  }

  /** Every entry about `subject`, in order. */
  entriesFor(subject: string): AuditEntry[] {
    return this.#select(`SELECT ${ENTRY_COLUMNS} FROM audit_log WHERE subject = ? ORDER BY seq`, subject);
  }

  /** Every entry, in order. */
  all(): AuditEntry[] {
    return this.#select(`SELECT ${ENTRY_COLUMNS} FROM audit_log ORDER BY seq`);
  }

  /** Entries fromSeq..toSeq inclusive, in order. */
  range(fromSeq: number, toSeq: number): AuditEntry[] {
    return this.#select(`SELECT ${ENTRY_COLUMNS} FROM audit_log WHERE seq BETWEEN ? AND ? ORDER BY seq`, fromSeq, toSeq);
  }

  /** The seq of the first entry about `subject`, if any. */
  firstSeqFor(subject: string): number | undefined {
    const row = this.#db.prepare('SELECT MIN(seq) AS seq FROM audit_log WHERE subject = ?').get(subject) as { seq: number | null } | undefined;
    return row?.seq ?? undefined;
  }

  checkpoints(): AuditCheckpoint[] {
    const rows = this.#db.prepare('SELECT seq, hash, signature, key_id, at FROM audit_checkpoints ORDER BY seq').all();
    return rows.map((r) => rowToCheckpoint(r as unknown as CheckpointRow));
  }

  #sign(seq: number, hash: string, at: string): AuditCheckpoint {
    const checkpoint = signCheckpoint({ seq, hash, keyId: this.#key.keyId, at }, this.#key.privateKey);
    this.#insertCheckpoint.run(checkpoint.seq, checkpoint.hash, checkpoint.signature, checkpoint.keyId, checkpoint.at);
    return checkpoint;
  }

  #select(sql: string, ...params: (string | number)[]): AuditEntry[] {
    return this.#db.prepare(sql).all(...params).map((r) => rowToEntry(r as unknown as AuditRow));
  }

  #inTransaction<T>(fn: () => T): T {
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
}
