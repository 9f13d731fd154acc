/**
 * Test helpers: build govc `-json` files from a compact description and import them, so every test also
 * goes through the importer; plus small queries over effective rows.
 */
import { readFileSync } from 'node:fs';
import type { AccessModel, ChangeSet, ChangeItem, EffectiveRow, NativeFile } from '../../../server/domain/access/model.ts';
import { backend } from '../../../server/backends/vsphere/index.ts';

/** Path → [managed object type, parent paths...]. Types decide which govc property holds each parent. */
export type Tree = Record<string, [string, ...string[]]>;

export interface Perm { on: string; who: string; group?: boolean; role: string; propagate?: boolean }

export interface World {
  tree: Tree;
  roles?: Record<string, string[]>;
  perms: Perm[];
  groups?: Record<string, string[]>;
}

const IMPLICIT = ['System.Anonymous', 'System.Read', 'System.View'];

/** The Virtual Machine folder and host/cluster/resource-pool layout of the vSphere guide's examples. */
export const EXAMPLE_TREE: Tree = {
  '/DC0': ['Datacenter', '/'],
  '/DC0/vm': ['Folder', '/DC0'],
  '/DC0/vm/F': ['Folder', '/DC0/vm'],
  '/DC0/vm/F/vmA': ['VirtualMachine', '/DC0/vm/F', '/DC0/host/C/Resources/Prod'],
  '/DC0/vm/F/vmB': ['VirtualMachine', '/DC0/vm/F', '/DC0/host/C/Resources/Dev'],
  '/DC0/host': ['Folder', '/DC0'],
  '/DC0/host/C': ['ClusterComputeResource', '/DC0/host'],
  '/DC0/host/C/Resources': ['ResourcePool', '/DC0/host/C'],
  '/DC0/host/C/Resources/Prod': ['ResourcePool', '/DC0/host/C/Resources'],
  '/DC0/host/C/Resources/Dev': ['ResourcePool', '/DC0/host/C/Resources'],
};

/** Roles of the guide's examples: "Role 1 can power on virtual machines", "Role 2 can take snapshots". */
export const EXAMPLE_ROLES: Record<string, string[]> = {
  PowerOnVMRole: ['VirtualMachine.Interact.PowerOn'],
  SnapShotRole: ['VirtualMachine.State.CreateSnapshot'],
};

export const ref = (path: string, tree: Tree): { type: string; value: string } =>
  path === '/' ? { type: 'Folder', value: 'group-d1' } : { type: tree[path]![0], value: `obj-${Object.keys(tree).indexOf(path)}` };

export function worldFiles(w: World): NativeFile[] {
  const elements = Object.entries(w.tree).map(([path, [type, ...parents]]) => {
    const object: Record<string, unknown> = { self: ref(path, w.tree), name: path.split('/').pop() };
    const [first, second] = parents;
    if (first !== undefined) object.parent = ref(first, w.tree);
    if (second !== undefined) object.resourcePool = ref(second, w.tree);
    return { path, object };
  });
  const roleNames = Object.keys(w.roles ?? {});
  const roles = roleNames.map((name, i) => ({ roleId: 100 + i, system: false, name, privilege: [...IMPLICIT, ...w.roles![name]!] }));
  const roleId = (name: string): number =>
    ({ NoAccess: -5, ReadOnly: -2, Admin: -1 } as Record<string, number>)[name] ?? 100 + roleNames.indexOf(name);
  const permissions = w.perms.map((p) => ({
    entity: ref(p.on, w.tree), principal: p.who, group: p.group ?? false, propagate: p.propagate ?? true, roleId: roleId(p.role),
  }));
  return [
    { path: 'inventory.json', text: JSON.stringify({ elements }) },
    { path: 'roles.json', text: JSON.stringify(roles) },
    { path: 'permissions.json', text: JSON.stringify({ Permissions: permissions }) },
    { path: 'groups.json', text: JSON.stringify({ groups: w.groups ?? {} }) },
  ];
}

export const importWorld = (w: World): AccessModel => backend.import(worldFiles(w));

/** Native privileges `principal` holds on `resource`. */
export function privs(model: AccessModel, principal: string, resource: string): Set<string> {
  return new Set(backend.effective(model, { principals: [principal], resources: [resource] }).map((r) => r.privilege));
}

export const rowKey = (r: EffectiveRow): string => `${r.principal}\u0000${r.resource}\u0000${r.privilege}`;

/** effective(after) − effective(before), scoped to affectedPrincipals, as the shared blast radius defines it. */
export function diff(before: AccessModel, change: ChangeSet): { gained: string[]; lost: string[] } {
  const principals = backend.affectedPrincipals(before, change);
  const after = backend.applyChange(before, change);
  const b = new Set(backend.effective(before, { principals }).map(rowKey));
  const a = new Set(backend.effective(after, { principals }).map(rowKey));
  return { gained: [...a].filter((k) => !b.has(k)).sort(), lost: [...b].filter((k) => !a.has(k)).sort() };
}

export const change = (...items: ChangeItem[]): ChangeSet => ({ backend: 'vsphere', items });

const FIXTURES = new URL('../../fixtures/vsphere/', import.meta.url);

export function fixtureFiles(...names: string[]): NativeFile[] {
  return names.map((name) => ({ path: name, text: readFileSync(new URL(name, FIXTURES), 'utf8') }));
}

export const ALL_FIXTURES = ['inventory.json', 'roles.json', 'permissions.json', 'groups.json'];
