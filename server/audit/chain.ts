/**
 * Verifying a run of audit entries and the checkpoints over it. Shared by the database verifier and
 * the offline evidence-pack verifier (verify.ts). Reports the lowest-numbered broken entry.
 */
import type { KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import { GENESIS_HASH, checkpointSignatureValid, entryHash } from './entry.ts';
import type { AuditCheckpoint, AuditEntry } from './entry.ts';

export interface Broken {
  ok: false;
  /** The first broken entry (or checkpoint position); null when the problem is not about one entry. */
  seq: number | null;
  reason: string;
}

/** An entry as read from storage or a pack: detail still as text when it came from the database. */
export interface RawEntry {
  seq: unknown; at: unknown; actor: unknown; action: unknown; subject: unknown;
  outcome: unknown; detail: unknown; prevHash: unknown; hash: unknown;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const HEX64 = /^[0-9a-f]{64}$/;

export function broken(seq: number | null, reason: string): Broken {
  return { ok: false, seq, reason };
}

/**
 * Checks one entry's shape. `detailIsText`: the database stores detail as canonical JSON text, which
 * must parse and be canonical; a pack carries it as a JSON value.
 */
export function readEntry(raw: RawEntry, detailIsText: boolean, seq: number): AuditEntry | Broken {
  for (const f of ['at', 'actor', 'action', 'subject', 'outcome', 'prevHash', 'hash'] as const) {
    if (typeof raw[f] !== 'string') return broken(seq, `malformed: ${f} is not a string`);
  }
  const r = raw as RawEntry & Record<'at' | 'actor' | 'action' | 'subject' | 'outcome' | 'prevHash' | 'hash', string>;
  if (!ISO.test(r.at)) return broken(seq, 'malformed: at is not an ISO 8601 UTC time');
  if (r.outcome !== 'ok' && r.outcome !== 'refused') return broken(seq, 'malformed: outcome is neither ok nor refused');
  if (!HEX64.test(r.prevHash) || !HEX64.test(r.hash)) return broken(seq, 'malformed: hash or prev_hash is not SHA-256 hex');
  let detail: unknown = r.detail;
  if (detailIsText) {
    if (typeof r.detail !== 'string') return broken(seq, 'malformed: detail is not text');
    try {
      detail = JSON.parse(r.detail);
    } catch {
      return broken(seq, 'malformed: detail is not JSON');
    }
    if (canonicalJson(detail) !== r.detail) return broken(seq, 'detail is not canonical JSON');
  }
  return {
    seq, at: r.at, actor: r.actor, action: r.action, subject: r.subject, outcome: r.outcome,
    detail: detail ?? null, prevHash: r.prevHash, hash: r.hash,
  };
}

/**
 * Verifies a contiguous run of entries. `firstSeq` is where the run must start (1 for a whole log);
 * the first entry's prev_hash is checked against GENESIS_HASH only when it is entry 1.
 * Returns the entries that verified (the prefix before the first failure) and that failure.
 */
export function verifyEntries(raws: readonly RawEntry[], detailIsText: boolean, firstSeq: number): { entries: AuditEntry[]; failure?: Broken } {
  const entries: AuditEntry[] = [];
  const fail = (b: Broken) => ({ entries, failure: b });
  let prev: AuditEntry | undefined;
  for (const raw of raws) {
    const expected = prev ? prev.seq + 1 : firstSeq;
    if (typeof raw.seq !== 'number' || !Number.isSafeInteger(raw.seq)) return fail(broken(expected, 'malformed: seq is not an integer'));
    if (raw.seq > expected) {
      return fail(broken(expected, prev
        ? `missing (the log jumps from entry ${prev.seq} to ${raw.seq})`
        : `missing (the log starts at entry ${raw.seq})`));
    }
    if (raw.seq < expected) return fail(broken(expected, `out of order (entry ${raw.seq} appears after entry ${expected - 1})`));
    const entry = readEntry(raw, detailIsText, expected);
    if ('ok' in entry) return fail(entry);
    const { hash, ...fields } = entry;
    if (entryHash(fields) !== hash) return fail(broken(entry.seq, 'hash mismatch'));
    if (prev && entry.prevHash !== prev.hash) {
      return fail(broken(entry.seq, `chain broken: prev_hash is not the hash of entry ${prev.seq} (one of them was rewritten)`));
    }
    if (!prev && entry.seq === 1 && entry.prevHash !== GENESIS_HASH) return fail(broken(1, 'chain broken: entry 1 does not start from the genesis hash'));
    if (prev && entry.at < prev.at) return fail(broken(entry.seq, `out of order: recorded earlier than entry ${prev.seq}`));
    entries.push(entry);
    prev = entry;
  }
  return { entries };
}

export interface CheckpointContext {
  publicKey: KeyObject;
  keyId: string;
  /** Entries by seq. */
  bySeq: ReadonlyMap<number, AuditEntry>;
  lastSeq: number;
}

/** Checks one checkpoint against the key and the entry it signs. */
export function checkCheckpoint(raw: Record<string, unknown>, ctx: CheckpointContext): AuditCheckpoint | Broken {
  const seq = typeof raw.seq === 'number' && Number.isSafeInteger(raw.seq) ? raw.seq : null;
  if (seq === null) return broken(null, 'malformed checkpoint: seq is not an integer');
  for (const f of ['hash', 'signature', 'keyId', 'at'] as const) {
    if (typeof raw[f] !== 'string') return broken(seq, `malformed checkpoint: ${f} is not a string`);
  }
  const c = raw as unknown as AuditCheckpoint;
  if (c.keyId !== ctx.keyId) return broken(seq, `checkpoint signed by key ${c.keyId}, not by the verifying key ${ctx.keyId}`);
  if (!checkpointSignatureValid(c, ctx.publicKey)) return broken(seq, 'checkpoint signature does not verify');
  const entry = ctx.bySeq.get(seq);
  if (!entry) return broken(seq, `missing (a checkpoint signs entry ${seq}, but the log ends at ${ctx.lastSeq})`);
  if (entry.hash !== c.hash) return broken(seq, 'hash does not match its signed checkpoint (rewritten after signing)');
  return c;
}

/** The lower-numbered of two failures (null-seq failures first: they concern the whole input). */
export function firstBroken(...candidates: (Broken | undefined)[]): Broken | undefined {
  let best: Broken | undefined;
  for (const c of candidates) {
    if (!c) continue;
    if (!best || (c.seq ?? -1) < (best.seq ?? -1)) best = c;
  }
  return best;
}
