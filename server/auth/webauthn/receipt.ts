import { sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson, sha256Hex } from '../../domain/canonical.ts';

/** The server's signing key, as the sign-off code sees it. The lead passes the server's Ed25519 key. */
export interface ReceiptSigner {
  /** Signs `bytes`; returns the signature as a string (base64url for the Ed25519 signer below). */
  sign(bytes: Uint8Array): string;
  /** Names the key, so a verifier knows which public key to check the signature with. */
  keyId: string;
}

/** What the server attests about one accepted sign-off (everything but the signature). */
export interface SignOffReceiptBody {
  v: 1;
  changeId: string;
  revision: number;
  /** SHA-256 (hex) of the revision's canonical content, as the approver's challenge committed to it. */
  revisionHash: string;
  /** Username of the approver, and their Accord user id. */
  approver: string;
  approverId: number;
  /** base64url credential id of the passkey that signed, and its COSE public key (base64url). */
  credentialId: string;
  credentialPublicKey: string;
  /** The WebAuthn challenge the passkey signed and the 16-byte nonce (base64url) it was derived from. */
  challenge: string;
  nonce: string;
  signedAt: string;
  /** SHA-256 (hex) of the canonical JSON of the stored assertion. */
  assertionHash: string;
  keyId: string;
}

export interface SignOffReceipt extends SignOffReceiptBody {
  signature: string;
}

export { canonicalJson, sha256Hex };

const RECEIPT_DOMAIN = 'accord-receipt:v1\n';

/** The exact bytes the server signs: a domain prefix, then the canonical JSON of the body. */
export function receiptSigningBytes(receipt: SignOffReceiptBody | SignOffReceipt): Uint8Array {
  const { signature: _ignored, ...body } = receipt as SignOffReceipt;
  return new TextEncoder().encode(RECEIPT_DOMAIN + canonicalJson(body));
}

export function signReceipt(body: SignOffReceiptBody, signer: ReceiptSigner): SignOffReceipt {
  if (body.keyId !== signer.keyId) throw new Error('receipt keyId does not match the signer');
  return { ...body, signature: signer.sign(receiptSigningBytes(body)) };
}

/** A ReceiptSigner over an Ed25519 private key; signatures are base64url. */
export function ed25519Signer(privateKey: KeyObject, keyId: string): ReceiptSigner {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('ed25519Signer needs an Ed25519 private key');
  return { keyId, sign: (bytes) => sign(null, bytes, privateKey).toString('base64url') };
}

/** Checks an Ed25519 (base64url) receipt signature against the server's public key. */
export function verifyReceipt(receipt: SignOffReceipt, publicKey: KeyObject): boolean {
  if (typeof receipt.signature !== 'string') return false;
  return verify(null, receiptSigningBytes(receipt), publicKey, Buffer.from(receipt.signature, 'base64url'));
}
