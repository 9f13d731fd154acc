/**
 * The anchor: the audit log's signed heads, appended one JSON line at a time to a file outside the
 * database (docs/audit.md, "the signed head and the anchor"). The data directory holds
 * `audit-anchor.jsonl`; an optional witness file on other storage gets the same lines.
 *
 * A line is the canonical JSON of a signed head, `{"at","hash","keyId","seq","signature"}`, signed in
 * the checkpoint format (entry.ts). Lines are only ever appended, after the head they carry committed,
 * and their seqs never decrease. Someone who deletes entries from the end of the log (and even puts
 * back an older signed head) cannot make the log reach the highest anchored seq again, nor give an
 * anchored seq another hash, without the server key.
 *
 * Durability: each line is written with one synchronous write (a process crash after it keeps it);
 * fsync runs on the libuv pool, so the event loop never waits for the disk. A power loss can lose the
 * last lines, or leave the last one torn (no newline): the verifier ignores a torn last line and the
 * writer cuts it off before its next line. It can never produce a line for an uncommitted head.
 */
import { close as closeAsync, closeSync, existsSync, fstatSync, fsync, ftruncateSync, open as openAsync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { dirname } from 'node:path';
import { canonicalJson } from './canonical.ts';
import { broken } from './chain.ts';
import type { Broken } from './chain.ts';
import { checkpointSignatureValid } from './entry.ts';
import type { AuditCheckpoint, AuditEntry } from './entry.ts';

/** The anchor file's name in the data directory. */
export const ANCHOR_FILE = 'audit-anchor.jsonl';

/** One line of an anchor file (with its newline). */
export function anchorLine(head: AuditCheckpoint): string {
  return `${canonicalJson({ seq: head.seq, hash: head.hash, keyId: head.keyId, at: head.at, signature: head.signature })}\n`;
}

/** How much of a file's end is read to find its last line (lines are about 250 bytes). */
const TAIL_BYTES = 4096;

/**
 * One append-only anchor file, as a writer sees it. Not safe for two writers at once on its own: the
 * audit log writes under the database's write lock (AuditLog), which also orders writers in other
 * processes, so the lines of all of them keep non-decreasing seqs.
 */
export class AnchorFile {
  readonly path: string;
  #fd: number | null = null;
  /** The highest seq this file holds, as far as this writer knows (read from the file when opened). */
  #lastSeq = 0;
  /** Behind-the-anchor warnings are given once per anchored seq, not at every append. */
  #warnedAt = -1;
  /** The fsync in flight (resolves when everything written before it started is on disk), and whether more was written since. */
  #syncing: Promise<void> | null = null;
  #dirty = false;
  /** Set when this writer created the file: the directory entry is fsynced once too. */
  #created = false;

  constructor(path: string) {
    this.path = path;
  }

  /**
   * Appends `head` unless the file already holds it or a later head. Synchronous write; the fsync is
   * started in the background (see synced()). Errors from the write are thrown; errors from the fsync
   * are passed to `report`.
   */
  write(head: AuditCheckpoint, report: (err: Error) => void): void {
    const fd = this.#open(report);
    if (head.seq <= this.#lastSeq) {
      if (head.seq < this.#lastSeq && this.#warnedAt !== this.#lastSeq) {
        this.#warnedAt = this.#lastSeq;
        report(new Error(`audit anchor ${this.path}: the log's signed head (entry ${head.seq}) is behind this file (entry ${this.#lastSeq}): ` +
          'entries were deleted from the end of the log, or the database was restored from a backup (then start a new anchor file: docs/audit.md)'));
      }
      return;
    }
    const bytes = Buffer.from(anchorLine(head), 'utf8');
    const size = fstatSync(fd).size;
    try {
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off);
    } catch (err) {
      // A partial line would glue onto the next one: cut it off (a no-op when nothing was written).
      try {
        ftruncateSync(fd, size);
      } catch (cut) {
        report(new Error(`audit anchor ${this.path}: cannot cut off a partly written line: ${(cut as Error).message}`, { cause: cut }));
      }
      throw err;
    }
    this.#lastSeq = head.seq;
    this.#sync(report);
  }

  /** Resolves when every line written so far has been fsynced (fsync errors went to `report`). */
  async synced(): Promise<void> {
    while (this.#syncing) await this.#syncing;
  }

  /** Waits for the fsync, then closes the file; a later write opens it again. */
  async close(): Promise<void> {
    await this.synced();
    if (this.#fd !== null) {
      closeSync(this.#fd);
      this.#fd = null;
    }
  }

  /**
   * Opens for append (creating the file, 0644: anchors are not secret), reads the last line's seq, and
   * cuts off a torn last line: it can never be a valid anchor, and the next line must not glue onto it.
   */
  #open(report: (err: Error) => void): number {
    if (this.#fd !== null) return this.#fd;
    this.#created = !existsSync(this.path);
    // O_APPEND: every write lands at the end, whatever other writers did meanwhile; reads use positions.
    const fd = openSync(this.path, 'a+', 0o644);
    try {
      const size = fstatSync(fd).size;
      const length = Math.min(size, TAIL_BYTES);
      const tail = Buffer.alloc(length);
      if (length > 0) readSync(fd, tail, 0, length, size - length);
      const end = tail.lastIndexOf(0x0a) + 1;
      // (Without a newline in the last 4 KB the tail is not a torn line but something else: left for the verifier.)
      if (end < length && (end > 0 || size <= TAIL_BYTES)) ftruncateSync(fd, size - (length - end));
      const last = tail.subarray(0, end).toString('utf8').split('\n').filter((l) => l !== '').at(-1);
      if (last !== undefined) {
        let seq: unknown;
        try {
          seq = (JSON.parse(last) as { seq?: unknown } | null)?.seq;
        } catch {
          seq = undefined;
        }
        if (typeof seq === 'number') this.#lastSeq = seq;
        else report(new Error(`audit anchor ${this.path}: its last line is not an anchor line; appending after it (accord audit verify names it)`));
      }
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.#fd = fd;
    return fd;
  }

  /** Starts an fsync unless one is running; a write during it is covered by one more fsync after it. */
  #sync(report: (err: Error) => void): void {
    this.#dirty = true;
    if (this.#syncing) return;
    const fd = this.#fd!;
    const created = this.#created;
    this.#created = false;
    const failed = (err: Error): void => report(new Error(`audit anchor ${this.path}: not durable yet: ${err.message}`, { cause: err }));
    this.#syncing = new Promise<void>((resolve) => {
      const round = (): void => {
        this.#dirty = false;
        fsync(fd, (err) => {
          if (err) failed(err);
          if (this.#dirty) round();
          else {
            this.#syncing = null;
            resolve();
          }
        });
      };
      if (!created) return round();
      // A new file's name must survive a power loss too: fsync its directory once.
      openAsync(dirname(this.path), 'r', (err, dir) => {
        if (err) {
          failed(err);
          return round();
        }
        fsync(dir, (syncErr) => {
          if (syncErr) failed(syncErr);
          closeAsync(dir, (closeErr) => {
            if (closeErr) failed(closeErr);
            round();
          });
        });
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// Verification

/** An anchor file to check the log against: its text, or null when it does not exist. */
export interface AnchorInput {
  /** How failures name it, e.g. `the anchor file data/audit-anchor.jsonl`. */
  label: string;
  text: string | null;
}

export interface AnchorVerified {
  label: string;
  /** Complete lines checked. */
  lines: number;
  /** The highest seq it records (null: no line yet). */
  lastSeq: number | null;
  /** A torn last line (no newline: a crash during the write) was ignored. */
  tornTail: boolean;
}

/** Reads an anchor file for verification: null text when it does not exist; other errors are thrown. */
export function readAnchorFile(path: string, label: string): AnchorInput {
  try {
    return { label, text: readFileSync(path, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { label, text: null };
    throw err;
  }
}

export interface AnchorContext {
  publicKey: KeyObject;
  keyId: string;
  /** The entries that verified (a prefix of the log). */
  bySeq: ReadonlyMap<number, AuditEntry>;
  /** The last entry's seq in the log (0 when empty), whether or not it verified. */
  lastSeq: number;
  /** Entries from this seq on did not verify: lines about them are not compared. */
  unverifiedFrom: number;
}

/**
 * Checks one anchor file against the log: every complete line is a signed head by the verifying key,
 * seqs never decrease, the entry at each seq exists with exactly that hash, and so the log does not end
 * before the highest anchored seq. The log may run ahead of the anchor (lines are written after commit).
 */
export function verifyAnchor(input: AnchorInput, ctx: AnchorContext): AnchorVerified | Broken {
  const { label } = input;
  if (input.text === null) {
    return ctx.lastSeq === 0
      ? { label, lines: 0, lastSeq: null, tornTail: false }
      : broken(null, `${label} does not exist, but the log has ${ctx.lastSeq} entries: it was deleted or moved, or the server ran without anchoring ` +
        '(accord audit verify --no-anchor checks the database alone)');
  }
  const parts = input.text.split('\n');
  // The text after the last newline: empty, or a line torn by a crash during its write (ignored).
  const torn = parts.pop() !== '';
  let highest: { seq: number; line: number } | undefined;
  const failures: Broken[] = [];
  for (const [i, text] of parts.entries()) {
    const n = i + 1;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      raw = undefined;
    }
    const fields = raw as Record<string, unknown> | null | undefined;
    if (typeof fields !== 'object' || fields === null || !Number.isSafeInteger(fields.seq) || (fields.seq as number) < 1 ||
      !['hash', 'keyId', 'at', 'signature'].every((f) => typeof fields[f] === 'string')) {
      return broken(null, `${label} line ${n} is not an anchor line (a JSON object with seq, hash, keyId, at and signature)`);
    }
    const line = fields as unknown as AuditCheckpoint;
    if (highest && line.seq < highest.seq) {
      return broken(null, `${label} line ${n} records entry ${line.seq} after entry ${highest.seq}: its lines are out of order (edited?)`);
    }
    highest = { seq: line.seq, line: n };
    // Signature and key first: a line the key did not sign proves nothing about the log.
    if (line.keyId !== ctx.keyId) {
      failures.push(broken(line.seq, `${label} line ${n} (entry ${line.seq}) is signed by key ${line.keyId}, not by the verifying key ${ctx.keyId}`));
    } else if (!checkpointSignatureValid(line, ctx.publicKey)) {
      failures.push(broken(line.seq, `${label} line ${n} (entry ${line.seq}) is not signed by the server key: its signature does not verify`));
    } else if (line.seq <= ctx.lastSeq && line.seq < ctx.unverifiedFrom && ctx.bySeq.get(line.seq)?.hash !== line.hash) {
      failures.push(broken(line.seq, `its hash differs from the one ${label} recorded at line ${n} (rewritten after it was anchored)`));
    }
  }
  if (highest && highest.seq > ctx.lastSeq) {
    const [end, lost] = ctx.lastSeq === 0 ? ['the log is empty', 'every entry was deleted'] : [`the log ends at entry ${ctx.lastSeq}`, `entries after ${ctx.lastSeq} were deleted`];
    failures.push(broken(ctx.lastSeq + 1, `missing (${end} but ${label} records entry ${highest.seq} (line ${highest.line}): ${lost})`));
  }
  const first = failures.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))[0];
  if (first) return first;
  return { label, lines: parts.length, lastSeq: highest?.seq ?? null, tornTail: torn };
}
