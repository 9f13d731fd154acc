/**
 * Canonical JSON and SHA-256 in the browser. The serialisation is the server's own
 * (`server/domain/canonical-json.ts`), so every hash the evidence view recomputes matches byte for byte.
 */
export { canonicalJson } from '../../server/domain/canonical-json.ts';

export function toHex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** SHA-256, lower-case hex; strings are hashed as UTF-8 (WebCrypto). */
export async function sha256Hex(data: string | Uint8Array<ArrayBuffer>): Promise<string> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return toHex(await crypto.subtle.digest('SHA-256', bytes));
}
