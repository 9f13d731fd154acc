import type { KeyObject } from 'node:crypto';
import { webauthn } from './lazy.ts';
import { signOffChallenge } from './challenge.ts';
import { canonicalJson, sha256Hex, verifyReceipt, type SignOffReceipt } from './receipt.ts';
import { parseAssertion, storedAssertion } from './response.ts';

export interface EvidenceCheck {
  receipt: SignOffReceipt;
  /** The `assertion` column of the sign-off (canonical JSON text). */
  assertion: string;
  /** The server's Ed25519 public key for `receipt.keyId`. */
  serverPublicKey: KeyObject;
  origin: string | string[];
  rpID: string;
}

/**
 * Checks a stored sign-off offline, without the database: the server's receipt signature, that the
 * assertion is the one the receipt hashes, that the challenge commits to the receipt's revision hash,
 * and that the approver's passkey signed that challenge. Returns the problems found (empty = valid).
 */
export async function verifySignOffEvidence(check: EvidenceCheck): Promise<string[]> {
  const { receipt } = check;
  const problems: string[] = [];
  if (!verifyReceipt(receipt, check.serverPublicKey)) problems.push('receipt signature does not verify with the server key');
  if (sha256Hex(check.assertion) !== receipt.assertionHash) problems.push('assertion does not match the receipt assertionHash');
  const nonce = Buffer.from(receipt.nonce, 'base64url');
  let commitment: string | undefined;
  try {
    commitment = signOffChallenge(receipt.changeId, receipt.revision, receipt.revisionHash, nonce);
  } catch (err) {
    problems.push(`cannot recompute the challenge: ${(err as Error).message}`);
  }
  if (commitment !== undefined && commitment !== receipt.challenge) problems.push('challenge does not commit to the receipt revision hash');
  try {
    const assertion = parseAssertion(JSON.parse(check.assertion));
    if (canonicalJson(storedAssertion(assertion)) !== check.assertion) problems.push('assertion is not in canonical form');
    if (assertion.id !== receipt.credentialId) problems.push('assertion was made by another credential than the receipt names');
    const result = await (await webauthn()).verifyAuthenticationResponse({
      response: assertion,
      expectedChallenge: commitment ?? receipt.challenge,
      expectedOrigin: check.origin,
      expectedRPID: check.rpID,
      // Counter 0: the signature counter is checked live, at sign-off; offline only the signature counts.
      credential: { id: receipt.credentialId, publicKey: new Uint8Array(Buffer.from(receipt.credentialPublicKey, 'base64url')), counter: 0 },
      requireUserVerification: true,
    });
    if (!result.verified) problems.push('passkey signature does not verify');
  } catch (err) {
    problems.push(`passkey assertion does not verify: ${(err as Error).message}`);
  }
  return problems;
}
