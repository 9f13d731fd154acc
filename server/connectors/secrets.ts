/**
 * Target secrets at rest: AES-256-GCM under `target-key.bin` in the data directory (32 random bytes, mode
 * 0600, created on first use). The database holds only `v1.<iv>.<tag>.<ciphertext>` (base64url), so a
 * database dump or `db copy` never carries a usable credential without the key file. The target's name is
 * the additional authenticated data: a secret moved to another target's row does not decrypt.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, existsSync, linkSync, openSync, readFileSync, unlinkSync, writeSync, fsyncSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const TARGET_KEY_FILE = 'target-key.bin';

export class TargetSecrets {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error(`${TARGET_KEY_FILE}: expected 32 bytes, found ${key.length}`);
    this.#key = key;
  }

  /** Loads the data directory's key, creating it (exclusively, so two processes agree) when absent. */
  static open(dataDir: string): TargetSecrets {
    const path = join(dataDir, TARGET_KEY_FILE);
    if (!existsSync(path)) {
      mkdirSync(dataDir, { recursive: true });
      const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        writeSync(fd, randomBytes(32));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      try {
        linkSync(tmp, path); // fails when another process won the race: use its key
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        unlinkSync(tmp);
      }
    }
    return new TargetSecrets(readFileSync(path));
  }

  seal(target: string, secrets: Record<string, string>): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(`accord-target:${target}`));
    const body = Buffer.concat([cipher.update(JSON.stringify(secrets), 'utf8'), cipher.final()]);
    const b = (x: Buffer): string => x.toString('base64url');
    return `v1.${b(iv)}.${b(cipher.getAuthTag())}.${b(body)}`;
  }

  open(target: string, sealed: string): Record<string, string> {
    const [v, iv, tag, body] = sealed.split('.');
    if (v !== 'v1' || !iv || !tag || body === undefined) throw new Error(`target ${target}: stored secrets are not in a known format`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(`accord-target:${target}`));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const text = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
      return JSON.parse(text) as Record<string, string>;
    } catch {
      throw new Error(`target ${target}: its secrets do not decrypt with ${TARGET_KEY_FILE} (a different data directory's key?)`);
    }
  }
}
