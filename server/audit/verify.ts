/**
 * Verification of the audit trail in a database (docs/audit.md), against its anchor files when given;
 * exported evidence packs are verified by verify-pack.ts. Both report the first broken entry.
 */
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AuditRepository } from '../store/repositories/audit-repository.ts';
import type { RawAuditEntryRow, RawCheckpointRow } from '../store/repositories/audit-repository.ts';
import type { Database } from '../store/sql.ts';
import { verifyAnchor } from './anchor.ts';
import type { AnchorInput, AnchorVerified } from './anchor.ts';
import { broken, checkCheckpoint, firstBroken, verifyEntries } from './chain.ts';
import type { Broken } from './chain.ts';
import { DEFAULT_CHECKPOINT_EVERY, checkpointSignatureValid } from './entry.ts';
import type { AuditCheckpoint, AuditEntry } from './entry.ts';
import { keyIdOf } from './server-key.ts';

export interface Verified {
  ok: true;
  /** Number of entries verified. */
  entries: number;
  /** Number of checkpoint rows verified. */
  checkpoints: number;
  /** The last entry's seq (0 for an empty log). */
  lastSeq: number;
  /** The last signed entry (the signed head; null for an empty log). */
  lastCheckpointSeq: number | null;
  /** The seq the signed head signs (null for an empty log). */
  head: number | null;
  keyId: string;
  /** The anchor files checked, in the order given (empty when none was). */
  anchors: AnchorVerified[];
}

export type VerifyResult = Verified | Broken;
export type { Broken } from './chain.ts';
export type { AnchorInput, AnchorVerified } from './anchor.ts';

export interface VerifyOptions {
  /** Require a checkpoint at every multiple of this seq (default 100, as AuditLog writes them); 0 disables. */
  checkpointEvery?: number;
  /**
   * Check the log against these anchor files (readAnchorFile: the data directory's, and a witness).
   * Absent: the database alone, which cannot tell a truncated log whose older signed head was put back.
   * Read them BEFORE the database snapshot: a line is only written after its head committed, so every
   * line read first is covered by a snapshot taken after.
   */
  anchors?: readonly AnchorInput[];
}

export function publicKeyFrom(pem: string): { key: KeyObject; keyId: string } | Broken {
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') return broken(null, 'the public key is not an ed25519 key');
    return { key, keyId: keyIdOf(key) };
  } catch {
    return broken(null, 'the public key is not a PEM public key');
  }
}

/**
 * What verification reads: the audit tables' rows as stored, undecoded (AuditRepository's raw reads).
 * Checking every field is the verifier's job, so that a malformed row is reported as broken.
 */
export interface AuditRows {
  rawEntries(): Promise<RawAuditEntryRow[]>;
  rawCheckpoints(): Promise<RawCheckpointRow[]>;
  rawHeads(): Promise<RawCheckpointRow[]>;
}

/**
 * Verifies every entry, checkpoint and the signed head in the database (SQLite or PostgreSQL) and the
 * anchors given, against the server's public key. Its reads run in one read-only unit of work (or the
 * caller's), so they see one commit even while a server appends.
 */
export async function verifyAudit(db: Database, publicKeyPem: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const pub = publicKeyFrom(publicKeyPem);
  if ('ok' in pub) return pub;
  const store = new AuditRepository(db);
  return store.readTransaction(() => verifyRows(store, pub, options));
}

/** verifyAudit on the rows of a store, read as they come: the caller provides the snapshot (a read transaction). */
export async function verifyAuditStore(store: AuditRows, publicKeyPem: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const pub = publicKeyFrom(publicKeyPem);
  if ('ok' in pub) return pub;
  return verifyRows(store, pub, options);
}

async function verifyRows(store: AuditRows, pub: { key: KeyObject; keyId: string }, options: VerifyOptions): Promise<VerifyResult> {
  const raws = await store.rawEntries();
  const { entries, failure: entryFailure } = verifyEntries(raws, true, 1);
  // Signatures are judged against the entries that verified; past a failure only lower seqs matter.
  const bySeq = new Map(entries.map((e) => [e.seq, e]));
  const unverifiedFrom = entryFailure?.seq ?? Number.POSITIVE_INFINITY;
  const lastRaw = raws.at(-1);
  const lastSeq = typeof lastRaw?.seq === 'number' ? lastRaw.seq : 0;
  const rows = await store.rawCheckpoints();
  let checkpointFailure: Broken | undefined;
  const signed = new Set<number>();
  for (const row of rows) {
    if (typeof row.seq === 'number' && row.seq >= unverifiedFrom) break;
    const c = checkCheckpoint(row, { publicKey: pub.key, keyId: pub.keyId, bySeq, lastSeq });
    if ('ok' in c) { checkpointFailure = c; break; }
    signed.add(c.seq);
  }
  const every = options.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
  let missingCheckpoint: Broken | undefined;
  if (every > 0) {
    for (let s = every; s <= lastSeq; s += every) {
      if (!signed.has(s)) { missingCheckpoint = broken(s, `its checkpoint is missing (one is signed every ${every} entries)`); break; }
    }
  }
  const heads = await store.rawHeads();
  const head = checkHead(heads, { publicKey: pub.key, keyId: pub.keyId, bySeq, lastSeq, unverifiedFrom });
  const anchors: AnchorVerified[] = [];
  let anchorFailure: Broken | undefined;
  for (const input of options.anchors ?? []) {
    const a = verifyAnchor(input, { publicKey: pub.key, keyId: pub.keyId, bySeq, lastSeq, unverifiedFrom });
    if ('ok' in a) anchorFailure = firstBroken(anchorFailure, a);
    else anchors.push(a);
  }
  const headFailure = head && 'ok' in head ? head : undefined;
  const failure = firstBroken(entryFailure, checkpointFailure, missingCheckpoint, headFailure, anchorFailure);
  if (failure) return failure;
  const headSeq = head && !('ok' in head) ? head.seq : null;
  return {
    ok: true, entries: entries.length, checkpoints: signed.size, lastSeq,
    lastCheckpointSeq: headSeq ?? (signed.size > 0 ? Math.max(...signed) : null), head: headSeq, keyId: pub.keyId, anchors,
  };
}

interface HeadContext {
  publicKey: KeyObject;
  keyId: string;
  bySeq: ReadonlyMap<number, AuditEntry>;
  lastSeq: number;
  unverifiedFrom: number;
}

/**
 * The signed head: exactly one row when the log has entries (none when it is empty), signed by the
 * verifying key, and signing the last entry. It is what catches entries deleted from the end, or
 * rewritten after the last checkpoint, or appended, by someone without the key.
 */
function checkHead(rows: readonly RawCheckpointRow[], ctx: HeadContext): AuditCheckpoint | Broken | null {
  const { lastSeq } = ctx;
  if (rows.length > 1) return broken(null, `the signed head table audit_head holds ${rows.length} rows, not one (rows were inserted)`);
  const row = rows[0];
  if (!row) {
    return lastSeq === 0 ? null : broken(null,
      'the signed head (table audit_head) is missing: it was deleted, or the log was written by an Accord version that did not sign ' +
      'its head and nothing was appended since (starting the server signs it)');
  }
  const { seq, hash, signature, keyId, at } = row;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || typeof hash !== 'string' || typeof signature !== 'string' ||
    typeof keyId !== 'string' || typeof at !== 'string') {
    return broken(null, 'the signed head (table audit_head) is malformed');
  }
  const head: AuditCheckpoint = { seq, hash, signature, keyId, at };
  if (head.keyId !== ctx.keyId) return broken(seq, `the signed head is signed by key ${head.keyId}, not by the verifying key ${ctx.keyId}`);
  if (!checkpointSignatureValid(head, ctx.publicKey)) return broken(seq, "the signed head's signature does not verify (forged or edited)");
  if (lastSeq === 0) return broken(1, `missing (the log is empty but its signed head records entry ${seq}: every entry was deleted)`);
  if (seq > lastSeq) {
    return broken(lastSeq + 1, `missing (the log ends at entry ${lastSeq} but its signed head is entry ${seq}: ` +
      `${seq === lastSeq + 1 ? `entry ${seq} was` : `entries ${lastSeq + 1} to ${seq} were`} deleted)`);
  }
  if (seq < lastSeq) {
    return broken(seq + 1, `${seq + 1 === lastSeq ? `entry ${lastSeq} comes` : `entries ${seq + 1} to ${lastSeq} come`} after the signed head (entry ${seq}): appended without the server key`);
  }
  if (seq >= ctx.unverifiedFrom) return head;
  if (ctx.bySeq.get(seq)?.hash !== head.hash) return broken(seq, 'hash does not match the signed head (rewritten after signing)');
  return head;
}
