/**
 * The audit entry and checkpoint formats and their hashes: the one definition shared by the writer
 * (audit-log.ts) and the verifiers (verify.ts). Changing anything here changes every hash: don't.
 */
import { sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { canonicalJson, sha256Hex } from './canonical.ts';

export type AuditOutcome = 'ok' | 'refused';

export interface AuditEntryInput {
  /** Who acted: an Accord username, or `system` for the server itself. */
  actor: string;
  /** What was attempted, e.g. `vote`, `revision.submit`, `signoff`, `evidence.export`. */
  action: string;
  /** What it was done to, usually a change id. */
  subject: string;
  outcome: AuditOutcome;
  /** Any JSON value (canonicalised; stored as canonical JSON text). Absent = null. */
  detail?: unknown;
}

export interface AuditEntry {
  /** 1, 2, 3... contiguous across the whole log. */
  seq: number;
  /** ISO 8601 UTC; never earlier than the previous entry's. */
  at: string;
  actor: string;
  action: string;
  subject: string;
  outcome: AuditOutcome;
  detail: unknown;
  /** Hash of entry seq - 1 (GENESIS_HASH for entry 1). */
  prevHash: string;
  /** SHA-256 hex over the canonical JSON of every field above (see entryHash). */
  hash: string;
}

export interface AuditCheckpoint {
  /** The entry whose hash is signed. */
  seq: number;
  hash: string;
  /** Ed25519 signature (base64) over checkpointMessage(seq, hash, keyId, at). */
  signature: string;
  keyId: string;
  at: string;
}

/** prev_hash of entry 1. */
export const GENESIS_HASH = '0'.repeat(64);

/** Sign a checkpoint every this many entries (and on demand). Verification expects one at each multiple. */
export const DEFAULT_CHECKPOINT_EVERY = 100;

export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  return sha256Hex(canonicalJson({
    seq: e.seq, at: e.at, actor: e.actor, action: e.action, subject: e.subject,
    outcome: e.outcome, detail: e.detail ?? null, prevHash: e.prevHash,
  }));
}

/** The exact bytes a checkpoint signature covers: domain-separated, binds position, hash, key and time. */
export function checkpointMessage(c: Omit<AuditCheckpoint, 'signature'>): Buffer {
  return Buffer.from(canonicalJson({ type: 'accord-audit-checkpoint/1', seq: c.seq, hash: c.hash, keyId: c.keyId, at: c.at }), 'utf8');
}

export function signCheckpoint(c: Omit<AuditCheckpoint, 'signature'>, privateKey: KeyObject): AuditCheckpoint {
  return { ...c, signature: sign(null, checkpointMessage(c), privateKey).toString('base64') };
}

/** True when the checkpoint's signature verifies under `publicKey` (false for malformed signatures). */
export function checkpointSignatureValid(c: AuditCheckpoint, publicKey: KeyObject): boolean {
  const bytes = Buffer.from(c.signature, 'base64');
  if (bytes.toString('base64') !== c.signature) return false;
  try {
    return verify(null, checkpointMessage(c), publicKey, bytes);
  } catch {
    return false;
  }
}
