/**
 * Effective access under vSphere's documented rules (vSphere Security guide, "Hierarchical Inheritance of
 * Permissions", "Multiple Permission Settings" and its Examples 1–3; vim.AuthorizationManager):
 *  - a permission applies to its entity and, if it propagates, to the entity's descendants;
 *  - a permission defined on an entity overrides what the entity would inherit (for that user, even when
 *    the overriding permission comes through another group: Example 2);
 *  - on one entity, the user's own permission beats every group permission; without one, the permissions
 *    of all the user's groups there are unioned (Examples 1 and 3);
 *  - NoAccess grants nothing, so as the deciding permission it denies;
 *  - an entity with two parents (a VM in a VM folder and in a resource pool or vApp) gets the union of
 *    what each parent passes down: "the permissions on one object are added to the permissions on the other".
 * Nothing is assumed for built-in administrators: only permissions in the data count.
 *
 * Rows share their (frozen) `because` arrays: a table has millions of rows and few distinct causes.
 * Evaluation is memoised per entity: one pass over the entities that a principal's grants can reach,
 * in topological order, shared by every principal with the same relevant identities.
 */
import type { AccessModel, EffectiveQuery, EffectiveRow } from '../../domain/access/model.ts';
import { CellPacker, COMPACT_FORMAT, EMPTY_SET, expandingEffective } from '../../domain/access/compact.ts';
import type { Cells, CompactTable, PrivilegeSet } from '../../domain/access/compact.ts';
import { indexModel, type ModelIndex } from './model-index.ts';

/** Interned sets of grant indices: equal sets share one id, so unions and rows are computed once. */
class GrantSets {
  readonly sets: number[][] = [[]];
  readonly #ids = new Map<string, number>([['', 0]]);
  readonly #unions = new Map<number, Map<number, number>>();
  #lastLo = -1;
  #lastHi = -1;
  #lastUnion = 0;

  intern(sorted: number[]): number {
    const key = sorted.join(',');
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = this.sets.length;
      this.sets.push(sorted);
      this.#ids.set(key, id);
    }
    return id;
  }

  union(a: number, b: number): number {
    if (a === b || b === 0) return a;
    if (a === 0) return b;
    const lo = a < b ? a : b;
    const hi = a < b ? b : a;
    if (lo === this.#lastLo && hi === this.#lastHi) return this.#lastUnion;
    let byHi = this.#unions.get(lo);
    if (!byHi) this.#unions.set(lo, (byHi = new Map()));
    let id = byHi.get(hi);
    if (id === undefined) {
      id = this.intern([...new Set([...this.sets[a]!, ...this.sets[b]!])].sort((x, y) => x - y));
      byHi.set(hi, id);
    }
    this.#lastLo = lo;
    this.#lastHi = hi;
    this.#lastUnion = id;
    return id;
  }
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Grant sets as the compact table's privilege sets: per privilege the grants of the set that give it.
 * One per grant set that yields a privilege, 0 for none. Sets of one grant are built once per grant;
 * `because` lists are interned across sets.
 */
class TableSets {
  readonly sets: PrivilegeSet[] = [EMPTY_SET];
  readonly #of: number[] = [0];
  readonly #single: number[] = [];
  readonly #because = new Map<string, readonly string[]>();
  readonly #grants: GrantSets;
  readonly #index: ModelIndex;

  constructor(grants: GrantSets, index: ModelIndex) {
    this.#grants = grants;
    this.#index = index;
  }

  of(grantSet: number): number {
    let id = this.#of[grantSet];
    if (id === undefined) {
      while (this.#of.length < grantSet) this.#of.push(-1); // dense: a holey array turns into a slow dictionary
      id = -1;
    }
    if (id < 0) {
      const grants = this.#grants.sets[grantSet]!;
      id = grants.length === 1 ? this.#ofGrant(grants[0]!) : this.#ofMany(grants);
      this.#of[grantSet] = id;
    }
    return id;
  }

  #ofGrant(gi: number): number {
    let id = this.#single[gi];
    if (id === undefined) {
      while (this.#single.length < gi) this.#single.push(-1);
      id = -1;
    }
    if (id < 0) {
      id = this.#ofMany([gi]);
      this.#single[gi] = id;
    }
    return id;
  }

  #ofMany(grants: readonly number[]): number {
    const because = new Map<string, string[]>();
    for (const gi of grants) {
      for (const p of this.#index.grantPrivileges[gi]!) {
        const list = because.get(p);
        if (list) list.push(this.#index.grants[gi]!.id);
        else because.set(p, [this.#index.grants[gi]!.id]);
      }
    }
    if (because.size === 0) return 0;
    const privileges = [...because.keys()].sort(byCodeUnit);
    return this.sets.push({ privileges, because: privileges.map((p) => this.#interned(because.get(p)!.sort(byCodeUnit))) }) - 1;
  }

  /** One frozen array per distinct sorted list of grant ids. */
  #interned(ids: string[]): readonly string[] {
    const key = ids.join('\u0000');
    let out = this.#because.get(key);
    if (!out) this.#because.set(key, (out = Object.freeze(ids)));
    return out;
  }
}

/** Who a principal is when vSphere matches permissions: itself (if a user) and its groups. */
interface Identity {
  self: string | undefined;
  groups: ReadonlySet<string>;
}

function identityOf(index: ModelIndex, principal: string): Identity {
  const groups = new Set(index.groupsOf.get(principal) ?? []);
  // A group has no "user permission": its own permission is one more group permission to union.
  if (index.kinds.get(principal) === 'group') return { self: undefined, groups: groups.add(principal) };
  return { self: principal, groups };
}

/** Key shared by principals whose effective access is necessarily identical. */
function signature(index: ModelIndex, id: Identity): string {
  const self = id.self !== undefined && index.grantsByPrincipal.has(id.self) ? id.self : '';
  const groups = [...id.groups].filter((g) => index.grantsByPrincipal.has(g)).sort();
  return groups.length === 0 && self === '' ? '' : `${self}\u0000${groups.join('\u0000')}`;
}

/** Scratch arrays reused across identities in one call: a stamp marks the entries that are valid now. */
class Workspace {
  readonly stamp: Uint32Array;
  /** Entities holding a permission of the identity being resolved (stamped). */
  readonly granted: Uint32Array;
  readonly inh: Int32Array;
  /** The entities reached, as a queue while they are found. */
  readonly reach: Int32Array;
  /** The same as a bit set, read back in ascending (topological) order. */
  readonly bits: Uint32Array;
  readonly outResources: Uint32Array;
  readonly outSets: Uint32Array;
  readonly outCodes: Uint32Array;
  readonly packer: CellPacker;
  generation = 0;
  constructor(size: number) {
    this.stamp = new Uint32Array(size);
    this.granted = new Uint32Array(size);
    this.inh = new Int32Array(size);
    this.reach = new Int32Array(size);
    this.bits = new Uint32Array((size >>> 5) + 1);
    this.outResources = new Uint32Array(size);
    this.outSets = new Uint32Array(size);
    this.outCodes = new Uint32Array(size);
    this.packer = new CellPacker(size);
  }
}

/**
 * Resolve one identity over the entities its permissions can reach, parents before children: `eff` is
 * what applies at an entity, `inh` what flows on to its children. Returns the cells where the identity
 * holds a privilege, in topological order (only `allowed` entities are visited when it is given).
 */
function resolve(
  index: ModelIndex, sets: GrantSets, table: TableSets, ws: Workspace, id: Identity, wanted: ReadonlySet<number> | undefined, allowed: Uint8Array | undefined,
): Cells {
  const at = new Map<number, number[]>();
  for (const p of [id.self, ...id.groups]) {
    if (p === undefined) continue;
    for (const gi of index.grantsByPrincipal.get(p) ?? []) {
      const r = index.grantResource[gi]!;
      if (r < 0) continue;
      const list = at.get(r);
      if (list) list.push(gi);
      else at.set(r, [gi]);
    }
  }
  // Only entities at or below one of this identity's permissions can hold anything. Stamped when
  // queued, so each is queued once; also set in `bits`, which yields them in topological order.
  const gen = ++ws.generation;
  const { stamp, inh, reach, granted, bits } = ws;
  const { childStart, childList, parentStart, parentList } = index;
  let top = 0;
  let low = stamp.length;
  let high = -1;
  for (const r of at.keys()) {
    granted[r] = gen;
    if (stamp[r] !== gen && (!allowed || allowed[r])) {
      stamp[r] = gen;
      reach[top++] = r;
    }
  }
  for (let done = 0; done < top; done++) {
    const r = reach[done]!;
    bits[r >>> 5]! |= 1 << (r & 31);
    if (r < low) low = r;
    if (r > high) high = r;
    for (let i = childStart[r]!, end = childStart[r + 1]!; i < end; i++) {
      const c = childList[i]!;
      if (stamp[c] !== gen && (!allowed || allowed[c])) {
        stamp[c] = gen;
        reach[top++] = c;
      }
    }
  }
  let n = 0;
  for (let w = low >>> 5, last = high >>> 5; w <= last && high >= 0; w++) {
    let word = bits[w]!;
    bits[w] = 0;
    while (word !== 0) {
      const bit = 31 - Math.clz32(word & -word);
      word &= word - 1;
      const r = (w << 5) | bit;
      let inherited = 0;
      for (let i = parentStart[r]!, end = parentStart[r + 1]!; i < end; i++) {
        const p = parentList[i]!;
        if (stamp[p] === gen) inherited = inherited === 0 ? inh[p]! : sets.union(inherited, inh[p]!);
      }
      let eff = inherited;
      if (granted[r] === gen) {
        // On one entity the user's own permission beats its groups'; the groups' permissions are unioned.
        const here = at.get(r)!;
        const own: number[] = [];
        const ownPropagating: number[] = [];
        const propagating: number[] = [];
        for (const gi of here) {
          const g = index.grants[gi]!;
          if (g.principal === id.self) own.push(gi);
          if (g.propagate) {
            propagating.push(gi);
            if (g.principal === id.self) ownPropagating.push(gi);
          }
        }
        const byIndex = (a: number, b: number): number => a - b;
        eff = sets.intern((own.length > 0 ? own : here.slice()).sort(byIndex));
        const passed = ownPropagating.length > 0 ? ownPropagating : propagating;
        inh[r] = passed.length > 0 ? sets.intern(passed.sort(byIndex)) : inherited;
      } else inh[r] = inherited;
      if (eff === 0 || (wanted && !wanted.has(r))) continue;
      const t = table.of(eff);
      if (t === 0) continue;
      ws.outResources[n] = r;
      ws.outSets[n++] = t;
    }
  }
  return ws.packer.pack(ws.outResources, ws.outSets, ws.outCodes, n);
}

/**
 * The compact table (server/domain/access/compact.ts) for the query: per principal, the entities where it
 * holds a privilege (topological order, as rows come) and the interned privileges there. Principals that
 * share a resolution share their cells. Asked about a few resources, only those and their ancestors are
 * evaluated (what an entity gets depends on nothing below it).
 */
export function effectiveCompact(model: AccessModel, query: EffectiveQuery = {}): CompactTable {
  const index = indexModel(model);
  const sets = new GrantSets();
  const principals = query.principals ?? [...index.kinds.keys()];
  let wanted: Set<number> | undefined;
  let allowed: Uint8Array | undefined;
  if (query.resources) {
    wanted = new Set(query.resources.map((r) => index.indexOf.get(r)).filter((r) => r !== undefined));
    if (wanted.size === index.order.length) wanted = undefined;
    else {
      allowed = new Uint8Array(index.order.length);
      const stack = [...wanted];
      while (stack.length > 0) {
        const r = stack.pop()!;
        if (allowed[r]) continue;
        allowed[r] = 1;
        for (const p of index.parents[r]!) if (!allowed[p]) stack.push(p);
      }
    }
  }
  const table = new TableSets(sets, index);
  // Principals with the same relevant identities share one resolution; principals come out sorted.
  const resolved = new Map<string, Cells>();
  const ws = new Workspace(index.order.length);
  const names: string[] = [];
  const cells: Cells[] = [];
  for (const principal of [...new Set(principals)].sort()) {
    const id = identityOf(index, principal);
    const sig = signature(index, id);
    if (sig === '') continue;
    let c = resolved.get(sig);
    if (!c) {
      c = resolve(index, sets, table, ws, id, wanted, allowed);
      resolved.set(sig, c);
    }
    if (c.resources.length === 0) continue;
    names.push(principal);
    cells.push(c);
  }
  return { format: COMPACT_FORMAT, principals: names, cells, resources: index.order, sets: table.sets };
}

/** The rows: the compact table expanded, registered as such (the blast radius then asks for the compact form). */
export const effective: (model: AccessModel, query?: EffectiveQuery) => EffectiveRow[] = expandingEffective(effectiveCompact);
