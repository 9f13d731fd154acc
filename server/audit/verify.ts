/**
 * Verification of the audit trail in a database (docs/audit.md); exported evidence packs are verified by
 * verify-pack.ts. Both report the first broken entry.
 */
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { broken, checkCheckpoint, firstBroken, verifyEntries } from './chain.ts';
import type { Broken, RawEntry } from './chain.ts';
import { DEFAULT_CHECKPOINT_EVERY } from './entry.ts';
import { keyIdOf } from './server-key.ts';

export interface Verified {
  ok: true;
  /** Number of entries verified. */
  entries: number;
  /** Number of checkpoints verified. */
  checkpoints: number;
  /** The last entry's seq (0 for an empty log). */
  lastSeq: number;
  /** The last signed entry (null when nothing is signed yet); entries after it rest on the chain alone. */
  lastCheckpointSeq: number | null;
  keyId: string;
}

export type VerifyResult = Verified | Broken;
export type { Broken } from './chain.ts';

export interface VerifyOptions {
  /** Require a checkpoint at every multiple of this seq (default 100, as AuditLog writes them); 0 disables. */
  checkpointEvery?: number;
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

/** Verifies every entry and checkpoint in the database against the server's public key. */
export function verifyAudit(db: DatabaseSync, publicKeyPem: string, options: VerifyOptions = {}): VerifyResult {
  const pub = publicKeyFrom(publicKeyPem);
  if ('ok' in pub) return pub;
  const raws = db.prepare('SELECT seq, at, actor, action, subject, outcome, detail, prev_hash AS prevHash, hash FROM audit_log ORDER BY seq').all() as unknown as RawEntry[];
  const { entries, failure: entryFailure } = verifyEntries(raws, true, 1);
  // Checkpoints are judged against the entries that verified; past a failure only lower seqs matter.
  const bySeq = new Map(entries.map((e) => [e.seq, e]));
  const lastRaw = raws.at(-1);
  const lastSeq = typeof lastRaw?.seq === 'number' ? lastRaw.seq : 0;
  const rows = db.prepare('SELECT seq, hash, signature, key_id AS keyId, at FROM audit_checkpoints ORDER BY seq').all() as Record<string, unknown>[];
  let checkpointFailure: Broken | undefined;
  const signed = new Set<number>();
  for (const row of rows) {
    if (entryFailure && typeof row.seq === 'number' && entryFailure.seq !== null && row.seq >= entryFailure.seq) break;
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
  const failure = firstBroken(entryFailure, checkpointFailure, missingCheckpoint);
  if (failure) return failure;
  const lastSigned = signed.size > 0 ? Math.max(...signed) : null;
  return { ok: true, entries: entries.length, checkpoints: signed.size, lastSeq, lastCheckpointSeq: lastSigned, keyId: pub.keyId };
}


