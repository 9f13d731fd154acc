import { createHash } from 'node:crypto';

const DOMAIN = 'accord-signoff:v1';
export const NONCE_BYTES = 16;
/** Revision hashes are SHA-256 hex (server/domain/review/types.ts, Revision.hash). */
export const REVISION_HASH = /^[0-9a-f]{64}$/;

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function field(text: string): Uint8Array[] {
  const bytes = new TextEncoder().encode(text);
  return [u32(bytes.length), bytes];
}

/**
 * The sign-off challenge: base64url(SHA-256("accord-signoff:v1" || len(changeId) || changeId ||
 * u32(revision) || len(revisionHash) || revisionHash || nonce)), lengths and revision as big-endian
 * u32, strings as UTF-8. Anyone holding the receipt (which carries the nonce) can recompute it and so
 * check that the passkey's signature covers this revision hash and no other.
 */
export function signOffChallenge(changeId: string, revision: number, revisionHash: string, nonce: Uint8Array): string {
  if (nonce.length !== NONCE_BYTES) throw new Error(`nonce must be ${NONCE_BYTES} bytes`);
  const hash = createHash('sha256');
  for (const part of [new TextEncoder().encode(DOMAIN), ...field(changeId), u32(revision), ...field(revisionHash), nonce]) hash.update(part);
  return hash.digest('base64url');
}
