/** Canonical JSON and SHA-256 for the server; the serialisation itself lives in canonical-json.ts. */
import { createHash } from 'node:crypto';

export { canonicalJson } from './canonical-json.ts';

/** SHA-256, lower-case hex; strings are hashed as UTF-8. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

