/**
 * The indexes behind the Proxmox resolver (resolve.ts), and `AccessControl.pm::roles()` run for one
 * subject over a whole tree of paths at once.
 *
 * `roles()` walks a path from `/` down and, at each level with an entry for the subject, replaces what it
 * had. So the roles on a path are those of its deepest level that has an applicable entry: the path itself
 * (every entry there counts) or, above it, a level with propagating entries. One pass over the path tree
 * in parent-before-child order computes, for every node, both what the node itself gets and what it hands
 * down to its children, touching only the few nodes where the subject or one of its groups has an entry.
 * Nodes without an entry share their parent's `Roles` object, which lets later steps (pool roles,
 * privileges, token intersection) be computed once per distinct role set instead of once per path.
 */
import type { AccessModel, Principal } from '../../domain/access/model.ts';
import { pveNative } from './native.ts';
import { NO_ACCESS } from './privileges.ts';
import { classifyUgid, isLevel, parentPath, pathLevels } from './paths.ts';
import { poolIndexOf } from './resources.ts';
import type { PoolIndex } from './resources.ts';

/** Role name → ids of the grants that set it. */
export type RoleSet = ReadonlyMap<string, ReadonlySet<string>>;

/** Privileges in code-unit order, each with the sorted, frozen ids of the grants behind it. */
export interface Template {
  readonly privs: readonly string[];
  readonly because: ReadonlyArray<readonly string[]>;
}

/**
 * A role set the walk produced for one subject. Objects are per subject (never shared between subjects),
 * so the caches resolve.ts fills on them live exactly as long as that subject's evaluation.
 */
export interface Roles {
  readonly set: RoleSet;
  /** The set after `roles()`'s last step: `NoAccess` alone when it is present, else this same object. */
  result: Roles;
  /** Its privileges (resolve.ts). */
  privs: Template | undefined;
  /** Pool role set → the regular ∪ pool combination (resolve.ts). */
  withPools: Map<Roles, Roles> | undefined;
  /** Id of its privileges in the compact table being built (resolve.ts). */
  setId: number | undefined;
}

interface IndexedGrant { id: string; role: string; resource: string; propagate: boolean }

export interface ModelIndex {
  /** User and token (anything not a group) → its ACL entries. */
  ownGrants: Map<string, IndexedGrant[]>;
  /** Group → its ACL entries. */
  groupGrants: Map<string, IndexedGrant[]>;
  rolePrivs: Map<string, readonly string[]>;
  principals: Map<string, Principal>;
  pools: PoolIndex;
  nowMs: number;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** What `modelIndex` builds from a model, kept per model object (with the parts it was built from). */
interface BuiltIndex {
  from: Pick<AccessModel, 'grants' | 'roles' | 'principals' | 'native'>;
  index: Omit<ModelIndex, 'nowMs'>;
  asOf: string | undefined;
}

const indexes = new WeakMap<AccessModel, BuiltIndex>();

/**
 * The index of a model. Models are treated as immutable (applyChange returns a new one), so the index is
 * built once per model object (rebuilt if one of its grants, roles, principals or native is replaced);
 * `nowMs` is not part of what is kept.
 */
export function modelIndex(model: AccessModel, nowMs?: number): ModelIndex {
  const built = builtIndex(model);
  return { ...built.index, nowMs: nowMs ?? (built.asOf ? Date.parse(built.asOf) : Date.now()) };
}

function builtIndex(model: AccessModel): BuiltIndex {
  let built = indexes.get(model);
  if (!built || built.from.grants !== model.grants || built.from.roles !== model.roles || built.from.principals !== model.principals || built.from.native !== model.native) {
    const d = derivations.get(model);
    built = d ? deriveIndex(model, d.before, d.touched) : buildIndex(model);
    indexes.set(model, built);
  }
  return built;
}

/** Models made by applyChange, with the model they were changed from and the principals whose grants changed. */
const derivations = new WeakMap<AccessModel, { before: AccessModel; touched: ReadonlySet<string> }>();

/**
 * Records that `after` differs from `before` only in its roles, in its resources and in the grants of
 * `touched` (grant principals as the grants name them): its index, when asked for, is then `before`'s
 * with those principals' entries re-read from `after.grants`, not a new walk over every grant.
 */
export function derivedModel(after: AccessModel, before: AccessModel, touched: ReadonlySet<string>): void {
  derivations.set(after, { before, touched });
}

function deriveIndex(model: AccessModel, before: AccessModel, touched: ReadonlySet<string>): BuiltIndex {
  if (model.principals !== before.principals || model.native !== before.native) return buildIndex(model);
  const base = builtIndex(before).index;
  const ownGrants = new Map(base.ownGrants);
  const groupGrants = new Map(base.groupGrants);
  for (const p of touched) {
    ownGrants.delete(p);
    groupGrants.delete(p);
  }
  const isGroup = new Map<string, boolean>();
  for (const g of model.grants) {
    if (!touched.has(g.principal)) continue;
    let group = isGroup.get(g.principal);
    if (group === undefined) isGroup.set(g.principal, (group = classifyUgid(g.principal)?.kind === 'group'));
    push(group ? groupGrants : ownGrants, g.principal, { id: g.id, role: g.role ?? '', resource: g.resource, propagate: Boolean(g.propagate) });
  }
  const native = pveNative(model);
  return {
    from: { grants: model.grants, roles: model.roles, principals: model.principals, native: model.native },
    index: { ownGrants, groupGrants, rolePrivs: new Map(model.roles.map((r) => [r.name, r.privileges])), principals: base.principals, pools: poolIndexOf(native.pools) },
    asOf: native.asOf,
  };
}

function buildIndex(model: AccessModel): BuiltIndex {
  const ownGrants = new Map<string, IndexedGrant[]>();
  const groupGrants = new Map<string, IndexedGrant[]>();
  const isGroup = new Map<string, boolean>();
  for (const g of model.grants) {
    const entry: IndexedGrant = { id: g.id, role: g.role ?? '', resource: g.resource, propagate: Boolean(g.propagate) };
    let group = isGroup.get(g.principal);
    if (group === undefined) isGroup.set(g.principal, (group = classifyUgid(g.principal)?.kind === 'group'));
    push(group ? groupGrants : ownGrants, g.principal, entry);
  }
  const native = pveNative(model);
  return {
    from: { grants: model.grants, roles: model.roles, principals: model.principals, native: model.native },
    index: {
      ownGrants,
      groupGrants,
      rolePrivs: new Map(model.roles.map((r) => [r.name, r.privileges])),
      principals: new Map(model.principals.map((p) => [p.id, p])),
      pools: poolIndexOf(native.pools),
    },
    asOf: native.asOf,
  };
}

/** The paths asked about, with every level above them and the pool paths that hold them. */
export interface PathTable {
  paths: string[];
  /** Node of the level above (-1 for `/`); parents always come before their children. */
  parent: number[];
  /** False for a path `roles()` never meets as a level of itself (not normalized): no entry is exact there. */
  canonical: boolean[];
  /** Nodes of `/pool/<p>` for the pools holding a `/vms/<id>` or `/storage/<id>` node. */
  pools: Array<readonly number[] | undefined>;
  index: Map<string, number>;
  /** Per-node scratch of the subject being walked (kept empty between walks). */
  scratch: Array<Entries | undefined>;
}

export interface Entries { ownAll: IndexedGrant[]; ownProp: IndexedGrant[]; groupAll: IndexedGrant[]; groupProp: IndexedGrant[] }

const POOLED = /^\/(vms|storage)\/([^/]+)$/;

export function pathTable(idx: ModelIndex, paths: Iterable<string>): PathTable {
  const t: PathTable = { paths: [], parent: [], canonical: [], pools: [], index: new Map(), scratch: [] };
  const ensure = (path: string): number => {
    const known = t.index.get(path);
    if (known !== undefined) return known;
    const canonical = isLevel(path);
    // `roles()` walks the levels of a non-normalized path as if it were a child of its last level.
    const above = canonical ? parentPath(path) : pathLevels(path).at(-1);
    const parent = above === undefined ? -1 : ensure(above);
    const node = t.paths.length;
    t.paths.push(path);
    t.parent.push(parent);
    t.canonical.push(canonical);
    t.pools.push(undefined);
    t.scratch.push(undefined);
    t.index.set(path, node);
    return node;
  };
  for (const path of paths) {
    const node = ensure(path);
    const m = POOLED.exec(path);
    const names = m ? (m[1] === 'vms' ? idx.pools.vms : idx.pools.storage).get(m[2]!) : undefined;
    if (names) t.pools[node] = names.map((name) => ensure(`/pool/${name}`));
  }
  return t;
}

export function makeRoles(set: RoleSet): Roles {
  const r: Roles = { set, result: undefined as unknown as Roles, privs: undefined, withPools: undefined, setId: undefined };
  const noAccess = set.get(NO_ACCESS);
  r.result = noAccess && set.size > 1 ? makeRoles(new Map([[NO_ACCESS, noAccess]])) : r;
  return r;
}

export function rolesOfEntries(entries: readonly IndexedGrant[]): Roles {
  const set = new Map<string, Set<string>>();
  for (const g of entries) {
    const ids = set.get(g.role);
    if (ids) ids.add(g.id);
    else set.set(g.role, new Set([g.id]));
  }
  return makeRoles(set);
}

export function collect(t: PathTable, grants: readonly IndexedGrant[] | undefined, own: boolean, touched: number[]): void {
  for (const g of grants ?? []) {
    const node = t.index.get(g.resource);
    if (node === undefined) continue; // not a level of any path asked about
    let e = t.scratch[node];
    if (!e) {
      t.scratch[node] = e = { ownAll: [], ownProp: [], groupAll: [], groupProp: [] };
      touched.push(node);
    }
    (own ? e.ownAll : e.groupAll).push(g);
    if (g.propagate) (own ? e.ownProp : e.groupProp).push(g);
  }
}

/**
 * One level of `roles()` where the subject (or a group of it) has entries: what the level itself gets and
 * what it hands down, from what it inherited.
 */
export function levelStep(canonical: boolean, e: Entries, inherited: Roles): [here: Roles, down: Roles] {
  // At the path itself every entry applies; own entries replace group ones (user privs override group privs).
  const exact = !canonical ? [] : e.ownAll.length > 0 ? e.ownAll : e.groupAll;
  const here = exact.length > 0 ? rolesOfEntries(exact) : inherited;
  // Below it only propagating entries count.
  const prop = e.ownProp.length > 0 ? e.ownProp : e.groupProp;
  const samePropagated = exact.length === prop.length && (exact === e.ownAll) === (prop === e.ownProp);
  return [here, prop.length === 0 ? inherited : samePropagated && exact.length > 0 ? here : rolesOfEntries(prop)];
}

/**
 * `roles()` of `subject` on every node of the table (before its final NoAccess step: see `Roles.result`).
 * The subject's own entries are a user's or a token's; its groups are its `memberOf`.
 */
export function walkRoles(idx: ModelIndex, t: PathTable, subject: string): Roles[] {
  const touched: number[] = [];
  collect(t, idx.ownGrants.get(subject), true, touched);
  for (const group of new Set(idx.principals.get(subject)?.memberOf ?? [])) collect(t, idx.groupGrants.get(group), false, touched);
  const empty = makeRoles(new Map());
  const n = t.paths.length;
  const res = new Array<Roles>(n);
  const down = new Array<Roles>(n);
  for (let i = 0; i < n; i++) {
    const p = t.parent[i]!;
    const inherited = p < 0 ? empty : down[p]!;
    const e = t.scratch[i];
    if (e === undefined) {
      res[i] = inherited;
      down[i] = inherited;
      continue;
    }
    const [here, below] = levelStep(t.canonical[i]!, e, inherited);
    res[i] = here;
    down[i] = below;
  }
  for (const node of touched) t.scratch[node] = undefined;
  return res;
}
