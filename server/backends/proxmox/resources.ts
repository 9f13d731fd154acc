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
  const index = poolIndex(pools);
  return [...paths].sort().map((id) => {
    const parent = parentPath(id);
    const poolParents = poolsAt(id, index).map((p) => `/pool/${p}`);
    return { id, kind: resourceKind(id), parents: [...(parent ? [parent] : []), ...poolParents] };
  });
}
