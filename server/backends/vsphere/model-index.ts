/**
 * A read-only index over one AccessModel: resources in topological order (parents first), grants by
 * principal and resource, native privileges per grant, and transitive group membership. Models are
 * treated as immutable (applyChange returns a new one), so the index is cached per model object.
 */
import type { AccessModel, Grant, ImportWarning, Principal, Resource } from '../../domain/access/model.ts';
import { ADMIN, NO_ACCESS, nativeRolePrivileges, systemRoleDefinitions } from './privileges.ts';

export interface ModelIndex {
  /** Resource ids in topological order; position = resource index. */
  order: string[];
  indexOf: Map<string, number>;
  /** Parent indices per resource index (all smaller than the resource's own index). */
  parents: number[][];
  children: number[][];
  /** The same as compressed rows: parents of r are parentList[parentStart[r] .. parentStart[r + 1]). */
  parentStart: Int32Array;
  parentList: Int32Array;
  childStart: Int32Array;
  childList: Int32Array;
  grants: Grant[];
  /** Resource index per grant index. */
  grantResource: Int32Array;
  /** Native privileges per grant index, sorted; empty for NoAccess. */
  grantPrivileges: string[][];
  grantsByPrincipal: Map<string, number[]>;
  /** Principal id → kind, for every principal named in the model or its grants. */
  kinds: Map<string, 'user' | 'group' | 'token'>;
  /** Principal id → every group it belongs to, directly or through nested groups. */
  groupsOf: Map<string, Set<string>>;
  /** Group id → every principal that belongs to it, directly or through nested groups. */
  membersOf: Map<string, Set<string>>;
  /** Problems found while indexing (cycles, grants on unknown roles). */
  problems: ImportWarning[];
}

const cache = new WeakMap<AccessModel, ModelIndex>();

export function indexModel(model: AccessModel): ModelIndex {
  let index = cache.get(model);
  if (!index) {
    index = build(model);
    cache.set(model, index);
  }
  return index;
}

function topologicalOrder(model: AccessModel, problems: ImportWarning[]): string[] {
  const ids = new Set(model.resources.map((r) => r.id));
  const pending = new Map<string, number>();
  const childrenOf = new Map<string, string[]>();
  for (const r of model.resources) {
    const parents = r.parents.filter((p) => ids.has(p) && p !== r.id);
    pending.set(r.id, parents.length);
    for (const p of parents) {
      const list = childrenOf.get(p);
      if (list) list.push(r.id);
      else childrenOf.set(p, [r.id]);
    }
  }
  const order: string[] = model.resources.filter((r) => pending.get(r.id) === 0).map((r) => r.id);
  for (let i = 0; i < order.length; i++) {
    for (const c of childrenOf.get(order[i]!) ?? []) {
      const left = (pending.get(c) ?? 0) - 1;
      pending.set(c, left);
      if (left === 0) order.push(c);
    }
  }
  if (order.length < ids.size) {
    const placed = new Set(order);
    const stuck = model.resources.filter((r) => !placed.has(r.id)).map((r) => r.id);
    problems.push({ message: `inventory cycle through ${stuck.slice(0, 3).join(', ')}; their inheritance is cut` });
    order.push(...stuck);
  }
  return order;
}

function closure(direct: Map<string, string[]>, start: string): Set<string> {
  const out = new Set<string>();
  const stack = [...(direct.get(start) ?? [])];
  while (stack.length > 0) {
    const g = stack.pop()!;
    if (out.has(g) || g === start) continue;
    out.add(g);
    stack.push(...(direct.get(g) ?? []));
  }
  return out;
}

function rolePrivileges(model: AccessModel): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const r of systemRoleDefinitions()) byName.set(r.name, r.privileges);
  const all = new Set<string>(byName.get(ADMIN));
  for (const r of model.roles) {
    byName.set(r.name, [...new Set(r.privileges)].sort());
    for (const p of r.privileges) all.add(p);
  }
  // Admin holds every privilege: also any that only a custom role names.
  byName.set(ADMIN, [...new Set([...(byName.get(ADMIN) ?? []), ...all])].sort());
  byName.set(NO_ACCESS, []);
  return byName;
}

function compressed(lists: readonly number[][]): [Int32Array, Int32Array] {
  const start = new Int32Array(lists.length + 1);
  for (let i = 0; i < lists.length; i++) start[i + 1] = start[i]! + lists[i]!.length;
  const flat = new Int32Array(start[lists.length]!);
  for (let i = 0; i < lists.length; i++) flat.set(lists[i]!, start[i]!);
  return [start, flat];
}

/** What the index takes from the resources alone; shared by the models that share one resources array (applyChange keeps it). */
type Topology = Pick<ModelIndex, 'order' | 'indexOf' | 'parents' | 'children' | 'parentStart' | 'parentList' | 'childStart' | 'childList' | 'problems'>;
const topologies = new WeakMap<readonly Resource[], Topology>();

function topologyOf(model: AccessModel): Topology {
  let t = topologies.get(model.resources);
  if (t) return t;
  const problems: ImportWarning[] = [];
  const order = topologicalOrder(model, problems);
  const indexOf = new Map(order.map((id, i) => [id, i]));
  const parents: number[][] = order.map(() => []);
  const children: number[][] = order.map(() => []);
  for (const r of model.resources) {
    const i = indexOf.get(r.id)!;
    for (const p of new Set(r.parents)) {
      const j = indexOf.get(p);
      // A parent placed later only happens inside a cycle: ignore that edge.
      if (j !== undefined && j < i) {
        parents[i]!.push(j);
        children[j]!.push(i);
      }
    }
  }
  const [parentStart, parentList] = compressed(parents);
  const [childStart, childList] = compressed(children);
  t = { order, indexOf, parents, children, parentStart, parentList, childStart, childList, problems };
  topologies.set(model.resources, t);
  return t;
}

/** Kinds and transitive membership of the model's principals; shared by the models that share one principals array. */
interface Membership {
  kinds: Map<string, 'user' | 'group' | 'token'>;
  direct: Map<string, string[]>;
  groupsOf: Map<string, Set<string>>;
  membersOf: Map<string, Set<string>>;
}
const memberships = new WeakMap<readonly Principal[], Membership>();

function membershipOf(principals: readonly Principal[]): Membership {
  let m = memberships.get(principals);
  if (m) return m;
  const kinds = new Map<string, 'user' | 'group' | 'token'>();
  const direct = new Map<string, string[]>();
  for (const p of principals) {
    kinds.set(p.id, p.kind);
    if (p.memberOf) direct.set(p.id, p.memberOf);
  }
  const groupsOf = new Map<string, Set<string>>();
  const membersOf = new Map<string, Set<string>>();
  addMembership(kinds.keys(), direct, groupsOf, membersOf);
  m = { kinds, direct, groupsOf, membersOf };
  memberships.set(principals, m);
  return m;
}

function addMembership(ids: Iterable<string>, direct: Map<string, string[]>, groupsOf: Map<string, Set<string>>, membersOf: Map<string, Set<string>>): void {
  for (const id of ids) {
    const groups = closure(direct, id);
    groupsOf.set(id, groups);
    for (const g of groups) membersOf.set(g, (membersOf.get(g) ?? new Set()).add(id));
  }
}

/**
 * The resource topology and the principals' membership are kept per resources and principals array
 * (a change keeps both), so the index of the model after a change only walks its grants.
 */
function build(model: AccessModel): ModelIndex {
  const topology = topologyOf(model);
  const { indexOf } = topology;
  const problems: ImportWarning[] = [...topology.problems];
  const roles = rolePrivileges(model);
  const grants = model.grants;
  const grantResource = new Int32Array(grants.length).fill(-1);
  const grantPrivileges: string[][] = [];
  const grantsByPrincipal = new Map<string, number[]>();
  grants.forEach((g, gi) => {
    grantResource[gi] = indexOf.get(g.resource) ?? -1;
    let privileges: string[] = [];
    if (g.effect === 'deny' || g.role === NO_ACCESS) privileges = [];
    else if (g.role !== undefined) {
      privileges = roles.get(g.role) ?? [];
      if (!roles.has(g.role)) problems.push({ message: `grant ${g.id} names unknown role ${g.role}; it grants nothing` });
    } else if (g.privileges) privileges = nativeRolePrivileges(g.privileges);
    grantPrivileges.push(privileges);
    const mine = grantsByPrincipal.get(g.principal);
    if (mine) mine.push(gi);
    else grantsByPrincipal.set(g.principal, [gi]);
  });
  const m = membershipOf(model.principals);
  let { kinds, groupsOf, membersOf } = m;
  // Principals only grants name are users; their membership is computed as for the others.
  const extra = [...grantsByPrincipal.keys()].filter((p) => !m.kinds.has(p));
  if (extra.length > 0) {
    kinds = new Map(kinds);
    for (const p of extra) kinds.set(p, 'user');
    groupsOf = new Map(groupsOf);
    membersOf = new Map([...membersOf].map(([g, members]) => [g, new Set(members)]));
    addMembership(extra, m.direct, groupsOf, membersOf);
  }
  return { ...topology, grants, grantResource, grantPrivileges, grantsByPrincipal, kinds, groupsOf, membersOf, problems };
}
