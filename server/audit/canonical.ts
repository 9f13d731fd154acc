/**
 * Canonical JSON for the audit trail: object keys sorted by UTF-16 code unit order, no whitespace,
 * strings and numbers as JSON.stringify writes them. `undefined` object members are dropped (as JSON does);
 * anything JSON cannot represent faithfully (NaN, Infinity, bigint, functions, symbols, undefined
 * at the top or in an array) is refused rather than silently changed, because a hash over it could
 * not be recomputed from the stored text.
 *
 * Kept inside server/audit/ on purpose: the audit format must not change when another module's
 * canonical form does.
 */
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

function write(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: ${path} is not a finite number`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((v, i) => {
          if (v === undefined) throw new TypeError(`canonical JSON: ${path}[${i}] is undefined`);
          return write(v, `${path}[${i}]`);
        }).join(',')}]`;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`canonical JSON: ${path} is not a plain object`);
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${write(record[k], `${path}.${k}`)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON: ${path} is a ${typeof value}`);
  }
}

/** SHA-256 of a UTF-8 string, lower-case hex. */
export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}
