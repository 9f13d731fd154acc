/**
 * The inventory graph from `govc ls -json` output (`{"elements":[{"Path","Object"}]}`, one or several
 * files). Each `Object` is the govmomi `mo` struct with all properties (govc fetches all of them for
 * `-json`), so `parent`, and for VMs `resourcePool`/`parentVApp`, are present. A VM therefore gets two
 * parents: its VM folder and its resource pool or vApp; a vApp its parent pool and its `parentFolder`.
 */
import type { ImportWarning, Resource, ResourceKind } from '../../domain/access/model.ts';
import { field, isObject, moRef, refKey, stringField, type JsonObject, type MoRef } from './json.ts';

export const ROOT_ID = '/';

/** Root folder morefs: vCenter's `group-d1`, a standalone ESXi host's `ha-folder-root`. */
const KNOWN_ROOT_REFS = ['Folder:group-d1', 'Folder:ha-folder-root'];

const KIND_BY_TYPE: Record<string, ResourceKind> = {
  Folder: 'folder', Datacenter: 'datacenter', ClusterComputeResource: 'cluster', ComputeResource: 'cluster',
  HostSystem: 'host', ResourcePool: 'pool', VirtualApp: 'pool', VirtualMachine: 'vm',
  Network: 'network', DistributedVirtualPortgroup: 'network', DistributedVirtualSwitch: 'network',
  VmwareDistributedVirtualSwitch: 'network', OpaqueNetwork: 'network', Datastore: 'storage', StoragePod: 'storage',
};

export const kindOf = (type: string): ResourceKind => KIND_BY_TYPE[type] ?? 'other';

/** The properties through which an object inherits permissions, per managed object type. */
function parentRefs(type: string, object: JsonObject): MoRef[] {
  const names = ['parent'];
  if (type === 'VirtualMachine') names.push('resourcePool', 'parentVApp');
  if (type === 'VirtualApp') names.push('parentFolder', 'parentVApp');
  return names.map((n) => moRef(field(object, n))).filter((r): r is MoRef => r !== undefined);
}

interface Element {
  path: string;
  ref: MoRef;
  name: string | undefined;
  parents: MoRef[];
}

export interface InventoryFile {
  path: string;
  elements: unknown[];
}

export interface Inventory {
  resources: Resource[];
  /** `Type:value` → resource id. */
  idByRef: Map<string, string>;
  /** Resource id → moref, for writing govc JSON back. */
  refById: Record<string, MoRef>;
}

const dirname = (p: string): string => {
  const i = p.lastIndexOf('/');
  return i <= 0 ? ROOT_ID : p.slice(0, i);
};

function readElements(files: readonly InventoryFile[], warnings: ImportWarning[]): Map<string, Element> {
  const byRef = new Map<string, Element>();
  for (const file of files) {
    file.elements.forEach((raw, i) => {
      const where = `/elements/${i}`;
      const object = isObject(raw) ? field(raw, 'object') : undefined;
      const path = isObject(raw) ? stringField(raw, 'path') : undefined;
      const ref = isObject(object) ? moRef(field(object, 'self')) : undefined;
      if (!isObject(object) || !path || !ref) {
        warnings.push({ file: file.path, message: `${where}: inventory element without Path or Object.Self, skipped` });
        return;
      }
      const key = refKey(ref);
      const known = byRef.get(key);
      const parents = parentRefs(ref.type, object);
      if (known) {
        // The same object listed twice (two `govc ls` runs): keep the first path, merge the parents.
        for (const p of parents) if (!known.parents.some((q) => refKey(q) === refKey(p))) known.parents.push(p);
        return;
      }
      byRef.set(key, { path, ref, name: stringField(object, 'name'), parents });
    });
  }
  return byRef;
}

/** Build the resource DAG. Unknown parents fall back to the path's directory, else are reported. */
export function buildInventory(files: readonly InventoryFile[], warnings: ImportWarning[]): Inventory {
  const elements = readElements(files, warnings);
  const idByRef = new Map<string, string>(KNOWN_ROOT_REFS.map((r) => [r, ROOT_ID]));
  const refById: Record<string, MoRef> = {};
  for (const [key, e] of elements) {
    idByRef.set(key, e.path);
    refById[e.path] = e.ref;
  }
  // `govc ls /` lists the datacenters, not the root folder itself: the parent of a top-level object is the root.
  for (const e of elements.values()) {
    if (dirname(e.path) !== ROOT_ID) continue;
    for (const p of e.parents) if (!elements.has(refKey(p))) idByRef.set(refKey(p), ROOT_ID);
  }
  const inferredRoot = [...idByRef].find(([key, id]) => id === ROOT_ID && !KNOWN_ROOT_REFS.includes(key))?.[0];
  refById[ROOT_ID] ??= inferredRoot ? splitRef(inferredRoot) : { type: 'Folder', value: 'group-d1' };
  const paths = new Set([...elements.values()].map((e) => e.path));

  const resources: Resource[] = [{ id: ROOT_ID, kind: 'root', name: 'Root folder', parents: [] }];
  const seen = new Set<string>([ROOT_ID]);
  for (const e of elements.values()) {
    if (seen.has(e.path)) {
      if (e.path !== ROOT_ID) warnings.push({ message: `two inventory objects share the path ${e.path}; kept the first` });
      continue;
    }
    seen.add(e.path);
    const parents: string[] = [];
    for (const p of e.parents) {
      const id = idByRef.get(refKey(p));
      if (id !== undefined) {
        if (!parents.includes(id)) parents.push(id);
      } else {
        warnings.push({ message: `${e.path}: parent ${refKey(p)} is not in the inventory` });
      }
    }
    if (parents.length === 0) {
      const up = dirname(e.path);
      if (up === ROOT_ID || paths.has(up)) parents.push(up);
      else warnings.push({ message: `${e.path}: no parent in the inventory; it inherits nothing` });
    }
    resources.push({ id: e.path, kind: kindOf(e.ref.type), ...(e.name ? { name: e.name } : {}), parents });
  }
  return { resources, idByRef, refById };
}

export const splitRef = (key: string): MoRef => {
  const i = key.indexOf(':');
  return { type: key.slice(0, i), value: key.slice(i + 1) };
};
