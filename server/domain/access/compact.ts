/**
 * A compact effective table (issue 22): the rows `Backend.effective` returns, without one object per row.
 *
 * - Privilege sets are interned once per table: `sets[i]` is a sorted list of native privileges, each with
 *   the (frozen, shared) ids of the grants behind it. `sets[0]` is always the empty set.
 * - Resources are a table of ids; a row's resource is a position in it. The positions follow the backend's
 *   row order (Proxmox: paths sorted by code unit; vSphere: the inventory's topological order).
 * - Per principal, two parallel typed columns: the positions of the resources where it holds something
 *   (ascending; 2 bytes each up to 65,536 resources) and a code per position into the principal's palette
 *   of set ids (1 byte each up to 256 distinct sets). Columns are views into shared arena buffers.
 *   Principals whose access is necessarily the same share one `Cells` object (a Proxmox token without
 *   privilege separation and its user; vSphere principals with the same relevant identities).
 * - `because` is kept by reference, per privilege of a set, never per row.
 *
 * What the query does not name is not computed: `effectiveCompact(model, { principals })` resolves those
 * principals only, `{ resources }` only those resources (and what they inherit from).
 *
 * `expand(table)` yields exactly the rows of `effective(model, query)`: same rows, same order, same
 * `because`. Principals without any row are absent from `principals`.
 */
import type { AccessModel, Backend, EffectiveQuery, EffectiveRow } from './model.ts';

export const COMPACT_FORMAT = 'accord-compact-effective/1' as const;

/** Native privileges (sorted by code unit, distinct) with the ids of the grants behind each. */
export interface PrivilegeSet {
  readonly privileges: readonly string[];
  readonly because: ReadonlyArray<readonly string[]>;
}

/** An unsigned integer column, as narrow as its values allow. */
export type Column = Uint8Array | Uint16Array | Uint32Array;

/**
 * One principal's cells: `resources[i]` (ascending positions into the table's resources) holds the set
 * `palette[codes[i]]`. Positions take 1, 2 or 4 bytes by the number of resources, codes by the number of
 * distinct sets the principal holds (usually one byte).
 */
export interface Cells {
  readonly resources: Column;
  readonly palette: Uint32Array;
  readonly codes: Column;
}

/** The set id of cell `i`. */
export const setOf = (c: Cells, i: number): number => c.palette[c.codes[i]!]!;

export interface CompactTable {
  readonly format: typeof COMPACT_FORMAT;
  /** Principals holding at least one privilege, in row order. */
  readonly principals: readonly string[];
  /** Parallel to `principals`; equal access may share one object. */
  readonly cells: readonly Cells[];
  /** Resource ids by position, in row order. May list resources nobody holds anything on. */
  readonly resources: readonly string[];
  /** Interned privilege sets; `sets[0]` is empty and no cell refers to an empty set. */
  readonly sets: readonly PrivilegeSet[];
}

/**
 * A backend that can compute the compact table directly. `effectiveCompact(model, query)` takes the same
 * query as `effective` (principals and resources asked about; either absent means all) and
 * `expand(effectiveCompact(m, q))` deep-equals `effective(m, q)`.
 */
export interface CompactBackend extends Backend {
  effectiveCompact(model: AccessModel, query?: EffectiveQuery): CompactTable;
}

export function isCompactBackend(b: Backend): b is CompactBackend {
  return typeof (b as Partial<CompactBackend>).effectiveCompact === 'function';
}

type ColumnType = typeof Uint8Array | typeof Uint16Array | typeof Uint32Array;

const widthFor = (max: number): ColumnType => (max <= 0xff ? Uint8Array : max <= 0xffff ? Uint16Array : Uint32Array);

/** Views into large shared buffers: one ArrayBuffer per principal costs far more to allocate and collect than its bytes. */
class Arena {
  readonly #type: ColumnType;
  #chunk: Column;
  #used = 0;

  constructor(type: ColumnType) {
    this.#type = type;
    this.#chunk = new type(0);
  }

  take(n: number): Column {
    if (this.#used + n > this.#chunk.length) {
      this.#chunk = new this.#type(Math.max(1 << 18, n));
      this.#used = 0;
    }
    const out = this.#chunk.subarray(this.#used, this.#used + n);
    this.#used += n;
    return out;
  }
}

/**
 * Packs cells computed into scratch columns (positions ascending, full set ids) into their narrow form:
 * a palette of the principal's distinct sets and one narrow code per cell, stored in shared arenas.
 */
export class CellPacker {
  readonly #positions: Arena;
  readonly #arenas = new Map<ColumnType, Arena>();
  #codeOf = new Uint32Array(1024);
  #stampOf = new Uint32Array(1024);
  #generation = 0;
  readonly #palette: number[] = [];

  /** `resourceCount`: how many positions the table has. */
  constructor(resourceCount: number) {
    this.#positions = new Arena(widthFor(resourceCount - 1));
  }

  #arena(type: ColumnType): Arena {
    let a = this.#arenas.get(type);
    if (!a) this.#arenas.set(type, (a = new Arena(type)));
    return a;
  }

  /** Cells of `positions[0..n)` holding `sets[0..n)`; `codes` is scratch at least `n` long. */
  pack(positions: Uint32Array, sets: Uint32Array, codes: Uint32Array, n: number): Cells {
    if (n === 0) return NO_CELLS;
    const gen = ++this.#generation;
    const palette = this.#palette;
    palette.length = 0;
    for (let i = 0; i < n; i++) {
      const s = sets[i]!;
      if (s >= this.#stampOf.length) {
        const size = Math.max(s + 1, this.#stampOf.length * 2);
        const stamps = new Uint32Array(size);
        stamps.set(this.#stampOf);
        const codeOf = new Uint32Array(size);
        codeOf.set(this.#codeOf);
        this.#stampOf = stamps;
        this.#codeOf = codeOf;
      }
      if (this.#stampOf[s] !== gen) {
        this.#stampOf[s] = gen;
        this.#codeOf[s] = palette.length;
        palette.push(s);
      }
      codes[i] = this.#codeOf[s]!;
    }
    const resources = this.#positions.take(n);
    resources.set(positions.subarray(0, n));
    const narrow = this.#arena(widthFor(palette.length - 1)).take(n);
    narrow.set(codes.subarray(0, n));
    return { resources, palette: Uint32Array.from(palette), codes: narrow };
  }
}

/** A principal holding nothing. */
export const NO_CELLS: Cells = Object.freeze({ resources: new Uint32Array(0), palette: new Uint32Array(0), codes: new Uint8Array(0) });

export const EMPTY_SET: PrivilegeSet = Object.freeze({ privileges: Object.freeze([]), because: Object.freeze([]) });

/** Number of rows the table stands for. */
export function rowCount(t: CompactTable): number {
  const perSet = t.sets.map((s) => s.privileges.length);
  const memo = new Map<Cells, number>();
  let n = 0;
  for (const c of t.cells) {
    let k = memo.get(c);
    if (k === undefined) {
      k = 0;
      const perCode = Array.from(c.palette, (id) => perSet[id]!);
      for (let i = 0; i < c.codes.length; i++) k += perCode[c.codes[i]!]!;
      memo.set(c, k);
    }
    n += k;
  }
  return n;
}

/** Number of (principal, resource) cells. */
export function cellCount(t: CompactTable): number {
  let n = 0;
  for (const c of t.cells) n += c.resources.length;
  return n;
}

/** Calls `f` once per row, in row order, without building row objects. */
export function forEachRow(t: CompactTable, f: (principal: string, resource: string, privilege: string, because: readonly string[]) => void): void {
  for (let k = 0; k < t.principals.length; k++) {
    const principal = t.principals[k]!;
    const c = t.cells[k]!;
    for (let i = 0; i < c.resources.length; i++) {
      const resource = t.resources[c.resources[i]!]!;
      const s = t.sets[c.palette[c.codes[i]!]!]!;
      for (let j = 0; j < s.privileges.length; j++) f(principal, resource, s.privileges[j]!, s.because[j]!);
    }
  }
}

/** The rows, exactly as `effective()` returns them (their `because` arrays are the table's, shared and frozen). */
export function expand(t: CompactTable): EffectiveRow[] {
  const rows: EffectiveRow[] = [];
  for (let k = 0; k < t.principals.length; k++) {
    const principal = t.principals[k]!;
    const c = t.cells[k]!;
    for (let i = 0; i < c.resources.length; i++) {
      const resource = t.resources[c.resources[i]!]!;
      const s = t.sets[c.palette[c.codes[i]!]!]!;
      for (let j = 0; j < s.privileges.length; j++) rows.push({ principal, resource, privilege: s.privileges[j]!, because: s.because[j] as string[] });
    }
  }
  return rows;
}

/** Lookups on one table: a principal's cells and the privilege set at a (principal, resource). */
export class CompactIndex {
  readonly table: CompactTable;
  readonly #principal: Map<string, number>;
  readonly #resource: Map<string, number>;

  constructor(table: CompactTable) {
    this.table = table;
    this.#principal = new Map(table.principals.map((p, i) => [p, i]));
    this.#resource = new Map(table.resources.map((r, i) => [r, i]));
  }

  cellsOf(principal: string): Cells | undefined {
    const k = this.#principal.get(principal);
    return k === undefined ? undefined : this.table.cells[k];
  }

  /** What `principal` holds on `resource` (the empty set when nothing, or when either is not in the table). */
  at(principal: string, resource: string): PrivilegeSet {
    const c = this.cellsOf(principal);
    const r = this.#resource.get(resource);
    if (!c || r === undefined) return EMPTY_SET;
    const i = lowerBound(c.resources, r);
    return i < c.resources.length && c.resources[i] === r ? this.table.sets[setOf(c, i)]! : EMPTY_SET;
  }
}

export function lowerBound(xs: Column, x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Builds a compact table from rows grouped by principal, then resource (as every backend emits them).
 * Resources are numbered in an order consistent with every principal's resource order (a topological
 * merge of those orders, earliest first appearance first); rows that order two resources both ways are
 * refused. Sets are interned by content. For backends without `effectiveCompact` and for tests.
 */
export function compactFromRows(rows: readonly EffectiveRow[]): CompactTable {
  const sets: PrivilegeSet[] = [EMPTY_SET];
  const setIndex = new Map<string, number>([['', 0]]);
  const principals: string[] = [];
  const perPrincipal: [resources: string[], sets: number[]][] = [];
  let i = 0;
  while (i < rows.length) {
    const principal = rows[i]!.principal;
    const names: string[] = [];
    const ids: number[] = [];
    while (i < rows.length && rows[i]!.principal === principal) {
      const resource = rows[i]!.resource;
      const privileges: string[] = [];
      const because: (readonly string[])[] = [];
      while (i < rows.length && rows[i]!.principal === principal && rows[i]!.resource === resource) {
        privileges.push(rows[i]!.privilege);
        because.push(rows[i]!.because);
        i++;
      }
      const key = privileges.map((p, j) => `${p}\u0001${because[j]!.join('\u0002')}`).join('\u0000');
      let s = setIndex.get(key);
      if (s === undefined) {
        s = sets.length;
        sets.push({ privileges, because: because.map((b) => Object.freeze([...b])) });
        setIndex.set(key, s);
      }
      names.push(resource);
      ids.push(s);
    }
    if (principals.includes(principal)) throw new Error(`compactFromRows: the rows of ${principal} are not together`);
    principals.push(principal);
    perPrincipal.push([names, ids]);
  }
  // Resources in an order every principal's rows agree with: Kahn's algorithm over "comes right before".
  const first = new Map<string, number>();
  const after = new Map<string, Set<string>>();
  const pending = new Map<string, number>();
  for (const [names] of perPrincipal) {
    names.forEach((r, k) => {
      if (!first.has(r)) {
        first.set(r, first.size);
        pending.set(r, 0);
        after.set(r, new Set());
      }
      const prev = names[k - 1];
      if (prev !== undefined && !after.get(prev)!.has(r)) {
        after.get(prev)!.add(r);
        pending.set(r, pending.get(r)! + 1);
      }
    });
  }
  const resources: string[] = [];
  const ready = [...first.keys()].filter((r) => pending.get(r) === 0);
  while (ready.length > 0) {
    ready.sort((a, b) => first.get(b)! - first.get(a)!);
    const r = ready.pop()!;
    resources.push(r);
    for (const c of after.get(r)!) {
      const left = pending.get(c)! - 1;
      pending.set(c, left);
      if (left === 0) ready.push(c);
    }
  }
  if (resources.length < first.size) throw new Error('compactFromRows: the rows order some resources both ways');
  const position = new Map(resources.map((r, k) => [r, k]));
  const packer = new CellPacker(resources.length);
  const cells = perPrincipal.map(([names, ids]) => {
    const pos = Uint32Array.from(names, (r) => position.get(r)!);
    for (let j = 1; j < pos.length; j++) if (pos[j]! <= pos[j - 1]!) throw new Error('compactFromRows: a resource is listed twice for one principal');
    return packer.pack(pos, Uint32Array.from(ids), new Uint32Array(ids.length), ids.length);
  });
  return { format: COMPACT_FORMAT, principals, cells, resources, sets };
}

/** The compact table of any backend: its own `effectiveCompact`, or built from its rows. */
export function effectiveCompactOf(backend: Backend, model: AccessModel, query?: EffectiveQuery): CompactTable {
  return isCompactBackend(backend) ? backend.effectiveCompact(model, query) : compactFromRows(backend.effective(model, query));
}

type EffectiveCompact = (model: AccessModel, query?: EffectiveQuery) => CompactTable;

/** Row functions defined as the expansion of a compact one: `expandingEffective`'s results. */
const expansions = new WeakMap<object, EffectiveCompact>();

/**
 * `effective` defined as `expand(effectiveCompact(model, query))`, registered as such: callers that can
 * use the compact form (the blast radius) then ask `effectiveCompact` instead of building rows.
 */
export function expandingEffective(effectiveCompact: EffectiveCompact): (model: AccessModel, query?: EffectiveQuery) => EffectiveRow[] {
  const effective = (model: AccessModel, query?: EffectiveQuery): EffectiveRow[] => expand(effectiveCompact(model, query));
  expansions.set(effective, effectiveCompact);
  return effective;
}

/**
 * `backend.effectiveCompact` when `backend.effective` is exactly its expansion (`expandingEffective`), so
 * the two cannot disagree; undefined otherwise, e.g. for a wrapper that replaces `effective` alone.
 */
export function compactEffectiveOf(backend: Backend): EffectiveCompact | undefined {
  if (!isCompactBackend(backend)) return undefined;
  const f = expansions.get(backend.effective);
  return f !== undefined && f === backend.effectiveCompact ? f : undefined;
}
