/**
 * The append-only audit log (DESIGN.md §4, docs/audit.md). Every command appends one entry whose hash
 * chains to the previous entry. In the same transaction the server signs the new head (seq, hash, at)
 * with its Ed25519 key into the one-row table `audit_head`, and every `checkpointEvery` entries it also
 * keeps that signature as a checkpoint row. After the transaction commits, the signed head is appended
 * to the anchor file (and the witness file) outside the database: anchor.ts.
 *
 * append() MUST run in the same unit of work as the state change it records: called inside the
 * caller's `db.transaction(...)` it joins it (through the port, server/store/sql.ts), so the entry
 * commits or rolls back with the state change; called outside one it opens its own. Reading the chain's
 * head and inserting after it hold the chain's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
 * advisory lock per schema), so two writers, in one process or on several nodes, never both append
 * after the same head. Every statement on the audit tables, and that lock, are AuditRepository's
 * (server/store/repositories/audit-repository.ts); the same code runs on SQLite and PostgreSQL.
 */
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AnchorFile } from './anchor.ts';
import { canonicalJson } from './canonical.ts';
import { DEFAULT_CHECKPOINT_EVERY, GENESIS_HASH, checkpointSignatureValid, entryHash, signCheckpoint } from './entry.ts';
import type { AuditCheckpoint, AuditEntry, AuditEntryInput } from './entry.ts';
import { AuditRepository, decodeCheckpoint, decodeEntry } from '../store/repositories/audit-repository.ts';
import type { Database } from '../store/sql.ts';

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
  readonly #db: Database;
  /** Every statement on the audit tables, and the chain's lock. */
  readonly #store: AuditRepository;
  readonly #key: AuditSigner;
  readonly #publicKey: KeyObject;
  readonly #every: number;
  readonly #now: () => Date;
  readonly #anchors: AnchorFile[];
  readonly #onAnchorError: (err: Error) => void;
  /** A flush is scheduled and has not started reading the head yet: later commits are covered by it. */
  #flushScheduled = false;
  /** The last flush scheduled (flushes run one after another); null when none is in flight. */
  #flushing: Promise<void> | null = null;
  /** The last head this process signed (a flush need not verify its own signature again). */
  #lastSigned: AuditCheckpoint | undefined;
  /** The first anchor error since the last flushAnchor(): it rejects the next one. */
  #anchorError: Error | undefined;

  constructor(db: Database, key: AuditSigner, options: AuditLogOptions = {}) {
    const every = options.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
    if (!Number.isInteger(every) || every < 0) throw new RangeError('checkpointEvery must be a non-negative integer');
    this.#db = db;
    this.#store = new AuditRepository(db);
    this.#key = key;
    this.#publicKey = createPublicKey(key.privateKey);
    this.#every = every;
    this.#now = options.now ?? (() => new Date());
    // '' means none too (the configuration's default for the witness).
    this.#anchors = [options.anchorPath, options.witnessPath].filter((p) => p !== undefined && p !== '').map((p) => new AnchorFile(p!));
    this.#onAnchorError = options.onAnchorError ?? ((err) => process.emitWarning(err));
  }

  /**
   * Appends one entry and signs the new head, in one unit of work (the caller's when one is open; a
   * checkpoint row too when its seq is a multiple of checkpointEvery); the head is anchored once that
   * unit of work has committed (never, if it rolls back).
   */
  async append(input: AuditEntryInput): Promise<AuditEntry> {
    if (input.outcome !== 'ok' && input.outcome !== 'refused') throw new TypeError(`audit outcome must be ok or refused`);
    for (const field of ['actor', 'action', 'subject'] as const) {
      if (typeof input[field] !== 'string' || input[field] === '') throw new TypeError(`audit ${field} must be a non-empty string`);
    }
    const detailText = canonicalJson(input.detail ?? null);
    return this.#store.transaction(async () => {
      const last = await this.#store.last();
      const now = this.#now().toISOString();
      // Never earlier than the previous entry, so `at` is monotonic even if the clock steps back.
      const at = last && last.at > now ? last.at : now;
      const fields = {
        seq: (last?.seq ?? 0) + 1, at, actor: input.actor, action: input.action, subject: input.subject,
        outcome: input.outcome, detail: JSON.parse(detailText) as unknown, prevHash: last?.hash ?? GENESIS_HASH,
      };
      const entry: AuditEntry = { ...fields, hash: entryHash(fields) };
      await this.#store.insertEntry(entry, detailText);
      const head = await this.#signHead(entry.seq, entry.hash, entry.at);
      if (this.#every > 0 && entry.seq % this.#every === 0) await this.#store.insertCheckpoint(head);
      this.#db.afterCommit(() => this.#scheduleAnchor());
      return entry;
    });
  }

  /**
   * The signed head: the server's signature (checkpoint format) over the last entry; null while the log
   * is empty. Signs it now when the head row is missing or not the last entry's (a log written before
   * heads were signed); otherwise returns the row. Either way it is anchored once the unit of work
   * commits (the server calls this at start). Evidence packs embed it as their checkpoint.
   */
  async checkpoint(): Promise<AuditCheckpoint | null> {
    return this.#store.transaction(async () => {
      const last = await this.#store.last();
      if (!last) return null;
      this.#db.afterCommit(() => this.#scheduleAnchor());
      const signed = await this.#store.head();
      if (signed && signed.seq === last.seq && signed.hash === last.hash && signed.keyId === this.#key.keyId) return signed;
      const now = this.#now().toISOString();
      return this.#signHead(last.seq, last.hash, last.at > now ? last.at : now);
    });
  }

  /** The signed head row as stored (null when there is none). */
  head(): Promise<AuditCheckpoint | null> {
    return this.#store.head();
  }

  /**
   * Runs `fn` in the caller's unit of work, or in its own, holding the chain's write lock: for reads that
   * must see the log as the entries appended in `fn` will follow it (exportEvidence).
   */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.#store.transaction(fn);
  }

  /** Every entry about `subject`, in order. */
  entriesFor(subject: string): Promise<AuditEntry[]> {
    return this.#store.entriesFor(subject);
  }

  /** Every entry, in order. */
  all(): Promise<AuditEntry[]> {
    return this.#store.all();
  }

  /** Entries fromSeq..toSeq inclusive, in order. */
  range(fromSeq: number, toSeq: number): Promise<AuditEntry[]> {
    return this.#store.range(fromSeq, toSeq);
  }

  /** The seq of the first entry about `subject`, if any. */
  firstSeqFor(subject: string): Promise<number | undefined> {
    return this.#store.firstSeqFor(subject);
  }

  checkpoints(): Promise<AuditCheckpoint[]> {
    return this.#store.checkpoints();
  }

  /**
   * Resolves when every head committed so far is in the anchor (and witness) files and fsynced; rejects
   * with the first anchor error since the last call. A head whose unit of work is still open is not
   * committed, and not waited for: so this refuses to run inside one (the flush it waits for would wait
   * for that unit of work to end).
   */
  async flushAnchor(): Promise<void> {
    if (this.#db.inTransaction) throw new Error('AuditLog.flushAnchor() inside a unit of work would wait for its own commit: call it after');
    while (this.#flushing) await this.#flushing;
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

  async #signHead(seq: number, hash: string, at: string): Promise<AuditCheckpoint> {
    const head = signCheckpoint({ seq, hash, keyId: this.#key.keyId, at }, this.#key.privateKey);
    this.#lastSigned = head;
    // An update, not delete-and-insert: a second row someone inserted stays visible to verification.
    await this.#store.putHead(head);
    return head;
  }

  /**
   * Called after a commit (db.afterCommit): schedules one anchor flush. Every commit until that flush
   * starts reading the head shares it, so a burst of appends makes one line; a commit after that
   * schedules the next flush, which runs once this one is done (flushes never overlap).
   */
  #scheduleAnchor(): void {
    if (this.#anchors.length === 0 || this.#flushScheduled) return;
    this.#flushScheduled = true;
    const flush = (): Promise<void> => this.#flush();
    const run = (this.#flushing ?? Promise.resolve()).then(flush, flush);
    this.#flushing = run;
    const settled = (): void => {
      if (this.#flushing === run) this.#flushing = null;
    };
    run.then(settled, (err: unknown) => {
      settled();
      // #flush rejects only when onAnchorError itself threw: not swallowed, thrown as from any callback.
      queueMicrotask(() => { throw err; });
    });
  }

  /** One flush; its errors go to #report, and so to the next flushAnchor(). */
  async #flush(): Promise<void> {
    try {
      await this.#writeAnchors();
    } catch (err) {
      this.#report(err);
    } finally {
      // Normally cleared just before the head is read; here too when the flush failed before it (the
      // next commit then schedules a flush whose head covers the heads this one missed).
      this.#flushScheduled = false;
    }
  }

  /**
   * Appends the committed head to each anchor file, holding the chain's write lock (nothing written to
   * the database): another writer on the same log and anchor (a CLI export while the server runs,
   * another node) cannot commit a later head and anchor it between this read and this write, so the
   * lines of all writers keep non-decreasing seqs. Only ever called after a commit (#scheduleAnchor), so
   * it runs in a unit of work of its own and reads only committed heads.
   */
  async #writeAnchors(): Promise<void> {
    await this.#store.transaction(async () => {
      // From here on a commit is not covered by the head read next: it schedules the next flush.
      this.#flushScheduled = false;
      const head = await this.#store.head();
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
