/**
 * The append-only audit log (DESIGN.md §4, docs/audit.md). Every command appends one entry whose hash
 * chains to the previous entry. In the same transaction the server signs the new head (seq, hash, at)
 * with its Ed25519 key into the one-row table `audit_head`, and every `checkpointEvery` entries it also
 * keeps that signature as a checkpoint row. After the transaction commits, the signed head is appended
 * to the anchor file (and the witness file) outside the database: anchor.ts.
 *
 * append() is synchronous and MUST run in the same transaction as the state change it records: when
 * the caller has a transaction open on `db` (e.g. inside inTransaction()), the entry is written in it
 * and commits or rolls back with it; otherwise append opens its own BEGIN IMMEDIATE transaction.
 * Callers should open their transactions with BEGIN IMMEDIATE so that reading the chain's head and
 * inserting after it cannot interleave with another writer. Every statement on the audit tables, and
 * these transactions, are SqliteAuditRepository's (server/store/sqlite/audit-repository.ts).
 */
import type { DatabaseSync } from 'node:sqlite';
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AnchorFile } from './anchor.ts';
import { canonicalJson } from './canonical.ts';
import { DEFAULT_CHECKPOINT_EVERY, GENESIS_HASH, checkpointSignatureValid, entryHash, signCheckpoint } from './entry.ts';
import type { AuditCheckpoint, AuditEntry, AuditEntryInput } from './entry.ts';
import { SqliteAuditRepository, decodeCheckpoint, decodeEntry } from '../store/sqlite/audit-repository.ts';

export type { AuditCheckpoint, AuditEntry, AuditEntryInput, AuditOutcome } from './entry.ts';

/** What AuditLog needs of the server key (a ServerKey from server-key.ts fits). */
export interface AuditSigner {
  privateKey: KeyObject;
  keyId: string;
}

export interface AuditLogOptions {
  /** Keep a checkpoint row every N entries (default 100); 0 disables them. The head is signed at every append regardless. */
  checkpointEvery?: number;
  /** Clock, for tests. */
  now?: () => Date;
  /**
   * Append every committed signed head to this file: the data directory's `audit-anchor.jsonl`
   * (ANCHOR_FILE). Absent: no anchor (unit tests).
   */
  anchorPath?: string;
  /** And to this file too: a witness on other storage than the data directory (docs/audit.md). Absent or '': none. */
  witnessPath?: string;
  /**
   * Called with each anchor error (a failed write, fsync or lock; a head behind the anchor file). The
   * next flushAnchor() or close() also rejects with the first of them. Default: process.emitWarning.
   */
  onAnchorError?: (err: Error) => void;
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

/** An audit_log row as an entry (decoded by the store: a column of the wrong type throws, naming it). */
export function rowToEntry(row: AuditRow): AuditEntry {
  return decodeEntry({ ...row });
}

/** An audit_checkpoints row as a checkpoint (decoded by the store). */
export function rowToCheckpoint(row: CheckpointRow): AuditCheckpoint {
  return decodeCheckpoint({ ...row }, 'audit_checkpoints');
}

export class AuditLog {
  /** Every statement on the audit tables, and the transactions they run in. */
  readonly #store: SqliteAuditRepository;
  readonly #key: AuditSigner;
  readonly #publicKey: KeyObject;
  readonly #every: number;
  readonly #now: () => Date;
  readonly #anchors: AnchorFile[];
  readonly #onAnchorError: (err: Error) => void;
  /** The anchor flush that is scheduled and has not run yet (resolves when it ran). */
  #pendingFlush: { done: Promise<void>; resolve: () => void } | null = null;
  /** The last head this process signed (a flush need not verify its own signature again). */
  #lastSigned: AuditCheckpoint | undefined;
  /** The first anchor error since the last flushAnchor(): it rejects the next one. */
  #anchorError: Error | undefined;

  constructor(db: DatabaseSync, key: AuditSigner, options: AuditLogOptions = {}) {
    const every = options.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
    if (!Number.isInteger(every) || every < 0) throw new RangeError('checkpointEvery must be a non-negative integer');
    this.#store = new SqliteAuditRepository(db);
    this.#key = key;
    this.#publicKey = createPublicKey(key.privateKey);
    this.#every = every;
    this.#now = options.now ?? (() => new Date());
    // '' means none too (the configuration's default for the witness).
    this.#anchors = [options.anchorPath, options.witnessPath].filter((p) => p !== undefined && p !== '').map((p) => new AnchorFile(p!));
    this.#onAnchorError = options.onAnchorError ?? ((err) => process.emitWarning(err));
  }

  /**
   * Appends one entry and signs the new head, in one transaction (a checkpoint row too when its seq is
   * a multiple of checkpointEvery); the head is anchored once the transaction has committed.
   */
  append(input: AuditEntryInput): AuditEntry {
    if (input.outcome !== 'ok' && input.outcome !== 'refused') throw new TypeError(`audit outcome must be ok or refused`);
    for (const field of ['actor', 'action', 'subject'] as const) {
      if (typeof input[field] !== 'string' || input[field] === '') throw new TypeError(`audit ${field} must be a non-empty string`);
    }
    const detailText = canonicalJson(input.detail ?? null);
    const appended = this.#store.transaction(() => {
      const last = this.#store.last();
      const now = this.#now().toISOString();
      // Never earlier than the previous entry, so `at` is monotonic even if the clock steps back.
      const at = last && last.at > now ? last.at : now;
      const fields = {
        seq: (last?.seq ?? 0) + 1, at, actor: input.actor, action: input.action, subject: input.subject,
        outcome: input.outcome, detail: JSON.parse(detailText) as unknown, prevHash: last?.hash ?? GENESIS_HASH,
      };
      const entry: AuditEntry = { ...fields, hash: entryHash(fields) };
      this.#store.insertEntry(entry, detailText);
      const head = this.#signHead(entry.seq, entry.hash, entry.at);
      if (this.#every > 0 && entry.seq % this.#every === 0) this.#store.insertCheckpoint(head);
      return entry;
    });
    this.#scheduleAnchor();
    return appended;
  }

  /**
   * The signed head: the server's signature (checkpoint format) over the last entry; null while the log
   * is empty. Signs it now when the head row is missing or not the last entry's (a log written before
   * heads were signed); otherwise returns the row. Evidence packs embed it as their checkpoint.
   */
  checkpoint(): AuditCheckpoint | null {
    const head = this.#store.transaction(() => {
      const last = this.#store.last();
      if (!last) return null;
      const signed = this.head();
      if (signed && signed.seq === last.seq && signed.hash === last.hash && signed.keyId === this.#key.keyId) return signed;
      const now = this.#now().toISOString();
      return this.#signHead(last.seq, last.hash, last.at > now ? last.at : now);
    });
    if (head) this.#scheduleAnchor();
    return head;
  }

  /** The signed head row as stored (null when there is none). */
  head(): AuditCheckpoint | null {
    return this.#store.head();
  }

  /**
   * Runs `fn` in the caller's open transaction, or in its own BEGIN IMMEDIATE one: for reads that must
   * see the log as the entries appended in `fn` will follow it (exportEvidence).
   */
  transaction<T>(fn: () => T): T {
    return this.#store.transaction(fn);
  }

  /** Every entry about `subject`, in order. */
  entriesFor(subject: string): AuditEntry[] {
    return this.#store.entriesFor(subject);
  }

  /** Every entry, in order. */
  all(): AuditEntry[] {
    return this.#store.all();
  }

  /** Entries fromSeq..toSeq inclusive, in order. */
  range(fromSeq: number, toSeq: number): AuditEntry[] {
    return this.#store.range(fromSeq, toSeq);
  }

  /** The seq of the first entry about `subject`, if any. */
  firstSeqFor(subject: string): number | undefined {
    return this.#store.firstSeqFor(subject);
  }

  checkpoints(): AuditCheckpoint[] {
    return this.#store.checkpoints();
  }

  /**
   * Resolves when every head committed so far is in the anchor (and witness) files and fsynced; rejects
   * with the first anchor error since the last call. While a transaction stays open on the connection
   * it waits for it to end (an uncommitted head is never anchored).
   */
  async flushAnchor(): Promise<void> {
    while (this.#pendingFlush) await this.#pendingFlush.done;
    await Promise.all(this.#anchors.map((file) => file.synced()));
    const err = this.#anchorError;
    this.#anchorError = undefined;
    if (err) throw err;
  }

  /** For shutdown: flushAnchor(), then closes the anchor files (an append after it opens them again). */
  async close(): Promise<void> {
    try {
      await this.flushAnchor();
    } finally {
      await Promise.all(this.#anchors.map((file) => file.close()));
    }
  }

  #signHead(seq: number, hash: string, at: string): AuditCheckpoint {
    const head = signCheckpoint({ seq, hash, keyId: this.#key.keyId, at }, this.#key.privateKey);
    this.#lastSigned = head;
    // An update, not delete-and-insert: a second row someone inserted stays visible to verification.
    this.#store.putHead(head);
    return head;
  }

  /**
   * Schedules one anchor flush for this turn: every append of the turn shares it, so a burst of appends
   * makes one line. It runs as a microtask, after the synchronous code that appended (and committed).
   */
  #scheduleAnchor(): void {
    if (this.#anchors.length === 0 || this.#pendingFlush) return;
    let resolve!: () => void;
    const done = new Promise<void>((r) => { resolve = r; });
    this.#pendingFlush = { done, resolve };
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    const pending = this.#pendingFlush!;
    try {
      // Never anchor an uncommitted head: a transaction still open (the caller's, which may yet roll
      // back) is waited out. Command transactions are synchronous, so this is rare and short.
      if (this.#store.isTransaction) {
        setTimeout(() => this.#flush(), 1);
        return;
      }
      this.#pendingFlush = null;
      this.#writeAnchors();
    } catch (err) {
      this.#pendingFlush = null;
      this.#report(err);
    }
    pending.resolve();
  }

  /**
   * Appends the committed head to each anchor file. Under the database's write lock (BEGIN IMMEDIATE,
   * nothing written): another process appending to the same log and anchor (a CLI export while the
   * server runs) cannot commit a later head and anchor it between this read and this write, so the
   * lines of all writers keep non-decreasing seqs.
   */
  #writeAnchors(): void {
    this.#store.underWriteLock(() => {
      const head = this.head();
      if (!head) return;
      // A head this process signed is taken as is; any other (written by another process, or edited) is verified.
      const ours = canonicalJson(this.#lastSigned ?? null) === canonicalJson(head);
      if (!ours && (head.keyId !== this.#key.keyId || !checkpointSignatureValid(head, this.#publicKey))) {
        throw new Error(`audit anchor: the signed head in the database (entry ${head.seq}) does not verify with the server key, so it is not anchored (was audit_head edited?)`);
      }
      for (const file of this.#anchors) {
        try {
          file.write(head, this.#report);
        } catch (err) {
          // The next commit's flush writes its own head, which catches this file up.
          this.#report(new Error(`audit anchor ${file.path}: cannot append the signed head of entry ${head.seq}: ${(err as Error).message}`, { cause: err }));
        }
      }
    });
  }

  readonly #report = (err: unknown): void => {
    const error = err instanceof Error ? err : new Error(String(err));
    this.#anchorError ??= error;
    this.#onAnchorError(error);
  };
}
