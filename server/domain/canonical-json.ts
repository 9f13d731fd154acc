/**
 * Canonical JSON (no Node imports: the web app's evidence check runs the same code): the one serialisation every hash and signature in Accord is computed over (revision
 * and item hashes, audit entries, sign-off receipts, evidence packs).
 *
 * The hash of a revision must not depend on how a client happened to order keys or whether it wrote
 * `ticket: undefined`, so content is serialised canonically first: object keys sorted by UTF-16 code
 * units (as RFC 8785 does), no whitespace, `undefined` properties dropped, numbers in their shortest
 * ECMAScript form. Anything that has no single faithful JSON form (NaN, Infinity, bigint, functions,
 * class instances, cycles, holes or `undefined` inside arrays) is rejected rather than silently
 * coerced, because a coerced value would let two different contents share one hash.
 */

export function canonicalJson(value: unknown): string {
  return write(value, '$', new Set());
}

function write(value: unknown, path: string, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${path} is not a finite number (${value})`);
      // -0 and 0 are the same JSON number; String(-0) is already "0".
      return String(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: ${path} has a ${typeof value}, which JSON cannot hold`);
  }
  const obj = value as object;
  if (seen.has(obj)) throw new TypeError(`canonicalJson: ${path} is a cycle`);
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      const parts: string[] = [];
      for (let i = 0; i < obj.length; i++) {
        // A hole or undefined in an array has no faithful JSON form (JSON.stringify writes null).
        if (!(i in obj) || obj[i] === undefined) throw new TypeError(`canonicalJson: ${path}[${i}] is undefined`);
        parts.push(write(obj[i], `${path}[${i}]`, seen));
      }
      return `[${parts.join(',')}]`;
    }
    const proto: unknown = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`canonicalJson: ${path} is not a plain object`);
    }
    const record = obj as Record<string, unknown>;
    const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
    const parts = keys.map((k) => `${JSON.stringify(k)}:${write(record[k], `${path}.${k}`, seen)}`);
    return `{${parts.join(',')}}`;
  } finally {
    seen.delete(obj);
  }
}
