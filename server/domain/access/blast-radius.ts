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
 *
 * Compact path (issue 22): when the backend's rows are the expansion of its compact table (Proxmox,
 * vSphere: `compactEffectiveOf`), both sides are asked as compact tables and compared cell by cell
 * (`diffCompact`): per affected principal, the two cell lists are merged by resource, and what changes
 * between a before set and an after set is computed once per pair of sets. Rows are built only for what
 * differs. The row path (`blastRadiusByRows`) stays as the reference and for the other backends.
 */
import type { AccessModel, Backend, BlastRadius, BlastRow, ChangeSet, CommonPrivilege, EffectiveQuery, EffectiveRow } from './model.ts';
import { HIGH_RISK_PRIVILEGES } from './model.ts';
import { compactEffectiveOf, EMPTY_SET, expand, NO_CELLS, setOf } from './compact.ts';
import type { Cells, CompactTable, PrivilegeSet } from './compact.ts';

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

/** What the blast radius evaluates: the model after the change and the query (affected principals, both sides' resources). */
interface Prepared {
  after: AccessModel;
  query: EffectiveQuery & { principals: readonly string[]; resources: readonly string[] };
}

function prepare(backend: Backend, before: AccessModel, change: ChangeSet): Prepared | null {
  if (change.items.length === 0) return null;
  const after = backend.applyChange(before, change);
  const principals = backend.affectedPrincipals(before, change);
  if (principals.length === 0) return null;
  return { after, query: { principals, resources: resourceIds(before, after) } };
}

/** The ids of both models' resources, distinct, sorted by code unit (a merge when both lists are sorted already). */
function resourceIds(before: AccessModel, after: AccessModel): string[] {
  const a = before.resources.map((r) => r.id);
  if (after.resources === before.resources && strictlySorted(a)) return a;
  const b = after.resources.map((r) => r.id);
  if (!strictlySorted(a) || !strictlySorted(b)) return [...new Set([...a, ...b])].sort();
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i]! < b[j]!) out.push(a[i++]!);
    else if (b[j]! < a[i]!) out.push(b[j++]!);
    else {
      out.push(a[i++]!);
      j++;
    }
  }
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

/** Both sides of a change, evaluated as the blast radius defines them (also used by blast-groups.ts). */
export interface BlastSides {
  after: AccessModel;
  rowsBefore: EffectiveRow[];
  rowsAfter: EffectiveRow[];
}

/** The model after the change and the effective rows of the affected principals on both sides; null when nobody can be affected. */
export function blastSides(backend: Backend, before: AccessModel, change: ChangeSet): BlastSides | null {
  const p = prepare(backend, before, change);
  return p && { after: p.after, rowsBefore: backend.effective(before, p.query), rowsAfter: backend.effective(p.after, p.query) };
}

/** Both sides as compact tables, for a backend whose rows are its compact table expanded. */
export interface CompactSides {
  after: AccessModel;
  tableBefore: CompactTable;
  tableAfter: CompactTable;
}

/** Evaluated sides: compact tables when the backend computes them natively (`compactEffectiveOf`), else rows. */
export type EvaluatedSides = { compact: CompactSides } | { rows: BlastSides };

export function evaluateSides(backend: Backend, before: AccessModel, change: ChangeSet): EvaluatedSides | null {
  const compact = compactEffectiveOf(backend);
  const p = prepare(backend, before, change);
  if (!p) return null;
  if (!compact) return { rows: { after: p.after, rowsBefore: backend.effective(before, p.query), rowsAfter: backend.effective(p.after, p.query) } };
  return { compact: { after: p.after, tableBefore: compact(before, p.query), tableAfter: compact(p.after, p.query) } };
}

/** The row form of compact sides (`effective()` on both sides, as the backend defines it). */
export function rowsOfSides(sides: CompactSides): BlastSides {
  return { after: sides.after, rowsBefore: expand(sides.tableBefore), rowsAfter: expand(sides.tableAfter) };
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

// ---------------------------------------------------------------------------------------------------
// The difference of two compact tables.

/**
 * What changes on a cell holding `before` on one side and `after` on the other (either may be empty):
 * `after`'s privileges `before` lacks, and the reverse, both sorted. One object per pair of sets.
 */
export interface SetChange {
  readonly before: PrivilegeSet;
  readonly after: PrivilegeSet;
  readonly gained: readonly string[];
  readonly lost: readonly string[];
}

/** One principal's changed cells: `ranks[k]` (positions in `CompactDiff.resources`, ascending) change as `changes[k]`. */
export interface PrincipalChanges {
  readonly changes: readonly SetChange[];
  readonly ranks: readonly Uint32Array[];
}

export interface CompactDiff {
  /** The resources of both tables, distinct and sorted by code unit; a rank is a position here. */
  readonly resources: readonly string[];
  /** Principals with at least one changed cell, sorted by code unit. */
  readonly principals: readonly string[];
  /** Parallel to `principals`. Principals whose cells are the same objects on both sides share one. */
  readonly changes: readonly PrincipalChanges[];
}

/** Is every id sorted by code unit and distinct? */
function strictlySorted(ids: readonly string[]): boolean {
  for (let i = 1; i < ids.length; i++) if (!(ids[i - 1]! < ids[i]!)) return false;
  return true;
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Resource positions of both tables mapped to ranks in their sorted union. */
function unifyResources(before: readonly string[], after: readonly string[]): { resources: readonly string[]; rankBefore: Uint32Array; rankAfter: Uint32Array; ascending: boolean } {
  const same = sameIds(before, after);
  if (same && strictlySorted(before)) {
    const identity = new Uint32Array(before.length);
    for (let i = 0; i < identity.length; i++) identity[i] = i;
    return { resources: before, rankBefore: identity, rankAfter: identity, ascending: true };
  }
  // Default sort compares strings by UTF-16 code units, the order the blast radius uses.
  const resources = [...new Set(same ? before : [...before, ...after])].sort();
  const rank = new Map<string, number>();
  for (let i = 0; i < resources.length; i++) rank.set(resources[i]!, i);
  const ranks = (ids: readonly string[]): Uint32Array => Uint32Array.from(ids, (id) => rank.get(id)!);
  const rankBefore = ranks(before);
  return { resources, rankBefore, rankAfter: same ? rankBefore : ranks(after), ascending: false };
}

/** Sorted (code units) distinct union of two principal lists. */
function unionSorted(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}

/**
 * Privilege lists compared by content across two tables: each set gets the id of its privilege list
 * (`because` aside), interned over both tables, so equal privileges compare as equal numbers.
 */
class PrivilegeLists {
  readonly #ids = new Map<string, number>([['[]', 0]]);

  /** Per set id of `sets`, its list id, filled in as asked (-1: not yet; the empty set 0 is 0). */
  table(sets: readonly PrivilegeSet[]): Int32Array {
    const out = new Int32Array(sets.length).fill(-1);
    out[0] = 0;
    return out;
  }

  id(s: PrivilegeSet): number {
    if (s.privileges.length === 0) return 0;
    const key = JSON.stringify(s.privileges);
    let id = this.#ids.get(key);
    if (id === undefined) this.#ids.set(key, (id = this.#ids.size));
    return id;
  }
}

/** What changes between two privilege sets, or null when their privileges are the same. */
function setChange(before: PrivilegeSet, after: PrivilegeSet): SetChange | null {
  const has = (s: PrivilegeSet) => new Set(s.privileges);
  const inBefore = has(before);
  const inAfter = has(after);
  const gained = after.privileges.filter((p) => !inBefore.has(p));
  const lost = before.privileges.filter((p) => !inAfter.has(p));
  if (gained.length === 0 && lost.length === 0) return null;
  return { before, after, gained: gained.sort(byCodeUnit), lost: lost.sort(byCodeUnit) };
}

/**
 * The changed cells of the principals of two compact tables (the affected principals before and after
 * a change). Per principal, the before cells are laid out by resource rank, the after cells compared
 * against them, and the before cells left over are losses. Set pairs are compared once: by privilege
 * list ids first (equal lists: nothing changes), then by `setChange`, memoised per pair.
 */
export function diffCompact(before: CompactTable, after: CompactTable): CompactDiff {
  const { resources, rankBefore, rankAfter, ascending } = unifyResources(before.resources, after.resources);
  const lists = new PrivilegeLists();
  const listBefore = lists.table(before.sets);
  const listAfter = lists.table(after.sets);
  const listOf = (ids: Int32Array, sets: readonly PrivilegeSet[], s: number): number => {
    let id = ids[s]!;
    if (id < 0) ids[s] = id = lists.id(sets[s]!);
    return id;
  };
  const pairs = new Map<number, Map<number, SetChange | null>>();
  let lastB = -1;
  let lastA = -1;
  let lastChange: SetChange | null = null;
  const changeOf = (sb: number, sa: number): SetChange | null => {
    if (sb === lastB && sa === lastA) return lastChange;
    let change: SetChange | null = null;
    if (listOf(listBefore, before.sets, sb) !== listOf(listAfter, after.sets, sa)) {
      let byAfter = pairs.get(sb);
      if (!byAfter) pairs.set(sb, (byAfter = new Map()));
      const known = byAfter.get(sa);
      if (known !== undefined) change = known;
      else byAfter.set(sa, (change = setChange(before.sets[sb] ?? EMPTY_SET, after.sets[sa] ?? EMPTY_SET)));
    }
    lastB = sb;
    lastA = sa;
    lastChange = change;
    return change;
  };

  /** Collects one principal's changed cells by change, as ranks. */
  class Collector {
    readonly changes: SetChange[] = [];
    readonly ranks: number[][] = [];
    /** Index in `changes` of a change, or -1 when the pair of sets changes nothing. */
    indexOf(change: SetChange | null): number {
      if (!change) return -1;
      let k = this.changes.indexOf(change);
      if (k < 0) {
        k = this.changes.push(change) - 1;
        this.ranks.push([]);
      }
      return k;
    }
    /** `sorted`: the ranks came in ascending order. */
    done(sorted: boolean): PrincipalChanges | null {
      if (this.changes.length === 0) return null;
      return { changes: this.changes, ranks: this.ranks.map((rs) => (sorted ? Uint32Array.from(rs) : Uint32Array.from(rs).sort())) };
    }
  }

  // Shared positions: both cell lists are ascending by position, merged in one pass; what a pair of
  // palette codes changes is looked up in a small table per principal (code 0: no cell on that side).
  // When positions are not in rank order (vSphere: topological), each changed cell's change is noted at
  // its rank and the ranks are read back in order, instead of sorting each list.
  const shared = rankBefore === rankAfter;
  let pairTable = new Int32Array(0);
  const changeAtRank = new Int32Array(resources.length);
  const rankStamp = new Uint32Array(resources.length);
  let rankGeneration = 0;
  const mergeCells = (cb: Cells, ca: Cells): PrincipalChanges | null => {
    const out = new Collector();
    const nb = cb.resources.length;
    const na = ca.resources.length;
    const width = ca.palette.length + 1;
    const size = (cb.palette.length + 1) * width;
    // Palettes are small (a code is usually a byte); a table larger than the cells is kept in a map.
    const byMap = size > 4096 && size > 2 * (nb + na) ? new Map<number, number>() : undefined;
    if (!byMap) {
      if (pairTable.length < size) pairTable = new Int32Array(Math.max(size, pairTable.length * 2));
      pairTable.fill(-2, 0, size); // -2: not looked up yet
    }
    const gen = ++rankGeneration;
    const counts: number[] = [];
    let low = resources.length;
    let high = -1;
    let i = 0;
    let j = 0;
    while (i < nb || j < na) {
      const pb = i < nb ? cb.resources[i]! : Infinity;
      const pa = j < na ? ca.resources[j]! : Infinity;
      let kb = 0;
      let ka = 0;
      let position: number;
      if (pb === pa) {
        kb = cb.codes[i++]! + 1;
        ka = ca.codes[j++]! + 1;
        position = pa;
      } else if (pb < pa) {
        kb = cb.codes[i++]! + 1;
        position = pb;
      } else {
        ka = ca.codes[j++]! + 1;
        position = pa;
      }
      const t = kb * width + ka;
      let k = byMap ? (byMap.get(t) ?? -2) : pairTable[t]!;
      if (k === -2) {
        k = out.indexOf(changeOf(kb === 0 ? 0 : cb.palette[kb - 1]!, ka === 0 ? 0 : ca.palette[ka - 1]!));
        if (byMap) byMap.set(t, k);
        else pairTable[t] = k;
        while (counts.length < out.changes.length) counts.push(0);
      }
      if (k < 0) continue;
      const r = rankAfter[position]!;
      if (ascending) out.ranks[k]!.push(r);
      else {
        changeAtRank[r] = k;
        rankStamp[r] = gen;
        counts[k]!++;
        if (r < low) low = r;
        if (r > high) high = r;
      }
    }
    if (ascending || out.changes.length === 0) return out.done(true);
    const lists = counts.map((n) => new Uint32Array(n));
    const fill = new Array<number>(counts.length).fill(0);
    for (let r = low; r <= high; r++) {
      if (rankStamp[r] !== gen) continue;
      const k = changeAtRank[r]!;
      lists[k]![fill[k]!++] = r;
    }
    return { changes: out.changes, ranks: lists };
  };

  // Different resources: the before cells are laid out by rank, the after cells compared against them,
  // and the before cells left over are losses.
  const stamp = new Uint32Array(resources.length);
  const setAt = new Uint32Array(resources.length);
  let generation = 0;
  const scatterCells = (cb: Cells, ca: Cells): PrincipalChanges | null => {
    const gen = ++generation;
    for (let i = 0; i < cb.resources.length; i++) {
      const r = rankBefore[cb.resources[i]!]!;
      stamp[r] = gen;
      setAt[r] = setOf(cb, i);
    }
    const out = new Collector();
    for (let j = 0; j < ca.resources.length; j++) {
      const r = rankAfter[ca.resources[j]!]!;
      let sb = 0;
      if (stamp[r] === gen) {
        sb = setAt[r]!;
        stamp[r] = 0; // seen
      }
      const k = out.indexOf(changeOf(sb, setOf(ca, j)));
      if (k >= 0) out.ranks[k]!.push(r);
    }
    for (let i = 0; i < cb.resources.length; i++) {
      const r = rankBefore[cb.resources[i]!]!;
      if (stamp[r] !== gen) continue;
      const k = out.indexOf(changeOf(setAt[r]!, 0));
      if (k >= 0) out.ranks[k]!.push(r);
    }
    return out.done(false);
  };
  const diffCells = shared ? mergeCells : scatterCells;

  const cellsBefore = new Map(before.principals.map((p, k) => [p, before.cells[k]!]));
  const cellsAfter = new Map(after.principals.map((p, k) => [p, after.cells[k]!]));
  const memo = new Map<Cells, Map<Cells, PrincipalChanges | null>>();
  const principals: string[] = [];
  const changes: PrincipalChanges[] = [];
  for (const principal of unionSorted(before.principals, after.principals)) {
    const cb = cellsBefore.get(principal) ?? NO_CELLS;
    const ca = cellsAfter.get(principal) ?? NO_CELLS;
    let byAfter = memo.get(cb);
    if (!byAfter) memo.set(cb, (byAfter = new Map()));
    let pc = byAfter.get(ca);
    if (pc === undefined) byAfter.set(ca, (pc = diffCells(cb, ca)));
    if (!pc) continue;
    principals.push(principal);
    changes.push(pc);
  }
  return { resources, principals, changes };
}

/** Does a principal or resource of either table hold a NUL (the row form then decides, see `hasNulInKeys`)? */
export function hasNulInTables(...tables: CompactTable[]): boolean {
  return tables.some((t) => t.principals.some((p) => p.includes('\u0000')) || t.resources.some((r) => r.includes('\u0000')));
}

/** The row-level blast radius of compact sides: exactly `blastRadiusOfSides(rowsOfSides(sides))`. */
export function blastRadiusOfCompactSides(backend: Backend, sides: CompactSides): BlastRadius {
  if (hasNulInTables(sides.tableBefore, sides.tableAfter)) return blastRadiusOfSides(backend, rowsOfSides(sides));
  const diff = diffCompact(sides.tableBefore, sides.tableAfter);
  const common = commonOf(backend);
  const gained: BlastRow[] = [];
  const lost: BlastRow[] = [];
  const changeAt = new Int32Array(diff.resources.length);
  const push = (out: BlastRow[], principal: string, resource: string, privileges: readonly string[]): void => {
    for (const privilege of privileges) {
      const c = common(privilege);
      out.push({ principal, resource, privilege, common: c.common.slice(), highRisk: c.highRisk });
    }
  };
  diff.principals.forEach((principal, k) => {
    const pc = diff.changes[k]!;
    let n = 0;
    for (const rs of pc.ranks) n += rs.length;
    const all = new Uint32Array(n);
    n = 0;
    pc.ranks.forEach((rs, c) => {
      for (const r of rs) changeAt[r] = c;
      all.set(rs, n);
      n += rs.length;
    });
    all.sort();
    for (const r of all) {
      const change = pc.changes[changeAt[r]!]!;
      const resource = diff.resources[r]!;
      push(gained, principal, resource, change.gained);
      push(lost, principal, resource, change.lost);
    }
  });
  return { gained, lost };
}

/** One row per changed (principal, resource, privilege); blast-groups.ts gives the same grouped and explained. */
export function blastRadius(backend: Backend, before: AccessModel, change: ChangeSet): BlastRadius {
  const sides = evaluateSides(backend, before, change);
  if (!sides) return { gained: [], lost: [] };
  return 'compact' in sides ? blastRadiusOfCompactSides(backend, sides.compact) : blastRadiusOfSides(backend, sides.rows);
}

/** The row path for every backend (`effective()` rows on both sides): the reference `blastRadius` must equal. */
export function blastRadiusByRows(backend: Backend, before: AccessModel, change: ChangeSet): BlastRadius {
  const sides = blastSides(backend, before, change);
  return sides ? blastRadiusOfSides(backend, sides) : { gained: [], lost: [] };
}
