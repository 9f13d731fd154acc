/**
 * Accord's own polkit rules file: ES5 only (Debian 12's polkitd 122 runs duktape, which silently drops
 * files with ES2015 syntax), grants carried as a data array with a fixed evaluator, so the file is both
 * what polkitd runs and what Accord reads back.
 */
import { z } from 'zod';
import type { Grant } from '../../domain/access/model.ts';
import { AccessInputError, COMMON_PRIVILEGES } from '../../domain/access/model.ts';
import { API_PREFIX } from './actions.ts';
import { groupId, userId } from './inventory.ts';
import { nativeScope, resourceTarget } from './scope.ts';

export const ACCORD_MARKER = '// accord:libvirt-rules v1';
export const DEFAULT_ACCORD_FILE = '/etc/polkit-1/rules.d/50-accord.rules';

const Entry = z.object({
  id: z.string().min(1),
  user: z.string().optional(),
  group: z.string().optional(),
  resource: z.string(),
  propagate: z.boolean(),
  privileges: z.array(z.enum(COMMON_PRIVILEGES)).optional(),
  role: z.string().optional(),
  effect: z.enum(['allow', 'deny']),
  expiresAt: z.string().optional(),
  expires: z.number().nullable(),
  actions: z.array(z.string()),
  match: z.record(z.string(), z.string()),
  result: z.enum(['yes', 'no']),
}).refine((e) => (e.user === undefined) !== (e.group === undefined), 'exactly one of user, group');
type Entry = z.infer<typeof Entry>;

const HEAD = [
  ACCORD_MARKER,
  '// Managed by Accord. Hand edits make Accord treat this file as foreign rules.',
  '// First matching entry wins (deny entries come first); no match falls through to later files.',
  '(function () {',
  '  var GRANTS = [',
];
const TAIL = [
  '  ];',
  '  function matches(g, action, subject, now) {',
  '    if (g.expires !== null && now >= g.expires) return false;',
  '    if (g.user !== undefined) { if (subject.user !== g.user) return false; }',
  '    else if (!subject.isInGroup(g.group)) return false;',
  '    if (g.actions.indexOf(action.id) < 0) return false;',
  '    for (var k in g.match) {',
  '      if (Object.prototype.hasOwnProperty.call(g.match, k) && action.lookup(k) !== g.match[k]) return false;',
  '    }',
  '    return true;',
  '  }',
  '  polkit.addRule(function (action, subject) {',
  `    if (action.id.indexOf("${API_PREFIX}") !== 0) return null;`,
  '    var now = new Date().getTime();',
  '    for (var i = 0; i < GRANTS.length; i++) {',
  '      if (matches(GRANTS[i], action, subject, now)) return GRANTS[i].result === "yes" ? polkit.Result.YES : polkit.Result.NO;',
  '    }',
  '    return null;',
  '  });',
  '})();',
  '',
];

/** Deny entries first, each group in model order: within Accord's file a deny always wins. */
export function orderGrants<T extends Pick<Grant, 'effect'>>(grants: readonly T[]): T[] {
  return [...grants.filter((g) => g.effect === 'deny'), ...grants.filter((g) => g.effect === 'allow')];
}

function principalName(principal: string): { user: string } | { group: string } {
  if (principal.startsWith('unix-user:')) return { user: principal.slice('unix-user:'.length) };
  if (principal.startsWith('unix-group:')) return { group: principal.slice('unix-group:'.length) };
  throw new AccessInputError(`not a unix principal: ${principal}`);
}

export function expiryMs(expiresAt: string | undefined): number | null {
  if (expiresAt === undefined) return null;
  const ms = Date.parse(expiresAt);
  if (Number.isNaN(ms)) throw new AccessInputError(`invalid expiresAt: ${expiresAt}`);
  return ms;
}

function toEntry(g: Grant, known: readonly string[]): Entry {
  const scope = nativeScope(g, known);
  return {
    id: g.id, ...principalName(g.principal), resource: g.resource, propagate: g.propagate,
    ...(g.privileges !== undefined ? { privileges: g.privileges } : {}),
    ...(g.role !== undefined ? { role: g.role } : {}),
    effect: g.effect,
    ...(g.expiresAt !== undefined ? { expiresAt: g.expiresAt } : {}),
    expires: expiryMs(g.expiresAt),
    actions: scope.actions.map((a) => API_PREFIX + a),
    match: scope.match,
    result: g.effect === 'allow' ? 'yes' : 'no',
  };
}

/** JSON is ES5 except for U+2028/U+2029 inside strings. */
const es5Json = (v: unknown): string => JSON.stringify(v).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/** The grants a fleet host's Accord file carries: those on its resources and those on the fleet root `/`. */
export function grantsOnHost<T extends Pick<Grant, 'resource'>>(grants: readonly T[], host: string): T[] {
  return grants.filter((g) => {
    const h = resourceTarget(g.resource).host;
    return h === undefined || h === host;
  });
}

/**
 * The full rules file text for these grants; `known` lists the native actions the policy declares. On a
 * fleet, give `host`: the file then carries only that host's grants (`grantsOnHost`).
 */
export function renderRulesFile(grants: readonly Grant[], known: readonly string[], host?: string): string {
  const entries = orderGrants(host === undefined ? grants : grantsOnHost(grants, host)).map((g, i, all) => `    ${es5Json(toEntry(g, known))}${i < all.length - 1 ? ',' : ''}`);
  return [...HEAD, ...entries, ...TAIL].join('\n');
}

export const isAccordRulesFile = (text: string): boolean => text.startsWith(ACCORD_MARKER);

/** Recover the grants of an Accord rules file; provenance points at each entry's line. */
export function parseRulesFile(text: string, file: string): Grant[] {
  const lines = text.split('\n');
  const start = lines.indexOf(HEAD[HEAD.length - 1] ?? '');
  const end = lines.indexOf(TAIL[0] ?? '', start);
  if (!isAccordRulesFile(text) || start < 0 || end < 0) throw new AccessInputError('not an Accord rules file', { file });
  const grants: Grant[] = [];
  for (let i = start + 1; i < end; i++) {
    const line = (lines[i] ?? '').trim().replace(/,$/, '');
    let parsed;
    try {
      parsed = Entry.safeParse(JSON.parse(line));
    } catch {
      throw new AccessInputError('unreadable grant entry', { file, line: i + 1 });
    }
    if (!parsed.success) throw new AccessInputError(`invalid grant entry: ${parsed.error.issues[0]?.message ?? ''}`, { file, line: i + 1 });
    const e = parsed.data;
    grants.push({
      id: e.id, principal: e.user !== undefined ? userId(e.user) : groupId(e.group ?? ''),
      ...(e.role !== undefined ? { role: e.role } : {}),
      ...(e.privileges !== undefined ? { privileges: e.privileges } : {}),
      resource: e.resource, propagate: e.propagate, effect: e.effect,
      ...(e.expiresAt !== undefined ? { expiresAt: e.expiresAt } : {}),
      provenance: { file, line: i + 1 },
    });
  }
  return grants;
}
