/**
 * Blast radius of a change (DESIGN.md §2): effective(after) − effective(before) and the reverse, with the
 * same backend engine on both sides. Pure and backend-agnostic.
 *
 * Only the principals the backend names as affected are evaluated: a change to one ACL cannot alter
 * anybody else's access, and skipping them keeps large inventories fast. Both sides are evaluated on the
 * union of the before and after resources, so a resource the change introduces (a VM no line mentioned)
 * is compared against what it inherited before, not against nothing.
 *
 * The difference is computed without building a string key per row: each side is indexed as
 * principal → resource → Set<privilege>, reusing the last lookup while rows come grouped (every backend
 * emits them grouped by principal and resource), and the output is ordered by bucketing (principals,
 * then resources, then privileges, each sorted once) instead of sorting every row with joined keys.
 * The result is identical to the plain definition: the rows of one side whose (principal, resource,
 * privilege) the other side lacks, duplicates kept, ordered by `principal NUL resource NUL privilege`
 * (code units), ties in input order. `because` arrays are never touched (vSphere shares and freezes them).
 */
import type { AccessModel, Backend, BlastRadius, BlastRow, ChangeSet, CommonPrivilege, EffectiveRow } from './model.ts';
import { HIGH_RISK_PRIVILEGES } from './model.ts';

type Index = Map<string, Map<string, Set<string>>>;

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** principal → resource → privileges of `rows`. */
function indexRows(rows: readonly EffectiveRow[]): Index {
  const index: Index = new Map();
  let lastPrincipal: string | undefined;
  let lastResource: string | undefined;
  let byResource: Map<string, Set<string>> | undefined;
  let privileges: Set<string> | undefined;
  for (const r of rows) {
    if (r.principal !== lastPrincipal || byResource === undefined) {
      lastPrincipal = r.principal;
      byResource = index.get(r.principal);
      if (!byResource) index.set(r.principal, (byResource = new Map()));
      lastResource = undefined;
      privileges = undefined;
    }
    if (r.resource !== lastResource || privileges === undefined) {
      lastResource = r.resource;
      privileges = byResource.get(r.resource);
      if (!privileges) byResource.set(r.resource, (privileges = new Set()));
    }
    privileges.add(r.privilege);
  }
  return index;
}

/** principal → resource → rows of `from` absent from `other`, in input order. */
type Missing = Map<string, Map<string, EffectiveRow[]>>;

function missingFrom(from: readonly EffectiveRow[], other: Index): Missing {
  const out: Missing = new Map();
  const none: ReadonlySet<string> = new Set();
  let principal: string | undefined;
  let resource: string | undefined;
  let otherByResource: Map<string, Set<string>> | undefined;
  let otherPrivileges: ReadonlySet<string> = none;
  let outByResource: Map<string, EffectiveRow[]> | undefined;
  let outRows: EffectiveRow[] | undefined;
  for (let i = 0; i < from.length; i++) {
    const r = from[i]!;
    if (i === 0 || r.principal !== principal) {
      principal = r.principal;
      otherByResource = other.get(principal);
      outByResource = undefined;
      resource = undefined;
    }
    if (resource === undefined || r.resource !== resource) {
      resource = r.resource;
      otherPrivileges = otherByResource?.get(resource) ?? none;
      outRows = undefined;
    }
    if (otherPrivileges.has(r.privilege)) continue;
    if (!outRows) {
      if (!outByResource) {
        outByResource = out.get(principal);
        if (!outByResource) out.set(principal, (outByResource = new Map()));
      }
      outRows = outByResource.get(resource);
      if (!outRows) outByResource.set(resource, (outRows = []));
    }
    outRows.push(r);
  }
  return out;
}

/** `toCommon` once per distinct privilege; every row still gets its own `common` array. */
export function commonOf(backend: Backend): (privilege: string) => { common: readonly CommonPrivilege[]; highRisk: boolean } {
  const cache = new Map<string, { common: readonly CommonPrivilege[]; highRisk: boolean }>();
  return (privilege) => {
    let c = cache.get(privilege);
    if (!c) {
      const common = backend.toCommon(privilege);
      c = { common: [...common], highRisk: common.some((p) => HIGH_RISK_PRIVILEGES.has(p)) };
      cache.set(privilege, c);
    }
    return c;
  };
}

const joinedKey = (r: Pick<EffectiveRow, 'principal' | 'resource' | 'privilege'>): string => `${r.principal}\u0000${r.resource}\u0000${r.privilege}`;

function toBlastRow(r: EffectiveRow, common: ReturnType<typeof commonOf>): BlastRow {
  const c = common(r.privilege);
  return { principal: r.principal, resource: r.resource, privilege: r.privilege, common: c.common.slice(), highRisk: c.highRisk };
}

/** The rows of `from` absent from `other`, ordered by (principal, resource, privilege), ties in input order. */
function minus(from: readonly EffectiveRow[], other: readonly EffectiveRow[], common: ReturnType<typeof commonOf>): BlastRow[] {
  const missing = missingFrom(from, indexRows(other));
  const out: BlastRow[] = [];
  for (const principal of [...missing.keys()].sort(byCodeUnit)) {
    const byResource = missing.get(principal)!;
    for (const resource of [...byResource.keys()].sort(byCodeUnit)) {
      const rows = byResource.get(resource)!;
      if (rows.length > 1) rows.sort((a, b) => byCodeUnit(a.privilege, b.privilege)); // stable: ties keep input order
      for (const r of rows) out.push(toBlastRow(r, common));
    }
  }
  return out;
}

/**
 * Rows are identified by the NUL-joined key. The tuple (principal, resource, privilege) identifies and
 * orders them the same way unless a principal or resource itself holds a NUL (then two tuples can share
 * a key); no backend produces such names, but if one did, the plain definition is used as is.
 */
export function hasNulInKeys(rows: readonly EffectiveRow[]): boolean {
  let principal: string | undefined;
  let resource: string | undefined;
  for (const r of rows) {
    if (r.principal !== principal) {
      principal = r.principal;
      if (principal.includes('\u0000')) return true;
    }
    if (r.resource !== resource) {
      resource = r.resource;
      if (resource.includes('\u0000')) return true;
    }
  }
  return false;
}

function minusByJoinedKey(from: readonly EffectiveRow[], other: readonly EffectiveRow[], common: ReturnType<typeof commonOf>): BlastRow[] {
  const present = new Set(other.map(joinedKey));
  const kept = from.filter((r) => !present.has(joinedKey(r)));
  const keys = new Map(kept.map((r) => [r, joinedKey(r)]));
  return kept.sort((a, b) => byCodeUnit(keys.get(a)!, keys.get(b)!)).map((r) => toBlastRow(r, common));
}

/** Both sides of a change, evaluated as the blast radius defines them (also used by blast-groups.ts). */
export interface BlastSides {
  after: AccessModel;
  rowsBefore: EffectiveRow[];
  rowsAfter: EffectiveRow[];
}

/** The model after the change and the effective rows of the affected principals on both sides; null when nobody can be affected. */
export function blastSides(backend: Backend, before: AccessModel, change: ChangeSet): BlastSides | null {
  if (change.items.length === 0) return null;
  const after = backend.applyChange(before, change);
  const principals = backend.affectedPrincipals(before, change);
  if (principals.length === 0) return null;
  const resources = [...new Set([...before.resources, ...after.resources].map((r) => r.id))].sort();
  const query = { principals, resources };
  return { after, rowsBefore: backend.effective(before, query), rowsAfter: backend.effective(after, query) };
}

/** The row-level blast radius of evaluated sides. */
export function blastRadiusOfSides(backend: Backend, sides: BlastSides): BlastRadius {
  const { rowsBefore, rowsAfter } = sides;
  const common = commonOf(backend);
  if (hasNulInKeys(rowsBefore) || hasNulInKeys(rowsAfter)) {
    return { gained: minusByJoinedKey(rowsAfter, rowsBefore, common), lost: minusByJoinedKey(rowsBefore, rowsAfter, common) };
  }
  return {
    gained: minus(rowsAfter, rowsBefore, common),
    lost: minus(rowsBefore, rowsAfter, common),
  };
}

/** One row per changed (principal, resource, privilege); blast-groups.ts gives the same grouped and explained. */
export function blastRadius(backend: Backend, before: AccessModel, change: ChangeSet): BlastRadius {
  const sides = blastSides(backend, before, change);
  return sides ? blastRadiusOfSides(backend, sides) : { gained: [], lost: [] };
}
