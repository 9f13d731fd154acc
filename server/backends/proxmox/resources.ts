/**
 * The resource graph of a Proxmox model: the ACL path tree, plus pools as second parents of the VMs and
 * storages they hold (RPCEnvironment `compile_acl_path` adds pool roles to `/vms/<id>` and `/storage/<id>`).
 */
import type { Grant, Resource } from '../../domain/access/model.ts';
import type { PvePool } from './native.ts';
import { parentPath, pathLevels, resourceKind } from './paths.ts';

/** The paths `get_effective_permissions` always reports, whether or not an ACL names them. */
export const DEFAULT_PATHS = ['/', '/access', '/access/groups', '/nodes', '/pool', '/sdn', '/storage', '/vms', '/mapping'];

/** Pools that hold a path: the VM's one pool, or every pool listing the storage. */
export function poolsOf(path: string, pools: Readonly<Record<string, PvePool>>): string[] {
  const m = /^\/(vms|storage)\/([^/]+)$/.exec(path);
  if (!m) return [];
  const [, top, id] = m;
  return Object.entries(pools)
    .filter(([, p]) => (top === 'vms' ? p.vms : p.storage).includes(id ?? ''))
    .map(([name]) => name)
    .sort();
}

export function buildResources(grants: readonly Grant[], pools: Readonly<Record<string, PvePool>>, extra: readonly string[] = []): Resource[] {
  const paths = new Set<string>();
  const add = (p: string) => { for (const level of pathLevels(p)) paths.add(level); };
  for (const p of DEFAULT_PATHS) add(p);
  for (const g of grants) add(g.resource);
  for (const [name, pool] of Object.entries(pools)) {
    add(`/pool/${name}`);
    for (const vm of pool.vms) add(`/vms/${vm}`);
    for (const s of pool.storage) add(`/storage/${s}`);
  }
  for (const p of extra) add(p);
  return [...paths].sort().map((id) => {
    const parent = parentPath(id);
    const poolParents = poolsOf(id, pools).map((p) => `/pool/${p}`);
    return { id, kind: resourceKind(id), parents: [...(parent ? [parent] : []), ...poolParents] };
  });
}
