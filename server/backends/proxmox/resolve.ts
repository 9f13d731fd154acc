/**
 * Effective access, exactly as Proxmox VE computes it. Sources (pve-access-control):
 * - `AccessControl.pm::roles`: walk the path from `/` down; at each level the subject's own ACL entries
 *   (a token's, or a user's) replace what was inherited, else the union of its groups' entries does;
 *   an entry counts above the target only if it propagates; `NoAccess` anywhere in the result wins alone.
 * - `RPCEnvironment.pm::compile_acl_path`: roles on `/pool/<p>` are added (never propagated) to the VMs
 *   and storages of the pool, unless the regular ACL already set the role; a regular `NoAccess` beats
 *   pool roles, a pool `NoAccess` beats regular ones.
 * - `RPCEnvironment.pm::permissions`: `root@pam` has every privilege; a token without privilege
 *   separation has exactly its user's privileges, a privilege-separated one the intersection of its own
 *   and its user's.
 * Accord's decision (Proxmox checks these at login and per API-token request, `check_user_enabled` and
 * `verify_token`): a disabled user, an expired user, an expired token and the tokens of a disabled or
 * expired user have no access at all. A user that no `user:` line defines has none either: it cannot
 * authenticate. Groups are not subjects: asking about a group yields no rows.
 *
 * How (issue 22): the result is a compact table (server/domain/access/compact.ts). Per subject, `roles()`
 * is evaluated only at the levels where the subject or one of its groups has entries (acl-index.ts
 * `levelStep`, the step `walkRoles` takes); every other path takes what the nearest such level above hands
 * down, painted over depth-first ranges of the path tree, and only the VMs and storages of pools where the
 * subject holds a role get the pool step. Privileges are computed once per distinct role set and interned
 * as the table's sets; the token intersection once per pair of sets. `effectiveRows` expands the table.
 * Kept between calls (models are immutable): the model index per model object (acl-index.ts; the model
 * applyChange returns derives its index from the one it was changed from) and the path table with its
 * depth-first layout per pool index and paths asked about, which both sides of a blast radius share.
 * The pair-by-pair port this replaces is kept as the test reference (test/backends/proxmox/
 * reference-resolve.ts) and must agree with it row for row.
 */
import type { AccessModel, EffectiveQuery, EffectiveRow, Principal } from '../../domain/access/model.ts';
import { NO_ACCESS, ROOT_USER, VALID_PRIVILEGES } from './privileges.ts';
import { collect, levelStep, makeRoles, modelIndex, pathTable, walkRoles } from './acl-index.ts';
import type { ModelIndex, PathTable, RoleSet, Roles, Template } from './acl-index.ts';
import { CellPacker, COMPACT_FORMAT, EMPTY_SET, expand, NO_CELLS } from '../../domain/access/compact.ts';
import type { Cells, CompactTable, PrivilegeSet } from '../../domain/access/compact.ts';
import { setOf } from '../../domain/access/compact.ts';

const NONE: Template = Object.freeze({ privs: Object.freeze([]), because: Object.freeze([]) });

function privsOf(idx: ModelIndex, set: RoleSet): Template {
  const byPriv = new Map<string, Set<string>>();
  for (const [role, ids] of set) {
    for (const p of idx.rolePrivs.get(role) ?? []) {
      const acc = byPriv.get(p);
      if (acc) for (const id of ids) acc.add(id);
      else byPriv.set(p, new Set(ids));
    }
  }
  if (byPriv.size === 0) return NONE;
  const privs = [...byPriv.keys()].sort();
  return { privs, because: privs.map((p) => Object.freeze([...byPriv.get(p)!].sort())) };
}

/** `compile_acl_path`'s role step: regular roles plus those of the pools holding the path (both after `roles()`). */
function combine(regular: Roles, pool: Roles): Roles {
  if (pool.set.size === 0 || regular.set.has(NO_ACCESS)) return regular; // NoAccess must not be trumped by pool ACLs
  let cache = regular.withPools;
  if (!cache) regular.withPools = cache = new Map();
  let out = cache.get(pool);
  if (out) return out;
  const poolNoAccess = pool.set.get(NO_ACCESS);
  if (poolNoAccess) out = makeRoles(new Map([[NO_ACCESS, poolNoAccess]])); // but pool NoAccess trumps regular ACLs
  else {
    const set = new Map(regular.set);
    for (const [role, ids] of pool.set) if (!set.has(role)) set.set(role, ids);
    out = makeRoles(set);
  }
  cache.set(pool, out);
  return out;
}

/** Union of the role sets of several pools (a storage may sit in many). */
function poolUnion(roles: readonly Roles[]): Roles {
  const set = new Map<string, Set<string>>();
  for (const r of roles) {
    for (const [role, ids] of r.set) {
      const acc = set.get(role);
      if (acc) for (const id of ids) acc.add(id);
      else set.set(role, new Set(ids));
    }
  }
  return makeRoles(set);
}

/** Privileges in both, each with the grants of both sides (privilege separation). */
function intersect(own: Template, owner: Template): Template {
  const privs: string[] = [];
  const because: Array<readonly string[]> = [];
  let j = 0;
  for (let i = 0; i < own.privs.length; i++) {
    const p = own.privs[i]!;
    while (j < owner.privs.length && owner.privs[j]! < p) j++;
    if (j < owner.privs.length && owner.privs[j] === p) {
      privs.push(p);
      because.push(Object.freeze([...new Set([...own.because[i]!, ...owner.because[j]!])].sort()));
    }
  }
  return privs.length === 0 ? NONE : { privs, because };
}

function isLive(idx: ModelIndex, p: Principal | undefined): p is Principal {
  if (!p || p.enabled === false) return false;
  return !(p.expiresAt && Date.parse(p.expiresAt) < idx.nowMs);
}

/** The sorted paths asked about and the tree over them in depth-first order, built once per call. */
interface Engine {
  idx: ModelIndex;
  table: PathTable;
  /** Paths asked about, sorted: the table's resources. */
  paths: string[];
  /** Node → position in `paths`, or -1 for a level nobody asked about. */
  position: Int32Array;
  /** Depth-first pre-order: node → its index, that index → the node, node → end of its subtree. */
  pre: Int32Array;
  dfs: Int32Array;
  end: Int32Array;
  /** `/pool/<p>` nodes holding a node of the table, with the nodes they hold. */
  poolNodes: number[];
  poolMembers: Array<number[] | undefined>;
  sets: PrivilegeSet[];
  setKeys: Map<string, number>;
  /** Own set → owner's set → the intersection's set. */
  intersections: Map<number, Map<number, number>>;
  /** Per-subject scratch, valid where `mark`/`over` equal the subject's generation. */
  generation: number;
  mark: Uint32Array;
  here: Array<Roles | undefined>;
  down: Array<Roles | undefined>;
  over: Uint32Array;
  overSet: Uint32Array;
  setAt: Uint32Array;
  positions: Uint32Array;
  sorted: Uint32Array;
  codes: Uint32Array;
  packer: CellPacker;
  cells: Map<string, Cells | undefined>;
  root: Cells | undefined;
}

/** The parts of an engine that depend only on the paths asked about and the pools: the path table and its tree. */
type Layout = Pick<Engine, 'table' | 'paths' | 'position' | 'pre' | 'dfs' | 'end' | 'poolNodes' | 'poolMembers'>;

/**
 * The last layout per pool index. The two sides of a blast radius ask about the same paths with the same
 * pools (applyChange keeps them), and so do repeated calls on one model: the 50,000-path table is built once.
 * Its `scratch` is emptied after every walk; a call that throws drops the layout (`compactTable`).
 */
const layouts = new WeakMap<object, Layout>();

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Distinct and sorted (code units): `asked` itself when it already is (a blast radius asks that way). */
function sortedPaths(asked: Iterable<string>): string[] {
  if (Array.isArray(asked)) {
    const xs = asked as readonly string[];
    let sorted = true;
    for (let i = 1; i < xs.length && sorted; i++) sorted = xs[i - 1]! < xs[i]!;
    if (sorted) return xs.slice();
  }
  return [...new Set(asked)].sort();
}

function layoutOf(idx: ModelIndex, asked: Iterable<string>): Layout {
  const paths = sortedPaths(asked);
  const known = layouts.get(idx.pools);
  if (known && sameStrings(known.paths, paths)) return known;
  const layout = buildLayout(idx, paths);
  layouts.set(idx.pools, layout);
  return layout;
}

function buildLayout(idx: ModelIndex, paths: string[]): Layout {
  const table = pathTable(idx, paths);
  const n = table.paths.length;
  const position = new Int32Array(n).fill(-1);
  paths.forEach((p, k) => { position[table.index.get(p)!] = k; });
  // Children in compressed rows, then an iterative pre-order walk.
  const count = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) if (table.parent[i]! >= 0) count[table.parent[i]! + 1]!++;
  for (let i = 0; i < n; i++) count[i + 1]! += count[i]!;
  const children = new Int32Array(Math.max(0, n - 1));
  const fill = count.slice(0, n);
  for (let i = 0; i < n; i++) {
    const p = table.parent[i]!;
    if (p >= 0) children[fill[p]!++] = i;
  }
  const pre = new Int32Array(n);
  const dfs = new Int32Array(n);
  const end = new Int32Array(n);
  let next = 0;
  const stack: number[] = [];
  for (let r = 0; r < n; r++) {
    if (table.parent[r]! >= 0) continue;
    stack.push(r);
    while (stack.length > 0) {
      const x = stack[stack.length - 1]!;
      if (x >= 0) {
        stack[stack.length - 1] = ~x; // come back to close its subtree
        pre[x] = next;
        dfs[next++] = x;
        for (let c = count[x + 1]! - 1; c >= count[x]!; c--) stack.push(children[c]!);
      } else {
        end[~x] = next;
        stack.pop();
      }
    }
  }
  const poolMembers = new Array<number[] | undefined>(n);
  const poolNodes: number[] = [];
  for (let i = 0; i < n; i++) {
    for (const p of table.pools[i] ?? []) {
      let m = poolMembers[p];
      if (!m) {
        poolMembers[p] = m = [];
        poolNodes.push(p);
      }
      m.push(i);
    }
  }
  return { table, paths, position, pre, dfs, end, poolNodes, poolMembers };
}

function engine(idx: ModelIndex, asked: Iterable<string>): Engine {
  const layout = layoutOf(idx, asked);
  const n = layout.table.paths.length;
  const k = layout.paths.length;
  return {
    idx, ...layout,
    sets: [EMPTY_SET], setKeys: new Map(), intersections: new Map(),
    generation: 0, mark: new Uint32Array(n), here: new Array(n), down: new Array(n), over: new Uint32Array(n), overSet: new Uint32Array(n),
    setAt: new Uint32Array(k), positions: new Uint32Array(k), sorted: new Uint32Array(k),
    codes: new Uint32Array(k), packer: new CellPacker(k), cells: new Map(), root: undefined,
  };
}

/** Id in the table of the privileges a final role set gives (0: none). Role sets are interned by content. */
function setIdOf(e: Engine, r: Roles): number {
  if (r.setId !== undefined) return r.setId;
  if (r.set.size === 0) return (r.setId = 0);
  const key = [...r.set.keys()].sort().map((role) => `${role}\u0001${[...r.set.get(role)!].sort().join('\u0002')}`).join('\u0000');
  let id = e.setKeys.get(key);
  if (id === undefined) {
    const t = privsOf(e.idx, r.set);
    id = t.privs.length === 0 ? 0 : e.sets.push({ privileges: t.privs, because: t.because }) - 1;
    e.setKeys.set(key, id);
  }
  return (r.setId = id);
}

/** What `roles()` gives the subject being walked at `node`: its own level's, or what the nearest level with entries hands down. */
function valueAt(e: Engine, node: number, empty: Roles): Roles {
  const gen = e.generation;
  if (e.mark[node] === gen) return e.here[node]!;
  for (let x = e.table.parent[node]!; x >= 0; x = e.table.parent[x]!) if (e.mark[x] === gen) return e.down[x]!;
  return empty;
}

/**
 * A user's (or a token's own) privileges on every path asked about, as cells. Only the levels where the
 * subject or one of its groups has entries are evaluated (`levelStep`, as `walkRoles` does); every other
 * path takes what the nearest such level above hands down, painted over depth-first ranges. VMs and
 * storages of a pool on which the subject holds a role get `compile_acl_path`'s pool step.
 */
function ownCells(e: Engine, subject: string): Cells {
  const { idx, table, pre, end, dfs } = e;
  const gen = ++e.generation;
  const touched: number[] = [];
  collect(table, idx.ownGrants.get(subject), true, touched);
  for (const group of new Set(idx.principals.get(subject)?.memberOf ?? [])) collect(table, idx.groupGrants.get(group), false, touched);
  touched.sort((a, b) => pre[a]! - pre[b]!);
  const empty = makeRoles(new Map());
  const stack: number[] = [];
  for (const t of touched) {
    while (stack.length > 0 && end[stack[stack.length - 1]!]! <= pre[t]!) stack.pop();
    const inherited = stack.length > 0 ? e.down[stack[stack.length - 1]!]! : empty;
    const [here, below] = levelStep(table.canonical[t]!, table.scratch[t]!, inherited);
    e.here[t] = here;
    e.down[t] = below;
    e.mark[t] = gen;
    stack.push(t);
  }
  for (const t of touched) table.scratch[t] = undefined;

  // Pool roles: only the members of pools where the subject holds something can change.
  const affected: number[] = [];
  for (const p of e.poolNodes) {
    if (valueAt(e, p, empty).result.set.size === 0) continue;
    for (const m of e.poolMembers[p]!) {
      if (e.over[m] !== gen) {
        e.over[m] = gen;
        affected.push(m);
      }
    }
  }
  for (const m of affected) {
    const pools = table.pools[m]!;
    const pool = pools.length === 1 ? valueAt(e, pools[0]!, empty).result : poolUnion(pools.map((p) => valueAt(e, p, empty).result));
    e.overSet[m] = setIdOf(e, combine(valueAt(e, m, empty).result, pool));
  }

  let n = 0;
  const emit = (node: number, s: number): void => {
    const k = e.position[node]!;
    if (k < 0 || s === 0) return;
    e.setAt[k] = s;
    e.positions[n++] = k;
  };
  const paint = (from: number, to: number, roles: Roles): void => {
    const s = setIdOf(e, roles.result);
    if (s === 0) return;
    for (let i = from; i < to; i++) {
      const node = dfs[i]!;
      if (e.over[node] !== gen) emit(node, s);
    }
  };
  let at = 0;
  stack.length = 0;
  for (const t of touched) {
    while (stack.length > 0 && end[stack[stack.length - 1]!]! <= pre[t]!) {
      const top = stack.pop()!;
      paint(at, end[top]!, e.down[top]!);
      at = end[top]!;
    }
    if (stack.length > 0) paint(at, pre[t]!, e.down[stack[stack.length - 1]!]!);
    if (e.over[t] !== gen) emit(t, setIdOf(e, e.here[t]!.result));
    at = pre[t]! + 1;
    stack.push(t);
  }
  while (stack.length > 0) {
    const top = stack.pop()!;
    paint(at, end[top]!, e.down[top]!);
    at = end[top]!;
  }
  for (const m of affected) emit(m, e.overSet[m]!);
  for (const t of touched) e.here[t] = e.down[t] = undefined;

  if (n === 0) return NO_CELLS;
  const positions = e.positions.subarray(0, n);
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = positions[i - 1]! < positions[i]!;
  if (!sorted) positions.sort();
  for (let i = 0; i < n; i++) e.sorted[i] = e.setAt[positions[i]!]!;
  return e.packer.pack(e.positions, e.sorted, e.codes, n);
}

/** The cells both hold, each with the privileges of both (privilege separation). */
function intersectCells(e: Engine, own: Cells, owner: Cells): Cells {
  let n = 0;
  let j = 0;
  for (let i = 0; i < own.resources.length; i++) {
    const r = own.resources[i]!;
    while (j < owner.resources.length && owner.resources[j]! < r) j++;
    if (j === owner.resources.length) break;
    if (owner.resources[j] !== r) continue;
    const a = setOf(own, i);
    const b = setOf(owner, j);
    let byOwner = e.intersections.get(a);
    if (!byOwner) e.intersections.set(a, (byOwner = new Map()));
    let s = byOwner.get(b);
    if (s === undefined) {
      const both = intersect({ privs: e.sets[a]!.privileges, because: e.sets[a]!.because }, { privs: e.sets[b]!.privileges, because: e.sets[b]!.because });
      s = both.privs.length === 0 ? 0 : e.sets.push({ privileges: both.privs, because: both.because }) - 1;
      byOwner.set(b, s);
    }
    if (s !== 0) {
      e.positions[n] = r;
      e.sorted[n++] = s;
    }
  }
  return e.packer.pack(e.positions, e.sorted, e.codes, n);
}

/** Port of `permissions()` over every path asked about; undefined when the subject cannot hold anything. */
function cellsOf(e: Engine, subject: string): Cells | undefined {
  if (subject === ROOT_USER) {
    if (!e.root) {
      const privileges = [...VALID_PRIVILEGES].sort();
      const because = Object.freeze([`builtin:${ROOT_USER}`]);
      const s = e.sets.push({ privileges, because: privileges.map(() => because) }) - 1;
      const all = e.paths.length;
      for (let k = 0; k < all; k++) {
        e.positions[k] = k;
        e.sorted[k] = s;
      }
      e.root = e.packer.pack(e.positions, e.sorted, e.codes, all);
    }
    return e.root;
  }
  if (e.cells.has(subject)) return e.cells.get(subject);
  let out: Cells | undefined;
  const principal = e.idx.principals.get(subject);
  if (!isLive(e.idx, principal) || principal.kind === 'group') out = undefined;
  else if (principal.kind === 'user') out = ownCells(e, subject);
  else {
    const owner = cellsOf(e, principal.owner ?? '');
    out = !principal.privsep || !owner ? owner : intersectCells(e, ownCells(e, subject), owner);
  }
  e.cells.set(subject, out);
  return out;
}

/** The compact effective table for the query (default: every user and token × every resource in the model). */
export function compactTable(model: AccessModel, query: EffectiveQuery = {}, nowMs?: number): CompactTable {
  const idx = modelIndex(model, nowMs);
  const subjects = query.principals ?? model.principals.filter((p) => p.kind !== 'group').map((p) => p.id);
  const e = engine(idx, query.resources ?? model.resources.map((r) => r.id));
  const principals: string[] = [];
  const cells: Cells[] = [];
  try {
    for (const subject of [...new Set(subjects)].sort()) {
      const c = cellsOf(e, subject);
      if (!c || c.resources.length === 0) continue;
      principals.push(subject);
      cells.push(c);
    }
  } catch (err) {
    layouts.delete(idx.pools); // its path table's scratch may hold a half-done walk
    throw err;
  }
  return { format: COMPACT_FORMAT, principals, cells, resources: e.paths, sets: e.sets };
}

/** Effective rows for the query (default: every user and token × every resource in the model). */
export function effectiveRows(model: AccessModel, query: EffectiveQuery = {}, nowMs?: number): EffectiveRow[] {
  return expand(compactTable(model, query, nowMs));
}

/**
 * `AccessControl.pm::roles()` on its own: no pools, no token ∩ user. Upstream's perm tests check both
 * this and `permissions()`; exposing it lets Accord's tests port theirs one to one.
 */
export function rolesOf(model: AccessModel, subject: string, path: string): string[] {
  if (subject === ROOT_USER) return ['Administrator'];
  const idx = modelIndex(model);
  const p = idx.principals.get(subject);
  const who = p?.kind === 'token' && !p.privsep && p.owner ? p.owner : subject;
  const table = pathTable(idx, [path]);
  return [...walkRoles(idx, table, who)[table.index.get(path)!]!.result.set.keys()].sort();
}
