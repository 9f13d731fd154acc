/**
 * The blast radius grouped (issue 22) and explained (issue 23, defect 7). Pure and backend-agnostic.
 *
 * `blastRadius` (blast-radius.ts) yields one row per changed (principal, resource, privilege): a sweeping
 * change on a 5,000-VM inventory is 760,000 rows. `blastGroups` computes the same difference straight
 * from the two effective tables, without one object per row: each (principal, resource) pair's privileges
 * are compared once, and pairs that change in the same way for the same reason are collected into one
 * group (direction, principals, privileges, resources). Groups are then merged across principals that
 * share exactly the same change on exactly the same resources ("ops's five members gain VM.Console and
 * VM.PowerMgmt on 5,000 VMs" is one group). Resource lists are interned: groups that name the same
 * resources share one list.
 *
 * Exact: `expandBlastGroups(blastGroups(b, m, c))` deep-equals `blastRadius(b, m, c)` (duplicates and order
 * included), and `queryBlast` answers "does X gain Y on Z" from the groups alone.
 *
 * For Proxmox and vSphere (rows that are a compact table expanded) the groups come from the two compact
 * tables instead of rows (`groupCompact` over `diffCompact`): what a pair of privilege sets changes, and
 * why, is worked out once per pair, and principals' changed cells are grouped as rank lists. The result
 * equals the row path's (`blastGroupsByRows`, kept as the reference and for libvirt and XAPI).
 *
 * Each group carries a one-line `why` built from the `because` provenance of both sides (which grant or
 * rule gives the privilege after, what the principal held there before, what was removed) and the rule
 * of the backend that decides (Proxmox: deepest path, NoAccess; vSphere: a permission on an entity
 * overrides what it inherits; XAPI: highest role wins; libvirt: first polkit rule in file order).
 */
import type {
  AccessModel, Backend, BlastAnswer, BlastGroup, BlastGroups, BlastRadius, BlastRow, ChangeSet, CommonPrivilege, EffectiveRow, Grant,
  Principal, StoredBlastRadius,
} from './model.ts';
import { COMMON_PRIVILEGES, HIGH_RISK_PRIVILEGES } from './model.ts';
import { blastRadiusOfSides, blastSides, diffCompact, evaluateSides, hasNulInKeys, hasNulInTables, rowsOfSides } from './blast-radius.ts';
import type { BlastSides, CompactDiff, PrincipalChanges, SetChange } from './blast-radius.ts';
import type { PrivilegeSet } from './compact.ts';

export const BLAST_GROUPS_FORMAT = 'accord-blast-groups/1' as const;

/** Above this many rows (gained + lost), a stored revision keeps a digest of the rows and the groups hold the detail. */
export const BLAST_ROWS_LIMIT = 2_000;

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const VOCABULARY_ORDER = new Map<string, number>(COMMON_PRIVILEGES.map((p, i) => [p, i]));

export function emptyBlastGroups(): BlastGroups {
  return { format: BLAST_GROUPS_FORMAT, rows: { gained: 0, lost: 0 }, privileges: {}, resourceSets: [], groups: [] };
}

/**
 * Interned sets of `because` ids: an id per distinct sorted set, whether it came as an array the backend
 * shares (vSphere, Proxmox freeze and share them) or a fresh one per row (XAPI), and memoised unions.
 */
class Causes {
  readonly lists: string[][] = [];
  readonly #byText = new Map<string, number>();
  readonly #byRef = new Map<readonly string[], number>();
  readonly #unions = new Map<string, number>();
  readonly #subsets = new Map<string, boolean>();
  #lastRef: readonly string[] | undefined;
  #lastId = 0;

  constructor() {
    this.#intern([]);
  }

  #intern(sorted: string[]): number {
    const key = sorted.map((s) => `${s.length}:${s}`).join('');
    let id = this.#byText.get(key);
    if (id === undefined) {
      id = this.lists.length;
      this.lists.push(sorted);
      this.#byText.set(key, id);
    }
    return id;
  }

  of(because: readonly string[]): number {
    if (because === this.#lastRef) return this.#lastId;
    let id = Object.isFrozen(because) ? this.#byRef.get(because) : undefined;
    if (id === undefined) {
      id = this.#intern([...new Set(because)].sort(byCodeUnit));
      if (Object.isFrozen(because)) this.#byRef.set(because, id);
    }
    this.#lastRef = because;
    this.#lastId = id;
    return id;
  }

  /** The set id of the union of `ids` (set ids). */
  union(ids: readonly number[]): number {
    if (ids.length === 0) return 0;
    if (ids.length === 1) return ids[0]!;
    const key = [...ids].sort((a, b) => a - b).join(',');
    let id = this.#unions.get(key);
    if (id === undefined) {
      id = this.#intern([...new Set(ids.flatMap((i) => this.lists[i]!))].sort(byCodeUnit));
      this.#unions.set(key, id);
    }
    return id;
  }

  subset(a: number, b: number): boolean {
    if (a === b || a === 0) return true;
    const key = `${a},${b}`;
    let r = this.#subsets.get(key);
    if (r === undefined) {
      const of = new Set(this.lists[b]);
      r = this.lists[a]!.every((x) => of.has(x));
      this.#subsets.set(key, r);
    }
    return r;
  }
}

/** Rows split into runs of one (principal, resource) pair, with an index; null when a pair is split over several runs. */
interface Runs {
  rows: readonly EffectiveRow[];
  /** Run k is rows[start[k] .. start[k + 1]). */
  start: number[];
  index: Map<string, Map<string, number>>;
}

function runsOf(rows: readonly EffectiveRow[], indexed: boolean): Runs | null {
  const start: number[] = [];
  const index = new Map<string, Map<string, number>>();
  // Without an index, contiguity is checked cheaply: each principal in one block, its resources strictly increasing.
  const done = new Set<string>();
  let principal: string | undefined;
  let resource: string | undefined;
  let byResource: Map<string, number> | undefined;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (i > 0 && r.principal === principal && r.resource === resource) continue;
    if (i === 0 || r.principal !== principal) {
      if (principal !== undefined) done.add(principal);
      principal = r.principal;
      if (done.has(principal)) return indexed ? null : runsOf(rows, true);
      resource = undefined;
      if (indexed) index.set(principal, (byResource = new Map()));
    }
    if (indexed) {
      if (byResource!.has(r.resource)) return null;
      byResource!.set(r.resource, start.length);
    } else if (resource !== undefined && !(r.resource > resource)) return runsOf(rows, true);
    resource = r.resource;
    start.push(i);
  }
  start.push(rows.length);
  return { rows, start, index };
}

/** The same rows with each pair's rows made contiguous (first appearance order, stable within a pair). */
function regroup(rows: readonly EffectiveRow[]): EffectiveRow[] {
  const pairs = new Map<string, Map<string, EffectiveRow[]>>();
  for (const r of rows) {
    let byResource = pairs.get(r.principal);
    if (!byResource) pairs.set(r.principal, (byResource = new Map()));
    const list = byResource.get(r.resource);
    if (list) list.push(r);
    else byResource.set(r.resource, [r]);
  }
  return [...pairs.values()].flatMap((byResource) => [...byResource.values()].flat());
}

/** Runs of `rows` (regrouped when a pair's rows are not contiguous); `indexed`: with the pair → run index. */
function runsOfAny(rows: readonly EffectiveRow[], indexed: boolean): Runs {
  return runsOf(rows, indexed) ?? runsOf(regroup(rows), indexed)!;
}

/**
 * Writes a group's why. `prepare`, when present, is told every grant id the whys will name before the
 * first one is written (the explainer then looks up only those among 200,000 grants).
 */
export type Explain = ((w: WhyInput) => string) & { prepare?: (ids: ReadonlySet<string>) => void };

/** What the explanation of a group is built from. */
export interface WhyInput {
  direction: 'gained' | 'lost';
  principals: readonly string[];
  privileges: readonly string[];
  /** Ids behind the changed privileges (after for gained, before for lost). */
  changed: readonly string[];
  /** Ids behind what the principal holds on the pair on the other side (before for gained, after for lost). */
  other: readonly string[];
  /** Gained only: everything behind the pair before still applies after (the change adds, it replaces nothing). */
  keeps: boolean;
}

/** One pair-level group before principals are merged. */
interface Acc {
  direction: 'gained' | 'lost';
  principal: string;
  privileges: string[];
  privilegesKey: string;
  changed: number;
  other: number;
  keeps: boolean;
  resources: string[];
}

/**
 * Groups the difference of two effective tables (the rows of the affected principals before and after).
 * `explain` writes each group's why. Exact for any row order; names with NUL are the caller's to avoid
 * (blastGroups falls back to the row form for them).
 */
export function groupSides(
  rowsBefore: readonly EffectiveRow[], rowsAfter: readonly EffectiveRow[], toCommon: (privilege: string) => readonly CommonPrivilege[], explain: Explain,
): BlastGroups {
  const before = runsOfAny(rowsBefore, true);
  const after = runsOfAny(rowsAfter, false);
  const causes = new Causes();
  const accs = new Map<string, Acc>();
  const seenBefore = new Uint8Array(before.start.length);

  // Consecutive pairs of one principal usually change in the same way: the last group of each direction
  // is tried first, comparing the run's privileges in place (no array per pair).
  const last: Record<'gained' | 'lost', Acc | undefined> = { gained: undefined, lost: undefined };
  /** Adds the privileges of rows[from..to) that `unchanged` lacks as a change of (principal, resource). */
  const add = (
    direction: 'gained' | 'lost', principal: string, resource: string, rows: readonly EffectiveRow[], from: number, to: number,
    unchanged: ReadonlySet<string> | undefined, changed: number, other: number, keeps: boolean,
  ): void => {
    const l = last[direction];
    if (l && l.principal === principal && l.changed === changed && l.other === other && l.keeps === keeps && runEquals(l.privileges, rows, from, to, unchanged)) {
      l.resources.push(resource);
      return;
    }
    const privileges: string[] = [];
    for (let i = from; i < to; i++) {
      const p = rows[i]!.privilege;
      if (!unchanged?.has(p)) privileges.push(p);
    }
    privileges.sort(byCodeUnit);
    const privilegesKey = JSON.stringify(privileges);
    const key = `${direction}\u0000${principal}\u0000${changed}\u0000${other}\u0000${keeps ? 1 : 0}\u0000${privilegesKey}`;
    let acc = accs.get(key);
    if (!acc) accs.set(key, (acc = { direction, principal, privileges, privilegesKey, changed, other, keeps, resources: [] }));
    acc.resources.push(resource);
    last[direction] = acc;
  };

  const A = after.rows;
  const B = before.rows;
  const ids: number[] = [];
  /** Union of the because sets of rows[from..to), without the rows whose privilege `unchanged` holds. */
  const causesOf = (rows: readonly EffectiveRow[], from: number, to: number, unchanged?: ReadonlySet<string>): number => {
    ids.length = 0;
    for (let i = from; i < to; i++) {
      const r = rows[i]!;
      if (unchanged?.has(r.privilege)) continue;
      const id = causes.of(r.because);
      if (!ids.includes(id)) ids.push(id);
    }
    return causes.union(ids);
  };
  const setOf = (rows: readonly EffectiveRow[], from: number, to: number): Set<string> => {
    const s = new Set<string>();
    for (let i = from; i < to; i++) s.add(rows[i]!.privilege);
    return s;
  };

  let principalBefore: string | undefined;
  let beforeByResource: Map<string, number> | undefined;
  for (let k = 0; k + 1 < after.start.length; k++) {
    const a0 = after.start[k]!;
    const a1 = after.start[k + 1]!;
    const { principal, resource } = A[a0]!;
    if (principal !== principalBefore) {
      principalBefore = principal;
      beforeByResource = before.index.get(principal);
    }
    const bk = beforeByResource?.get(resource);
    if (bk === undefined) {
      add('gained', principal, resource, A, a0, a1, undefined, causesOf(A, a0, a1), 0, true);
      continue;
    }
    seenBefore[bk] = 1;
    const b0 = before.start[bk]!;
    const b1 = before.start[bk + 1]!;
    if (a1 - a0 === b1 - b0) {
      let same = true;
      for (let i = 0; i < a1 - a0; i++) {
        if (A[a0 + i]!.privilege !== B[b0 + i]!.privilege) { same = false; break; }
      }
      if (same) continue;
    }
    const inBefore = setOf(B, b0, b1);
    const inAfter = setOf(A, a0, a1);
    let gains = false;
    for (let i = a0; i < a1 && !gains; i++) gains = !inBefore.has(A[i]!.privilege);
    let losses = false;
    for (let i = b0; i < b1 && !losses; i++) losses = !inAfter.has(B[i]!.privilege);
    if (!gains && !losses) continue;
    const allAfter = causesOf(A, a0, a1);
    const allBefore = causesOf(B, b0, b1);
    if (gains) add('gained', principal, resource, A, a0, a1, inBefore, causesOf(A, a0, a1, inBefore), allBefore, causes.subset(allBefore, allAfter));
    if (losses) add('lost', principal, resource, B, b0, b1, inAfter, causesOf(B, b0, b1, inAfter), allAfter, false);
  }
  for (let k = 0; k + 1 < before.start.length; k++) {
    if (seenBefore[k]) continue;
    const b0 = before.start[k]!;
    const b1 = before.start[k + 1]!;
    add('lost', B[b0]!.principal, B[b0]!.resource, B, b0, b1, undefined, causesOf(B, b0, b1), 0, false);
  }
  return finish([...accs.values()], causes, toCommon, explain);
}

/** Are the privileges of rows[from..to) that `unchanged` lacks, in row order, exactly `sorted`? */
function runEquals(sorted: readonly string[], rows: readonly EffectiveRow[], from: number, to: number, unchanged: ReadonlySet<string> | undefined): boolean {
  let j = 0;
  for (let i = from; i < to; i++) {
    const p = rows[i]!.privilege;
    if (unchanged?.has(p)) continue;
    if (j >= sorted.length || sorted[j] !== p) return false;
    j++;
  }
  return j === sorted.length;
}

/** A group before it is explained and ordered: principals sharing one change on one resource list. */
interface Merged {
  direction: 'gained' | 'lost';
  privileges: string[];
  changed: number;
  other: number;
  keeps: boolean;
  /** Sorted; equal lists are the same array. */
  resources: string[];
  principals: string[];
}

/** Merges pair-level groups across principals and interns resource lists, then `assemble`. */
function finish(accs: Acc[], causes: Causes, toCommon: (privilege: string) => readonly CommonPrivilege[], explain: Explain): BlastGroups {
  const resourceKeys = new Map<string, string[]>();
  const merged = new Map<string, Merged>();
  for (const acc of accs) {
    const resources = acc.resources.sort(byCodeUnit);
    const resourceKey = resources.join('\u0000');
    let shared = resourceKeys.get(resourceKey);
    if (!shared) resourceKeys.set(resourceKey, (shared = resources));
    const key = `${acc.direction}\u0000${acc.changed}\u0000${acc.other}\u0000${acc.keeps ? 1 : 0}\u0000${acc.privilegesKey}\u0000${resourceKey}`;
    const m = merged.get(key);
    if (m) m.principals.push(acc.principal);
    else merged.set(key, { direction: acc.direction, privileges: acc.privileges, changed: acc.changed, other: acc.other, keeps: acc.keeps, resources: shared, principals: [acc.principal] });
  }
  return assemble([...merged.values()], causes, toCommon, explain);
}

/** Explains and orders merged groups (the order does not depend on the order they come in). */
function assemble(merged: readonly Merged[], causes: Causes, toCommon: (privilege: string) => readonly CommonPrivilege[], explain: Explain): BlastGroups {
  const info = new Map<string, { common: CommonPrivilege[]; highRisk: boolean }>();
  const infoOf = (p: string) => {
    let i = info.get(p);
    if (!i) {
      const common = [...toCommon(p)];
      info.set(p, (i = { common, highRisk: common.some((c) => HIGH_RISK_PRIVILEGES.has(c)) }));
    }
    return i;
  };
  if (explain.prepare) {
    const ids = new Set<string>();
    for (const acc of merged) for (const id of [...causes.lists[acc.changed]!, ...causes.lists[acc.other]!]) ids.add(id);
    explain.prepare(ids);
  }
  const rows = { gained: 0, lost: 0 };
  const groups: (BlastGroup & { resourceList: string[]; order: string })[] = [];
  for (const acc of merged) {
    const { resources, principals } = acc;
    principals.sort(byCodeUnit);
    const common = new Set<CommonPrivilege>();
    let highRisk = false;
    for (const p of acc.privileges) {
      const i = infoOf(p);
      for (const c of i.common) common.add(c);
      highRisk ||= i.highRisk;
    }
    const changed = causes.lists[acc.changed]!;
    const other = causes.lists[acc.other]!;
    const n = principals.length * resources.length * acc.privileges.length;
    rows[acc.direction] += n;
    groups.push({
      direction: acc.direction, principals, privileges: acc.privileges, resources: -1, resourceCount: resources.length,
      common: [...common].sort((a, b) => VOCABULARY_ORDER.get(a)! - VOCABULARY_ORDER.get(b)!), highRisk, rows: n,
      why: explain({ direction: acc.direction, principals, privileges: acc.privileges, changed, other, keeps: acc.keeps }),
      because: acc.direction === 'gained' ? { after: [...changed], before: [...other] } : { after: [...other], before: [...changed] },
      resourceList: resources,
      order: JSON.stringify([principals, acc.privileges, resources[0], changed, other, acc.keeps]),
    });
  }
  const privileges: BlastGroups['privileges'] = Object.fromEntries([...info.keys()].sort(byCodeUnit).map((p) => [p, info.get(p)!]));
  groups.sort((a, b) => (a.direction === b.direction ? 0 : a.direction === 'gained' ? -1 : 1) || b.rows - a.rows || byCodeUnit(a.order, b.order));
  const setIndex = new Map<string[], number>();
  const resourceSets: string[][] = [];
  const out: BlastGroup[] = groups.map(({ resourceList, order: _order, ...g }) => {
    let i = setIndex.get(resourceList);
    if (i === undefined) {
      setIndex.set(resourceList, (i = resourceSets.length));
      resourceSets.push(resourceList);
    }
    return { ...g, resources: i };
  });
  return { format: BLAST_GROUPS_FORMAT, rows, privileges, resourceSets, groups: out };
}

/** One way a principal's cell changes: what `Acc` is keyed by, without the principal. */
interface Kind {
  direction: 'gained' | 'lost';
  privileges: string[];
  changed: number;
  other: number;
  keeps: boolean;
}

/** Sorted rank lists interned by content: equal lists become the same array. */
class RankLists {
  readonly #byHash = new Map<number, Uint32Array[]>();

  intern(ranks: Uint32Array): Uint32Array {
    let h = ranks.length;
    for (let i = 0; i < ranks.length; i++) h = Math.imul(h ^ ranks[i]!, 0x9e3779b1) >>> 0;
    let bucket = this.#byHash.get(h);
    if (!bucket) this.#byHash.set(h, (bucket = []));
    for (const b of bucket) if (b === ranks || equalRanks(b, ranks)) return b;
    bucket.push(ranks);
    return ranks;
  }
}

function equalRanks(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Groups the difference of two compact tables (`diffCompact`) exactly as `groupSides` groups their rows:
 * the `Kind` of each set pair is worked out once (privileges, the causes on both sides, whether the
 * change only adds), each principal's changes are collected per kind as rank lists (once per shared
 * `PrincipalChanges`), and principals with the same kind on the same ranks are merged. Resource ids are
 * materialised once per distinct rank list.
 */
export function groupCompact(diff: CompactDiff, toCommon: (privilege: string) => readonly CommonPrivilege[], explain: Explain): BlastGroups {
  const causes = new Causes();
  const ids: number[] = [];
  /** Union of the causes of `set`'s privileges, or of those `only` holds. */
  const causesOf = (set: PrivilegeSet, only?: ReadonlySet<string>): number => {
    ids.length = 0;
    for (let i = 0; i < set.privileges.length; i++) {
      if (only && !only.has(set.privileges[i]!)) continue;
      const id = causes.of(set.because[i]!);
      if (!ids.includes(id)) ids.push(id);
    }
    return causes.union(ids);
  };
  const allOf = new Map<PrivilegeSet, number>();
  const all = (set: PrivilegeSet): number => {
    let id = allOf.get(set);
    if (id === undefined) allOf.set(set, (id = causesOf(set)));
    return id;
  };
  const kinds = new Map<string, Kind>();
  const kind = (direction: 'gained' | 'lost', privileges: readonly string[], changed: number, other: number, keeps: boolean): Kind => {
    const key = `${direction}\u0000${changed}\u0000${other}\u0000${keeps ? 1 : 0}\u0000${JSON.stringify(privileges)}`;
    let k = kinds.get(key);
    if (!k) kinds.set(key, (k = { direction, privileges: [...privileges], changed, other, keeps }));
    return k;
  };
  const kindsOfChange = new Map<SetChange, Kind[]>();
  const kindsOf = (c: SetChange): Kind[] => {
    let out = kindsOfChange.get(c);
    if (!out) {
      out = [];
      const allBefore = all(c.before);
      const allAfter = all(c.after);
      if (c.gained.length > 0) out.push(kind('gained', c.gained, causesOf(c.after, new Set(c.gained)), allBefore, causes.subset(allBefore, allAfter)));
      if (c.lost.length > 0) out.push(kind('lost', c.lost, causesOf(c.before, new Set(c.lost)), allAfter, false));
      kindsOfChange.set(c, out);
    }
    return out;
  };

  // Per shared PrincipalChanges: kind → its ranks (sorted, interned).
  const lists = new RankLists();
  const perChanges = new Map<PrincipalChanges, Map<Kind, Uint32Array>>();
  const byKind = (pc: PrincipalChanges): Map<Kind, Uint32Array> => {
    let out = perChanges.get(pc);
    if (out) return out;
    const parts = new Map<Kind, Uint32Array[]>();
    pc.changes.forEach((c, k) => {
      for (const kd of kindsOf(c)) {
        const list = parts.get(kd);
        if (list) list.push(pc.ranks[k]!);
        else parts.set(kd, [pc.ranks[k]!]);
      }
    });
    out = new Map();
    for (const [kd, ps] of parts) {
      let ranks = ps[0]!;
      if (ps.length > 1) {
        ranks = new Uint32Array(ps.reduce((n, r) => n + r.length, 0));
        let n = 0;
        for (const r of ps) {
          ranks.set(r, n);
          n += r.length;
        }
        ranks.sort();
      }
      out.set(kd, lists.intern(ranks));
    }
    perChanges.set(pc, out);
    return out;
  };

  const merged = new Map<Kind, Map<Uint32Array, string[]>>();
  diff.principals.forEach((principal, k) => {
    for (const [kd, ranks] of byKind(diff.changes[k]!)) {
      let byRanks = merged.get(kd);
      if (!byRanks) merged.set(kd, (byRanks = new Map()));
      const principals = byRanks.get(ranks);
      if (principals) principals.push(principal);
      else byRanks.set(ranks, [principal]);
    }
  });
  const resourceLists = new Map<Uint32Array, string[]>();
  const out: Merged[] = [];
  for (const [kd, byRanks] of merged) {
    for (const [ranks, principals] of byRanks) {
      let resources = resourceLists.get(ranks);
      if (!resources) resourceLists.set(ranks, (resources = Array.from(ranks, (r) => diff.resources[r]!)));
      out.push({ ...kd, resources, principals });
    }
  }
  return assemble(out, causes, toCommon, explain);
}

/** The row path's grouping of evaluated row sides. */
function groupRowSides(backend: Backend, before: AccessModel, change: ChangeSet, sides: BlastSides): BlastGroups {
  if (hasNulInKeys(sides.rowsBefore) || hasNulInKeys(sides.rowsAfter)) {
    // No backend names a principal or resource with NUL; if one did, the row form (which identifies rows by NUL-joined keys) decides.
    return groupBlastRows(blastRadiusOfSides(backend, sides), 'not explained: a principal or resource name holds a NUL character');
  }
  return groupSides(sides.rowsBefore, sides.rowsAfter, (p) => backend.toCommon(p), explainer(backend, before, sides.after, change));
}

/**
 * The blast radius of a change, grouped and explained. `expandBlastGroups` of it equals `blastRadius`.
 * Backends whose rows are their compact table expanded (Proxmox, vSphere) are grouped from the two
 * compact tables (`diffCompact`, `groupCompact`), the others from rows (`groupSides`); the result is the same.
 */
export function blastGroups(backend: Backend, before: AccessModel, change: ChangeSet): BlastGroups {
  const sides = evaluateSides(backend, before, change);
  if (!sides) return emptyBlastGroups();
  if ('rows' in sides) return groupRowSides(backend, before, change, sides.rows);
  const { after, tableBefore, tableAfter } = sides.compact;
  if (hasNulInTables(tableBefore, tableAfter)) return groupRowSides(backend, before, change, rowsOfSides(sides.compact));
  return groupCompact(diffCompact(tableBefore, tableAfter), (p) => backend.toCommon(p), explainer(backend, before, after, change));
}

/** The row path for every backend (`effective()` rows on both sides, `groupSides`): the reference `blastGroups` must equal. */
export function blastGroupsByRows(backend: Backend, before: AccessModel, change: ChangeSet): BlastGroups {
  const sides = blastSides(backend, before, change);
  return sides ? groupRowSides(backend, before, change, sides) : emptyBlastGroups();
}

/**
 * Groups rows that carry no provenance: revisions stored before groups existed, and names with NUL.
 * Exact (expands to the same rows); every group says `why`.
 */
export function groupBlastRows(radius: BlastRadius, why = 'not recorded: this revision was stored before Accord explained its blast radius'): BlastGroups {
  const common = new Map<string, CommonPrivilege[]>();
  for (const r of [...radius.gained, ...radius.lost]) if (!common.has(r.privilege)) common.set(r.privilege, r.common);
  const toCommon = (p: string) => common.get(p) ?? [];
  const toRows = (rows: readonly BlastRow[]): EffectiveRow[] => rows.map((r) => ({ principal: r.principal, resource: r.resource, privilege: r.privilege, because: [] }));
  const lostRows = toRows(radius.lost);
  const gainedRows = toRows(radius.gained);
  if (hasNulInKeys(lostRows) || hasNulInKeys(gainedRows)) return groupRowsOneByOne(radius, why);
  // Gained rows against nothing are all gained; lost rows against nothing are all lost.
  const gained = groupSides([], gainedRows, toCommon, () => why);
  const lost = groupSides(lostRows, [], toCommon, () => why);
  return mergeGroups(gained, lost);
}

/** One group per row: exact for any names (NUL included), used only where the row form itself is used. */
function groupRowsOneByOne(radius: BlastRadius, why: string): BlastGroups {
  const out = emptyBlastGroups();
  for (const direction of ['gained', 'lost'] as const) {
    for (const r of radius[direction]) {
      if (!Object.hasOwn(out.privileges, r.privilege)) {
        Object.defineProperty(out.privileges, r.privilege, { value: { common: [...r.common], highRisk: r.highRisk }, enumerable: true, writable: true, configurable: true });
      }
      out.resourceSets.push([r.resource]);
      out.groups.push({
        direction, principals: [r.principal], privileges: [r.privilege], resources: out.resourceSets.length - 1, resourceCount: 1,
        common: [...r.common], highRisk: r.highRisk, rows: 1, why, because: { after: [], before: [] },
      });
      out.rows[direction] += 1;
    }
  }
  return out;
}

function mergeGroups(a: BlastGroups, b: BlastGroups): BlastGroups {
  const shift = a.resourceSets.length;
  return {
    format: BLAST_GROUPS_FORMAT,
    rows: { gained: a.rows.gained + b.rows.gained, lost: a.rows.lost + b.rows.lost },
    privileges: Object.fromEntries(Object.entries({ ...a.privileges, ...b.privileges }).sort(([x], [y]) => byCodeUnit(x, y))),
    resourceSets: [...a.resourceSets, ...b.resourceSets],
    groups: [...a.groups, ...b.groups.map((g) => ({ ...g, resources: g.resources + shift }))],
  };
}

/** The common privileges and risk of a native privilege the groups name. */
function infoIn(groups: BlastGroups, privilege: string): { common: CommonPrivilege[]; highRisk: boolean } {
  return Object.hasOwn(groups.privileges, privilege) ? groups.privileges[privilege]! : { common: [], highRisk: false };
}

/** The rows the groups stand for: exactly `blastRadius`'s, in its order. */
export function expandBlastGroups(groups: BlastGroups): BlastRadius {
  const expand = (direction: 'gained' | 'lost'): BlastRow[] => {
    const pairs = new Map<string, Map<string, string[]>>();
    for (const g of groups.groups) {
      if (g.direction !== direction) continue;
      const resources = groups.resourceSets[g.resources]!;
      for (const principal of g.principals) {
        let byResource = pairs.get(principal);
        if (!byResource) pairs.set(principal, (byResource = new Map()));
        for (const resource of resources) {
          const list = byResource.get(resource);
          if (list) list.push(...g.privileges);
          else byResource.set(resource, [...g.privileges]);
        }
      }
    }
    const rows: BlastRow[] = [];
    for (const principal of [...pairs.keys()].sort(byCodeUnit)) {
      const byResource = pairs.get(principal)!;
      for (const resource of [...byResource.keys()].sort(byCodeUnit)) {
        for (const privilege of byResource.get(resource)!.sort(byCodeUnit)) {
          const i = infoIn(groups, privilege);
          rows.push({ principal, resource, privilege, common: [...i.common], highRisk: i.highRisk });
        }
      }
    }
    if (rows.some((r) => r.principal.includes('\u0000') || r.resource.includes('\u0000'))) {
      const key = (r: BlastRow) => `${r.principal}\u0000${r.resource}\u0000${r.privilege}`;
      rows.sort((x, y) => byCodeUnit(key(x), key(y)));
    }
    return rows;
  };
  return { gained: expand('gained'), lost: expand('lost') };
}

/**
 * The rows a revision stores next to its groups: every row while there are at most `limit`; above, a
 * digest with one row per (principal, privilege) and direction, on the first resource (code units) where
 * it changes, and `truncated` holding the full counts. Either way the principals, privileges and
 * high-risk flags of `gained` and `lost` are exactly the blast radius's.
 */
export function storedBlastRows(groups: BlastGroups, limit = BLAST_ROWS_LIMIT): StoredBlastRadius {
  if (groups.rows.gained + groups.rows.lost <= limit) return expandBlastGroups(groups);
  const digest = (direction: 'gained' | 'lost'): BlastRow[] => {
    const first = new Map<string, Map<string, string>>();
    for (const g of groups.groups) {
      if (g.direction !== direction) continue;
      const resource = groups.resourceSets[g.resources]![0]!;
      for (const principal of g.principals) {
        let byPrivilege = first.get(principal);
        if (!byPrivilege) first.set(principal, (byPrivilege = new Map()));
        for (const p of g.privileges) {
          const had = byPrivilege.get(p);
          if (had === undefined || resource < had) byPrivilege.set(p, resource);
        }
      }
    }
    const rows: BlastRow[] = [];
    for (const [principal, byPrivilege] of first) {
      for (const [privilege, resource] of byPrivilege) {
        const i = infoIn(groups, privilege);
        rows.push({ principal, resource, privilege, common: [...i.common], highRisk: i.highRisk });
      }
    }
    const key = (r: BlastRow) => `${r.principal}\u0000${r.resource}\u0000${r.privilege}`;
    return rows.sort((x, y) => byCodeUnit(key(x), key(y)));
  };
  return { gained: digest('gained'), lost: digest('lost'), truncated: { ...groups.rows } };
}

/** Does any gained group carry a high-risk privilege? */
export function gainsHighRisk(groups: BlastGroups): boolean {
  return groups.groups.some((g) => g.direction === 'gained' && g.highRisk);
}

function sortedHas(sorted: readonly string[], value: string): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = sorted[mid]!;
    if (v === value) return true;
    if (v < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/**
 * "Does `principal` gain `privilege` on `resource`?", exactly, from the groups. `privilege` may be native
 * (`VM.Console`) or common (`vm.console`: any native privilege that implies it); without one, every
 * privilege that changes for the principal on the resource is listed.
 */
export function queryBlast(groups: BlastGroups, q: { principal: string; resource: string; privilege?: string }): BlastAnswer {
  const changes: BlastAnswer['changes'] = [];
  groups.groups.forEach((g, index) => {
    if (!sortedHas(g.principals, q.principal) || !sortedHas(groups.resourceSets[g.resources]!, q.resource)) return;
    for (const privilege of new Set(g.privileges)) {
      const i = infoIn(groups, privilege);
      if (q.privilege !== undefined && q.privilege !== privilege && !i.common.includes(q.privilege as CommonPrivilege)) continue;
      changes.push({ direction: g.direction, privilege, common: [...i.common], highRisk: i.highRisk, group: index, why: g.why });
    }
  });
  changes.sort((a, b) => (a.direction === b.direction ? 0 : a.direction === 'gained' ? -1 : 1) || byCodeUnit(a.privilege, b.privilege));
  const answer = changes.some((c) => c.direction === 'gained') ? 'gained' : changes.length > 0 ? 'lost' : 'unchanged';
  return { principal: q.principal, resource: q.resource, ...(q.privilege !== undefined ? { privilege: q.privilege } : {}), answer, changes };
}

// ---------------------------------------------------------------------------------------------------
// Why: one line from the provenance of both sides.

type Spec = { op: 'add' | 'remove'; itemId: string; principal: string; resource: string; role?: string };

/** Grant id → position of its last grant, per grants array (models are immutable; 200,000 grants take a while to index). */
const grantPositions = new WeakMap<readonly Grant[], Map<string, number>>();

function positionsOf(grants: readonly Grant[]): Map<string, number> {
  let m = grantPositions.get(grants);
  if (!m) {
    m = new Map();
    for (let i = 0; i < grants.length; i++) m.set(grants[i]!.id, i);
    grantPositions.set(grants, m);
  }
  return m;
}

interface GrantLookup {
  get(id: string): Grant | undefined;
  has(id: string): boolean;
}

/**
 * Grants by id on both sides, as `new Map(grants.map((g) => [g.id, g]))` would give them (the last grant of
 * an id wins). The before side's positions are kept per grants array; the after side is what it shares
 * with the before side (one lookup per grant, no new map) plus the grants it does not share.
 */
function grantLookups(before: readonly Grant[], after: readonly Grant[]): { grantsBefore: GrantLookup; grantsAfter: GrantLookup } {
  const positions = positionsOf(before);
  const grantsBefore: GrantLookup = {
    get: (id) => {
      const i = positions.get(id);
      return i === undefined ? undefined : before[i];
    },
    has: (id) => positions.has(id),
  };
  const shared = new Uint8Array(before.length); // before's last grant of an id is also after's
  const own = new Map<string, Grant>(); // after's last grant of an id, when it is not before's
  for (const g of after) {
    const i = positions.get(g.id);
    if (i !== undefined && before[i] === g) {
      shared[i] = 1;
      own.delete(g.id);
    } else {
      own.set(g.id, g);
      if (i !== undefined) shared[i] = 0;
    }
  }
  const grantsAfter: GrantLookup = {
    get: (id) => {
      const g = own.get(id);
      if (g) return g;
      const i = positions.get(id);
      return i !== undefined && shared[i] ? before[i] : undefined;
    },
    has: (id) => grantsAfter.get(id) !== undefined,
  };
  return { grantsBefore, grantsAfter };
}

const principalMaps = new WeakMap<readonly Principal[], Map<string, Principal>>();

function principalsById(principals: readonly Principal[]): Map<string, Principal> {
  let m = principalMaps.get(principals);
  if (!m) principalMaps.set(principals, (m = new Map(principals.map((p) => [p.id, p]))));
  return m;
}

/** The explainer for one change: looks grants up in both models and names the change items behind them. */
export function explainer(backend: Pick<Backend, 'id'>, before: AccessModel, after: AccessModel, change: ChangeSet): Explain {
  // Grants by id on both sides: only the ids `prepare` names when it was called, else all of them (on first use).
  let full: { grantsBefore: GrantLookup; grantsAfter: GrantLookup } | undefined;
  const all = () => (full ??= grantLookups(before.grants, after.grants));
  let prepared: { ids: ReadonlySet<string>; before: Map<string, Grant>; after: Map<string, Grant> } | undefined;
  const grantsBefore: GrantLookup = {
    get: (id) => (prepared?.ids.has(id) ? prepared.before.get(id) : all().grantsBefore.get(id)),
    has: (id) => (prepared?.ids.has(id) ? prepared.before.has(id) : all().grantsBefore.has(id)),
  };
  const grantsAfter: GrantLookup = {
    get: (id) => (prepared?.ids.has(id) ? prepared.after.get(id) : all().grantsAfter.get(id)),
    has: (id) => (prepared?.ids.has(id) ? prepared.after.has(id) : all().grantsAfter.has(id)),
  };
  /** The grants of `grants` with these ids, the last of an id winning (as a Map of all of them would hold). */
  const pick = (grants: readonly Grant[], ids: ReadonlySet<string>): Map<string, Grant> => {
    const m = new Map<string, Grant>();
    for (const g of grants) if (ids.has(g.id)) m.set(g.id, g);
    return m;
  };
  const principals = after.principals === before.principals ? principalsById(before.principals) : new Map([...before.principals, ...after.principals].map((p) => [p.id, p]));
  const specs: Spec[] = change.items.flatMap((i): Spec[] => {
    const s = (op: 'add' | 'remove', g: { principal: string; resource: string; role?: string }): Spec => ({ op, itemId: i.id, principal: g.principal, resource: g.resource, ...(g.role !== undefined ? { role: g.role } : {}) });
    return i.op === 'replace' ? [s('remove', i.from), s('add', i.to)] : [s(i.op, i.grant)];
  });
  const grantOf = (id: string): Grant | undefined => grantsAfter.get(id) ?? grantsBefore.get(id);
  const isGroup = (p: string): boolean => principals.get(p)?.kind === 'group';
  const strip = (p: string): string => p.replace(/^@/, '');
  /** The change item that added or removed a grant, when the grant names the same principal and resource. */
  const itemFor = (g: Grant, op: 'add' | 'remove'): string | undefined => {
    const fromProvenance = op === 'add' ? /^(?:change:)?(.+)$/.exec(g.provenance.apiId ?? '')?.[1] : undefined;
    if (fromProvenance && change.items.some((i) => i.id === fromProvenance)) return fromProvenance;
    const matches = specs.filter((s) => s.op === op && strip(s.principal) === strip(g.principal) && s.resource === g.resource);
    return (matches.find((s) => s.role === g.role) ?? matches[0])?.itemId;
  };
  const removed = (id: string): boolean => grantsBefore.has(id) && !grantsAfter.has(id);
  const describe = (id: string): string => {
    const g = grantOf(id);
    if (!g) {
      if (id.startsWith('builtin:')) return `${id.slice('builtin:'.length)}'s built-in rights`;
      if (id === 'uid 0') return 'uid 0 (root)';
      if (backend.id === 'libvirt') return id.includes('/') ? `the rules in ${id}` : `polkit (${id})`;
      return `rule ${id}`;
    }
    const who = isGroup(g.principal) ? `group ${g.principal}'s` : `${g.principal}'s`;
    const what = g.role !== undefined ? `role ${g.role}` : `${g.effect === 'deny' ? 'denied ' : ''}${(g.privileges ?? []).join(', ')}`;
    const where = `${g.resource}${backend.id === 'xapi' ? '' : g.propagate ? '' : ' (this object only)'}`;
    let tag = '';
    if (!grantsBefore.has(id) && grantsAfter.has(id)) {
      const item = itemFor(g, 'add');
      tag = item ? ` (added by item ${item})` : ' (added by the change)';
    } else if (removed(id)) {
      const item = itemFor(g, 'remove');
      tag = item ? ` (removed by item ${item})` : ' (removed by the change)';
    }
    return `${who} ${what} on ${where}${tag}`;
  };
  const list = (ids: readonly string[]): string => {
    const shown = ids.slice(0, 2).map(describe);
    return ids.length > 2 ? `${shown.join(', ')} and ${ids.length - 2} more` : shown.join(' and ');
  };
  const grants = (ids: readonly string[]): Grant[] => ids.map(grantOf).filter((g): g is Grant => g !== undefined);
  const isNoAccess = (g: Grant): boolean => g.role === 'NoAccess' || (g.effect === 'deny' && g.role === undefined);
  const ancestor = (a: string, b: string): boolean => a !== b && (a === '/' ? b.startsWith('/') : b.startsWith(`${a}/`));

  /** The backend's rule when `winners` decide where `losers` did before. */
  const rule = (winners: readonly string[], losers: readonly string[]): string => {
    const w = grants(winners);
    const l = grants(losers);
    const userOverGroup = w.some((x) => !isGroup(x.principal) && l.some((y) => isGroup(y.principal) && y.resource === x.resource));
    switch (backend.id) {
      case 'proxmox':
        if (w.some(isNoAccess)) return 'NoAccess wins alone (Proxmox)';
        if (w.some((x) => l.some((y) => ancestor(y.resource, x.resource)))) return 'Proxmox takes the deepest path';
        if (userOverGroup) return "on one path a user's own entries replace its groups' (Proxmox)";
        if (l.some((y) => y.resource.startsWith('/pool/'))) return 'a regular ACL on the path comes before pool roles (Proxmox)';
        return 'Proxmox takes the entries of the deepest path that has any';
      case 'vsphere':
        if (w.some(isNoAccess)) return 'NoAccess grants nothing and decides (vSphere)';
        if (w.some((x) => l.some((y) => y.resource !== x.resource))) return 'a permission on an entity overrides what it inherits (vSphere)';
        if (userOverGroup) return "on one entity the user's own permission beats its groups' (vSphere)";
        return 'the permission nearest the entity decides (vSphere)';
      case 'xapi':
        return 'the highest role wins; XAPI roles are pool-wide';
      case 'libvirt':
        return 'polkit: the first rule in file order that returns a result decides';
    }
  };

  /** Change items naming one of these principals or a group they belong to (for losses nothing replaced). */
  const itemsAbout = (who: readonly string[]): Spec[] => {
    const names = new Set<string>();
    for (const p of who) {
      names.add(strip(p));
      for (const g of principals.get(p)?.memberOf ?? []) names.add(strip(g));
      const owner = principals.get(p)?.owner;
      if (owner) names.add(strip(owner));
    }
    return specs.filter((s) => names.has(strip(s.principal)));
  };
  const describeSpec = (s: Spec): string => `item ${s.itemId} (${s.op === 'add' ? 'adds' : 'removes'} ${s.principal}${s.role !== undefined ? ` ${s.role}` : ''} on ${s.resource})`;

  const explain: Explain = (w) => {
    const { changed, other } = w;
    if (changed.length === 0) return w.direction === 'gained' ? 'gained: no grant is named for it' : 'lost: no grant was named for it';
    if (w.direction === 'gained') {
      if (other.length === 0) return `${list(changed)} gives it`;
      if (w.keeps) return `${list(changed)} gives it, in addition to ${list(other)}`;
      const displaced = other.filter((id) => !removed(id));
      const head = `${list(changed)} replaces ${list(other)}`;
      return displaced.length === 0 ? head : `${head}: ${rule(changed, displaced)}`;
    }
    const gone = changed.filter(removed);
    if (gone.length === changed.length) {
      return other.length === 0 ? `${list(changed)} is removed` : `${list(changed)} is removed; what remains comes from ${list(other)}`;
    }
    if (other.length > 0) return `${list(other)} overrides ${list(changed)}: ${rule(other, changed)}`;
    const items = itemsAbout(w.principals);
    const noAccess = items.some((s) => s.op === 'add' && s.role === 'NoAccess');
    const by = items.length ? ` after ${items.slice(0, 2).map(describeSpec).join(' and ')}${items.length > 2 ? ` and ${items.length - 2} more` : ''}` : '';
    const why = !noAccess ? '' : backend.id === 'proxmox' ? ': NoAccess wins alone (Proxmox)' : backend.id === 'vsphere' ? ': NoAccess grants nothing and decides (vSphere)' : '';
    return `${list(changed)} no longer applies${by}${why}`;
  };
  explain.prepare = (ids) => {
    prepared = { ids, before: pick(before.grants, ids), after: pick(after.grants, ids) };
  };
  return explain;
}
