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
import { indexModel, type ModelIndex } from './model-index.ts';

/** Interned sets of grant indices: equal sets share one id, so unions and rows are computed once. */
class GrantSets {
  readonly sets: number[][] = [[]];
  readonly #ids = new Map<string, number>([['', 0]]);
  readonly #unions = new Map<string, number>();
  readonly #rows = new Map<number, [string, string[]][]>();

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
    const key = a < b ? `${a}|${b}` : `${b}|${a}`;
    let id = this.#unions.get(key);
    if (id === undefined) {
      id = this.intern([...new Set([...this.sets[a]!, ...this.sets[b]!])].sort((x, y) => x - y));
      this.#unions.set(key, id);
    }
    return id;
  }

  /** (privilege, because-grant-ids) pairs that a set of grants yields, sorted by privilege. */
  rows(id: number, index: ModelIndex): [string, string[]][] {
    let rows = this.#rows.get(id);
    if (!rows) {
      const because = new Map<string, string[]>();
      for (const gi of this.sets[id]!) {
        for (const p of index.grantPrivileges[gi]!) {
          const list = because.get(p);
          if (list) list.push(index.grants[gi]!.id);
          else because.set(p, [index.grants[gi]!.id]);
        }
      }
      const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
      for (const ids of because.values()) Object.freeze(ids.sort(byCodeUnit));
      rows = [...because].sort(([a], [b]) => byCodeUnit(a, b));
      this.#rows.set(id, rows);
    }
    return rows;
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
  readonly inh: Int32Array;
  generation = 0;
  constructor(size: number) {
    this.stamp = new Uint32Array(size);
    this.inh = new Int32Array(size);
  }
}

/**
 * Resolve one identity over the entities its permissions can reach, parents before children: `eff` is
 * what applies at an entity, `inh` what flows on to its children. Returns `[entity, set, ...]` pairs for
 * the entities where the identity holds something, in topological order.
 */
function resolve(index: ModelIndex, sets: GrantSets, ws: Workspace, id: Identity, wanted: ReadonlySet<number> | undefined): Int32Array {
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
  // Only entities at or below one of this identity's permissions can hold anything.
  const gen = ++ws.generation;
  const reach: number[] = [];
  const stack = [...at.keys()];
  while (stack.length > 0) {
    const r = stack.pop()!;
    if (ws.stamp[r] === gen) continue;
    ws.stamp[r] = gen;
    reach.push(r);
    for (const c of index.children[r]!) if (ws.stamp[c] !== gen) stack.push(c);
  }
  const order = Int32Array.from(reach).sort();
  const out: number[] = [];
  for (const r of order) {
    let inherited = 0;
    for (const p of index.parents[r]!) if (ws.stamp[p] === gen) inherited = sets.union(inherited, ws.inh[p]!);
    let eff = inherited;
    let inh = inherited;
    const here = at.get(r);
    if (here) {
      // On one entity the user's own permission beats its groups'; the groups' permissions are unioned.
      const decide = (candidates: number[]): number[] => {
        const own = candidates.filter((gi) => index.grants[gi]!.principal === id.self);
        return own.length > 0 ? own : candidates;
      };
      const atEntity = decide(here);
      const propagating = decide(here.filter((gi) => index.grants[gi]!.propagate));
      eff = sets.intern(atEntity.sort((a, b) => a - b));
      if (propagating.length > 0) inh = sets.intern(propagating.sort((a, b) => a - b));
    }
    ws.inh[r] = inh;
    if (eff !== 0 && (!wanted || wanted.has(r))) out.push(r, eff);
  }
  return Int32Array.from(out);
}

export function effective(model: AccessModel, query: EffectiveQuery = {}): EffectiveRow[] {
  const index = indexModel(model);
  const sets = new GrantSets();
  const principals = query.principals ?? [...index.kinds.keys()];
  const wanted = query.resources ? new Set(query.resources.map((r) => index.indexOf.get(r)).filter((r) => r !== undefined)) : undefined;

  // Principals with the same relevant identities share one resolution; rows come out sorted by principal.
  const resolved = new Map<string, Int32Array>();
  const ws = new Workspace(index.order.length);
  const rows: EffectiveRow[] = [];
  for (const principal of [...new Set(principals)].sort()) {
    const id = identityOf(index, principal);
    const sig = signature(index, id);
    if (sig === '') continue;
    let entities = resolved.get(sig);
    if (!entities) {
      entities = resolve(index, sets, ws, id, wanted);
      resolved.set(sig, entities);
    }
    for (let i = 0; i < entities.length; i += 2) {
      const resource = index.order[entities[i]!]!;
      for (const [privilege, because] of sets.rows(entities[i + 1]!, index)) rows.push({ principal, resource, privilege, because });
    }
  }
  return rows;
}
