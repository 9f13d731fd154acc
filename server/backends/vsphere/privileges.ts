/**
 * vSphere privilege vocabulary: the common → native map (reference/hypervisor-access.md §6.1, vSphere
 * column), its reverse, and the system roles every vCenter and ESXi host has.
 */
import type { CommonPrivilege, PrivilegeMapping, RoleDefinition } from '../../domain/access/model.ts';
import { ADMIN_PRIVILEGES } from './admin-privileges.ts';

/** vSphere adds these three to every user-defined role (vim.AuthorizationManager docs; seen in vcsim). */
export const IMPLICIT_ROLE_PRIVILEGES = ['System.Anonymous', 'System.Read', 'System.View'] as const;

const byPrefix = (prefix: string, except: readonly string[] = []): string[] =>
  ADMIN_PRIVILEGES.filter((p) => p.startsWith(prefix) && !except.includes(p));

export const PRIVILEGE_MAP: Record<CommonPrivilege, PrivilegeMapping> = {
  'vm.view': { native: ['System.View', 'System.Read'], fidelity: 'exact', note: 'System.Read is not VM-specific: it reads whatever object it is granted on' },
  'vm.console': { native: ['VirtualMachine.Interact.ConsoleInteract', 'VirtualMachine.Interact.CreateScreenshot'], fidelity: 'exact' },
  'vm.power': {
    native: ['VirtualMachine.Interact.PowerOn', 'VirtualMachine.Interact.PowerOff', 'VirtualMachine.Interact.Reset',
      'VirtualMachine.Interact.Suspend', 'VirtualMachine.Interact.Pause'],
    fidelity: 'exact',
  },
  'vm.config.media': { native: ['VirtualMachine.Interact.SetCDMedia', 'VirtualMachine.Interact.SetFloppyMedia'], fidelity: 'exact' },
  'vm.config': { native: byPrefix('VirtualMachine.Config.', ['VirtualMachine.Config.ChangeTracking']), fidelity: 'exact' },
  'vm.create': {
    native: ['VirtualMachine.Inventory.Create', 'Resource.AssignVMToPool'],
    fidelity: 'narrowed',
    note: 'creating a VM also needs Datastore.AllocateSpace on the datastore and Network.Assign on the network: grant storage.allocate and network.use there',
  },
  'vm.delete': { native: ['VirtualMachine.Inventory.Delete'], fidelity: 'exact' },
  'vm.snapshot': {
    native: ['VirtualMachine.State.CreateSnapshot', 'VirtualMachine.State.RemoveSnapshot', 'VirtualMachine.State.RenameSnapshot'],
    fidelity: 'exact',
  },
  'vm.snapshot.revert': { native: ['VirtualMachine.State.RevertToSnapshot'], fidelity: 'exact' },
  'vm.clone': {
    native: ['VirtualMachine.Provisioning.Clone', 'VirtualMachine.Provisioning.DeployTemplate', 'VirtualMachine.Provisioning.CloneTemplate'],
    fidelity: 'exact',
  },
  'vm.migrate': {
    native: ['Resource.HotMigrate', 'Resource.ColdMigrate'],
    fidelity: 'exact',
    note: 'vSphere checks migration on the VM and on the destination host or resource pool',
  },
  'vm.backup': {
    native: ['VirtualMachine.Interact.Backup', 'VirtualMachine.Config.ChangeTracking', 'VirtualMachine.Provisioning.DiskRandomRead'],
    fidelity: 'widened',
    note: 'no single vSphere backup privilege; DiskRandomRead also reads the disk contents (vm.secrets)',
  },
  'vm.guest': {
    native: ['VirtualMachine.GuestOperations.Execute', 'VirtualMachine.GuestOperations.Modify', 'VirtualMachine.GuestOperations.Query',
      'VirtualMachine.GuestOperations.ModifyAliases', 'VirtualMachine.GuestOperations.QueryAliases', 'VirtualMachine.Interact.GuestControl'],
    fidelity: 'exact',
  },
  'vm.secrets': {
    native: ['VirtualMachine.Provisioning.GetVmFiles', 'VirtualMachine.Provisioning.DiskRandomRead',
      'VirtualMachine.Provisioning.DiskRandomAccess', 'VirtualMachine.Provisioning.FileRandomAccess'],
    fidelity: 'exact',
    note: 'Cryptographer.* privileges are reported as vm.secrets but never granted by this mapping',
  },
  'host.view': { native: ['System.View', 'System.Read'], fidelity: 'exact' },
  'host.config': { native: byPrefix('Host.Config.', ['Host.Config.Power', 'Host.Config.Maintenance']), fidelity: 'exact' },
  'host.power': { native: ['Host.Config.Power', 'Host.Config.Maintenance'], fidelity: 'exact' },
  'host.shell': {
    native: [],
    fidelity: 'unrepresentable',
    note: 'ESXi shell and SSH access are local host users and services, outside vCenter permissions',
  },
  'network.view': { native: ['System.View', 'System.Read'], fidelity: 'exact' },
  'network.use': { native: ['Network.Assign'], fidelity: 'exact' },
  'network.manage': {
    native: ['Network.Config', 'Network.Delete', 'Network.Move', ...byPrefix('DVSwitch.'), ...byPrefix('DVPortgroup.')],
    fidelity: 'exact',
  },
  'storage.view': { native: ['Datastore.Browse'], fidelity: 'exact' },
  'storage.allocate': { native: ['Datastore.AllocateSpace'], fidelity: 'exact' },
  'storage.manage': { native: ['Datastore.Config', 'Datastore.Delete', 'Datastore.Rename', 'Datastore.Move'], fidelity: 'exact' },
  'access.manage': {
    native: ['Authorization.ModifyPermissions', 'Authorization.ModifyRoles', 'Authorization.ReassignRolePermissions'],
    fidelity: 'exact',
  },
};

/** Families of privileges a future vSphere release may extend: name prefix → common privilege. */
const PREFIX_RULES: ReadonlyArray<readonly [string, CommonPrivilege]> = [
  ['VirtualMachine.Config.', 'vm.config'],
  ['VirtualMachine.GuestOperations.', 'vm.guest'],
  ['VirtualMachine.State.', 'vm.snapshot'],
  ['Cryptographer.', 'vm.secrets'],
  ['Host.Config.', 'host.config'],
  ['DVSwitch.', 'network.manage'],
  ['DVPortgroup.', 'network.manage'],
  ['Authorization.', 'access.manage'],
];

const reverse = new Map<string, CommonPrivilege[]>();
for (const [common, mapping] of Object.entries(PRIVILEGE_MAP) as [CommonPrivilege, PrivilegeMapping][]) {
  for (const native of mapping.native) {
    const list = reverse.get(native) ?? [];
    if (!list.includes(common)) list.push(common);
    reverse.set(native, list);
  }
}

/** Native privilege → the common privileges it implies. `System.Anonymous` implies nothing. */
export function toCommon(nativePrivilege: string): CommonPrivilege[] {
  const exact = reverse.get(nativePrivilege);
  if (exact) return [...exact];
  const rule = PREFIX_RULES.find(([prefix]) => nativePrivilege.startsWith(prefix));
  return rule ? [rule[1]] : [];
}

export const NO_ACCESS = 'NoAccess';
export const ADMIN = 'Admin';

/**
 * System roles with their fixed ids (vim.AuthorizationManager; vcsim `simulator/esx/authorization_manager.go`).
 * Used when no `role.ls -json` is imported; imported definitions win.
 */
export const SYSTEM_ROLES: ReadonlyArray<{ id: number; name: string; privileges: readonly string[] }> = [
  { id: -5, name: NO_ACCESS, privileges: [] },
  { id: -4, name: 'Anonymous', privileges: ['System.Anonymous'] },
  { id: -3, name: 'View', privileges: ['System.Anonymous', 'System.View'] },
  { id: -2, name: 'ReadOnly', privileges: ['System.Anonymous', 'System.Read', 'System.View'] },
  { id: -1, name: ADMIN, privileges: ADMIN_PRIVILEGES },
];

export function systemRoleDefinitions(): RoleDefinition[] {
  return SYSTEM_ROLES.map((r) => ({ name: r.name, privileges: [...r.privileges], builtin: true }));
}

/** Native privileges a set of common privileges needs in a vSphere role, implicit ones included, sorted. */
export function nativeRolePrivileges(privileges: readonly CommonPrivilege[]): string[] {
  const set = new Set<string>(IMPLICIT_ROLE_PRIVILEGES);
  for (const p of privileges) for (const n of PRIVILEGE_MAP[p].native) set.add(n);
  return [...set].sort();
}
