/**
 * The server's Ed25519 key pair: it signs audit checkpoints (and so, through the hash chain, every
 * audit entry before them). Stored in the data directory as `server-key.pem` (PKCS#8, mode 0600),
 * created on first use. Anyone holding this file can sign checkpoints: back it up like a credential
 * and publish its key id / public key so verifiers can pin it (docs/audit.md).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const SERVER_KEY_FILE = 'server-key.pem';

export interface ServerKey {
  privateKey: KeyObject;
  /** SubjectPublicKeyInfo, PEM. */
  publicKeyPem: string;
  /** First 16 hex characters of SHA-256 over the public key's SPKI DER. */
  keyId: string;
}

/** The key id of a public key (SPKI PEM), as printed by `accord audit verify` and stored in checkpoints. */
export function keyIdOf(publicKeyPem: string | KeyObject): string {
  const key = typeof publicKeyPem === 'string' ? createPublicKey(publicKeyPem) : publicKeyPem;
  const der = key.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

function fromPrivatePem(pem: string, path: string): ServerKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error(`${path}: not a PEM private key`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${path}: expected an ed25519 key, found ${privateKey.asymmetricKeyType ?? 'unknown'}`);
  }
  const publicKey = createPublicKey(privateKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { privateKey, publicKeyPem, keyId: keyIdOf(publicKey) };
}

/** Reads `server-key.pem` from `dataDir`; throws when it is missing or not an Ed25519 private key. */
export function loadServerKey(dataDir: string): ServerKey {
  const path = join(dataDir, SERVER_KEY_FILE);
  return fromPrivatePem(readFileSync(path, 'utf8'), path);
}

/**
 * Reads the key, or creates it when absent. Creation writes a temporary file (0600, fsynced) and
 * hard-links it into place, so a concurrent starter either wins or reads the complete winner's key.
 */
export function loadOrCreateServerKey(dataDir: string): ServerKey {
  try {
    return loadServerKey(dataDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true });
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const path = join(dataDir, SERVER_KEY_FILE);
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, pem);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  const dir = openSync(dataDir, 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  return loadServerKey(dataDir);
}
