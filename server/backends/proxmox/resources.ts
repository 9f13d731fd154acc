/**
 * The resource graph of a Proxmox model: the ACL path tree, plus pools as second parents of the VMs and
 * storages they hold (RPCEnvironment `compile_acl_path` adds pool roles to `/vms/<id>` and `/storage/<id>`).
 */
import type { Grant, Resource } from '../../domain/access/model.ts';
import type { PvePool } from './native.ts';
import { parentPath, pathLevels, resourceKind } from './paths.ts';

/** The paths `get_effective_permissions` always reports, whether or not an ACL names them. */
export const DEFAULT_PATHS = ['/', '/access', '/access/groups', '/nodes', '/pool', '/sdn', '/storage', '/vms', '/mapping'];

const POOLED = /^\/(vms|storage)\/([^/]+)$/;

/** VM id → pools listing it, storage id → pools listing it (names sorted): poolsOf for many paths. */
export interface PoolIndex { vms: Map<string, string[]>; storage: Map<string, string[]> }

const poolIndexes = new WeakMap<object, PoolIndex>();

/** The pool index of a model's pools, built once per pools object (models share it across changes). Read-only. */
export function poolIndexOf(pools: Readonly<Record<string, PvePool>>): PoolIndex {
  let index = poolIndexes.get(pools);
  if (!index) poolIndexes.set(pools, (index = poolIndex(pools)));
  return index;
}

export function poolIndex(pools: Readonly<Record<string, PvePool>>): PoolIndex {
  const index: PoolIndex = { vms: new Map(), storage: new Map() };
  const add = (map: Map<string, string[]>, id: string, name: string): void => {
    const list = map.get(id);
    if (!list) map.set(id, [name]);
    else if (!list.includes(name)) list.push(name);
  };
  for (const [name, p] of Object.entries(pools)) {
    for (const vm of p.vms) add(index.vms, vm, name);
    for (const s of p.storage) add(index.storage, s, name);
  }
  for (const map of [index.vms, index.storage]) for (const list of map.values()) list.sort();
  return index;
}

/** Pools that hold a path: the VM's one pool, or every pool listing the storage. */
export function poolsOf(path: string, pools: Readonly<Record<string, PvePool>>): string[] {
  return POOLED.test(path) ? poolsAt(path, poolIndex(pools)) : [];
}

/** `poolsOf` against an index built once. */
export function poolsAt(path: string, index: PoolIndex): string[] {
  const m = POOLED.exec(path);
  return m ? [...((m[1] === 'vms' ? index.vms : index.storage).get(m[2]!) ?? [])] : [];
}

/** Resource lists `buildResources` returned, with the grants and pools they were built from. */
const built = new WeakMap<readonly Resource[], { grants: readonly Grant[]; pools: Readonly<Record<string, PvePool>> }>();

function resourceOf(id: string, index: PoolIndex): Resource {
  const parent = parentPath(id);
  const poolParents = poolsAt(id, index).map((p) => `/pool/${p}`);
  return { id, kind: resourceKind(id), parents: [...(parent ? [parent] : []), ...poolParents] };
}

export function buildResources(grants: readonly Grant[], pools: Readonly<Record<string, PvePool>>, extra: readonly string[] = []): Resource[] {
  const paths = new Set<string>();
  // A path already in the set came in as a level, so its own levels are in too.
  const add = (p: string) => { if (!paths.has(p)) for (const level of pathLevels(p)) paths.add(level); };
  for (const p of DEFAULT_PATHS) add(p);
  for (const g of grants) add(g.resource);
  for (const [name, pool] of Object.entries(pools)) {
    add(`/pool/${name}`);
    for (const vm of pool.vms) add(`/vms/${vm}`);
    for (const s of pool.storage) add(`/storage/${s}`);
  }
  for (const p of extra) add(p);
  const index = poolIndexOf(pools);
  const out = [...paths].sort().map((id) => resourceOf(id, index));
  built.set(out, { grants, pools });
  return out;
}

const isEmpty = (o: object): boolean => Object.keys(o).length === 0;

/** Is `id` in `resources` (sorted by id, code units)? */
function hasId(resources: readonly Resource[], id: string): boolean {
  let lo = 0;
  let hi = resources.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (resources[mid]!.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < resources.length && resources[lo]!.id === id;
}

/**
 * `buildResources(grants, pools, before.map((r) => r.id))`, the resources of a model after a change,
 * without walking every grant again when `before` is what `buildResources` built from `beforeGrants` and
 * the same pools: it already holds every level of those grants, the default paths and the pools' paths,
 * so only the levels of `added` (the grants of `grants` that `beforeGrants` lacks) can be new.
 */
export function resourcesAfter(
  before: readonly Resource[], beforeGrants: readonly Grant[], grants: readonly Grant[], added: readonly Grant[], pools: Readonly<Record<string, PvePool>>,
): Resource[] {
  const from = built.get(before);
  if (!from || from.grants !== beforeGrants || !(from.pools === pools || (isEmpty(from.pools) && isEmpty(pools)))) {
    return buildResources(grants, pools, before.map((r) => r.id));
  }
  const fresh = new Set<string>();
  for (const g of added) for (const level of pathLevels(g.resource)) if (!hasId(before, level)) fresh.add(level);
  let out: Resource[];
  if (fresh.size === 0) out = before.slice();
  else {
    const index = poolIndexOf(pools);
    const ids = [...fresh].sort();
    out = [];
    let j = 0;
    for (const r of before) {
      while (j < ids.length && ids[j]! < r.id) out.push(resourceOf(ids[j++]!, index));
      out.push(r);
    }
    while (j < ids.length) out.push(resourceOf(ids[j++]!, index));
  }
  built.set(out, { grants, pools });
  return out;
}
