/**
 * Validation problems in words a person can act on (docs/api.md, "Errors"): every refusal of a payload
 * says which field (its path, `annotation.body`, `items.2.grant.principal`, which clients also use to
 * point at it) and what to do, instead of the schema library's wording ("Too big: expected string to
 * have <=10000 characters"). A message a schema wrote itself is kept. No Node imports: the web app uses it.
 */
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;

const count = (n: number | bigint): string => Number(n).toLocaleString('en-US');
const plural = (n: number | bigint, one: string, many = `${one}s`): string => `${count(n)} ${Number(n) === 1 ? one : many}`;

/** What a limit counts, by the kind of value the schema checked. */
function unitOf(origin: string, n: number | bigint): string {
  if (origin === 'string') return plural(n, 'character');
  if (origin === 'array' || origin === 'set') return plural(n, 'entry', 'entries');
  if (origin === 'file') return plural(n, 'byte');
  return count(n);
}

/** zod's own wording, as opposed to a message the schema set (which is kept as written). */
const LIBRARY_WORDING = /^(Too small|Too big|Invalid input|Invalid option|Invalid string|Invalid format|Invalid element|Invalid key|Invalid value|Unrecognized keys?|Invalid)\b/;

function words(issue: Issue, input?: unknown): string {
  switch (issue.code) {
    case 'too_small': {
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'is empty: write something';
      if (issue.origin === 'array' && Number(issue.minimum) === 1) return 'is empty: give at least one entry';
      const bound = issue.inclusive === false ? 'more than' : 'at least';
      return issue.origin === 'string' || issue.origin === 'array' || issue.origin === 'set'
        ? `is too short: give ${bound} ${unitOf(issue.origin, issue.minimum as number)}`
        : `is too small: give ${bound} ${count(issue.minimum as number)}`;
    }
    case 'too_big': {
      const bound = issue.inclusive === false ? 'less than' : 'at most';
      const size = typeof input === 'string' ? ` (this one has ${plural(input.length, 'character')})` : Array.isArray(input) ? ` (this one has ${plural(input.length, 'entry', 'entries')})` : '';
      return issue.origin === 'string' || issue.origin === 'array' || issue.origin === 'set'
        ? `is too long: ${bound} ${unitOf(issue.origin, issue.maximum as number)}${size}; shorten it`
        : `is too large: ${bound} ${count(issue.maximum as number)}`;
    }
    case 'invalid_type':
      return input === undefined ? `is missing: give a ${issue.expected}` : `must be a ${issue.expected}, not ${input === null ? 'null' : Array.isArray(input) ? 'a list' : `a ${typeof input}`}`;
    case 'unrecognized_keys':
      return `has ${issue.keys.length === 1 ? 'a field' : 'fields'} Accord does not know: ${issue.keys.map((k) => `"${k}"`).join(', ')}; remove ${issue.keys.length === 1 ? 'it' : 'them'} (check the spelling)`;
    case 'invalid_value':
      return `must be ${issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`}`;
    case 'invalid_format':
      return `is not a valid ${issue.format === 'regex' ? 'value here' : issue.format}`;
    case 'invalid_union':
      return 'does not match any of the accepted forms';
    default:
      return 'is not valid here';
  }
}

/** The value at `path` inside `root`, when it can be read (for sizes in the message). */
function at(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || typeof key === 'symbol') return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

/** One problem: `path: what is wrong and what to do` (`(body)` when the whole payload is wrong). */
export function describeIssue(issue: Issue, root?: unknown, whole = '(body)'): string {
  const path = issue.path.length > 0 ? issue.path.map(String).join('.') : whole;
  // A message the schema wrote itself already says it in words (and names its own field when it must).
  if (!LIBRARY_WORDING.test(issue.message)) return `${path}: ${issue.message}`;
  return `${path}: ${words(issue, at(root, issue.path))}`;
}

/** Every problem of a failed parse, in words; `root` is what was parsed (for sizes). */
export function describeIssues(error: z.ZodError, root?: unknown, whole = '(body)'): string[] {
  return error.issues.map((issue) => describeIssue(issue, root, whole));
}
