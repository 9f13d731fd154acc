/**
 * XAPI RBAC roles and a representative, source-checked subset of their permissions.
 *
 * Sources (xapi-project/xen-api):
 * - `ocaml/idl/datamodel_roles.ml`: the six static roles "in decreasing total linear order of privileges";
 *   every call is allowed to all roles >= a minimum (`roles_gte`, `_R_POOL_ADMIN` ... `_R_READ_ONLY`).
 * - `ocaml/idl/datamodel_vm.ml`: `~allowed_roles` per VM call (start/clean_shutdown/... = _R_VM_OP,
 *   clone/copy/provision = _R_VM_ADMIN, snapshot/checkpoint/revert/pool_migrate/migrate_send/start_on/
 *   set_memory* = _R_VM_POWER_ADMIN, power_state_reset/set_ha_restart_priority = _R_POOL_OP,
 *   send_sysrq/send_trigger = _R_POOL_ADMIN; VM class `messages_default_allowed_roles:_R_VM_ADMIN` covers
 *   VM.create/VM.destroy).
 * - `ocaml/idl/datamodel.ml` `http_actions`: connect_console = _R_VM_OP with sub-action host_console =
 *   _R_POOL_ADMIN ("only _R_POOL_ADMIN can access the host/Dom0 console"), get_export/put_import = _R_VM_ADMIN,
 *   connect_migrate = _R_VM_POWER_ADMIN, get_system_status/put_pool_patch_upload = _R_POOL_OP,
 *   get_host_backup/connect_remotecmd = _R_POOL_ADMIN, get_vm_rrd/get_host_rrd = _R_READ_ONLY.
 *   HTTP permissions are named with the `http/` prefix (`rbac_http_permission_prefix`).
 * - Citrix "Role based access control" permission table (docs): CD media = VM Operator, pool management and
 *   host power = Pool Operator, "Assign/modify roles" = Pool Admin only. Entries marked `doc` come from it.
 * Permission names are the lower-cased `class.message` names xapi's RBAC uses (`vm.pool_migrate`).
 */
import type { CommonPrivilege, PrivilegeMapping, RoleDefinition } from '../../domain/access/model.ts';
import { COMMON_PRIVILEGES } from '../../domain/access/model.ts';

/** Highest first, as in `roles_all`. */
export const XAPI_ROLES = ['pool-admin', 'pool-operator', 'vm-power-admin', 'vm-admin', 'vm-operator', 'read-only'] as const;
export type XapiRole = (typeof XAPI_ROLES)[number];

export function isXapiRole(name: string): name is XapiRole {
  return (XAPI_ROLES as readonly string[]).includes(name);
}

/** Higher is more privileged: read-only = 0 ... pool-admin = 5. */
export function roleRank(role: XapiRole): number {
  return XAPI_ROLES.length - 1 - XAPI_ROLES.indexOf(role);
}

export interface XapiPermission {
  name: string;
  /** The lowest role allowed to call it. */
  minRole: XapiRole;
  common: CommonPrivilege[];
  source: 'datamodel_vm.ml' | 'datamodel.ml' | 'doc' | 'infer';
}

const p = (name: string, minRole: XapiRole, common: CommonPrivilege[], source: XapiPermission['source']): XapiPermission =>
  ({ name, minRole, common, source });

export const XAPI_PERMISSIONS: readonly XapiPermission[] = [
  // read-only: "Connect to pool and read all pool metadata"
  p('vm.get_record', 'read-only', ['vm.view'], 'doc'),
  p('vm.get_possible_hosts', 'read-only', ['vm.view'], 'datamodel_vm.ml'),
  p('http/get_vm_rrd', 'read-only', ['vm.view'], 'datamodel.ml'),
  p('host.get_record', 'read-only', ['host.view'], 'doc'),
  p('http/get_host_rrd', 'read-only', ['host.view'], 'datamodel.ml'),
  p('network.get_record', 'read-only', ['network.view'], 'doc'),
  p('sr.get_record', 'read-only', ['storage.view'], 'doc'),
  // vm-operator: use VMs and their consoles
  p('vm.start', 'vm-operator', ['vm.power'], 'datamodel_vm.ml'),
  p('vm.clean_shutdown', 'vm-operator', ['vm.power'], 'datamodel_vm.ml'),
  p('vm.hard_shutdown', 'vm-operator', ['vm.power'], 'datamodel_vm.ml'),
  p('vm.clean_reboot', 'vm-operator', ['vm.power'], 'datamodel_vm.ml'),
  p('vm.hard_reboot', 'vm-operator', ['vm.power'], 'datamodel_vm.ml'),
  p('vm.suspend', 'vm-operator', ['vm.power'], 'datamodel_vm.ml'),
  p('vm.resume', 'vm-operator', ['vm.power'], 'datamodel_vm.ml'),
  p('vm.pause', 'vm-operator', ['vm.power'], 'datamodel_vm.ml'),
  p('vm.unpause', 'vm-operator', ['vm.power'], 'datamodel_vm.ml'),
  p('http/connect_console', 'vm-operator', ['vm.console'], 'datamodel.ml'),
  p('http/get_vncsnapshot', 'vm-operator', ['vm.console'], 'datamodel.ml'),
  p('vbd.insert', 'vm-operator', ['vm.config.media'], 'doc'),
  p('vbd.eject', 'vm-operator', ['vm.config.media'], 'doc'),
  // vm-admin: manage VMs and templates
  p('vm.create', 'vm-admin', ['vm.create'], 'datamodel_vm.ml'),
  p('vm.destroy', 'vm-admin', ['vm.delete'], 'datamodel_vm.ml'),
  p('vm.clone', 'vm-admin', ['vm.clone'], 'datamodel_vm.ml'),
  p('vm.copy', 'vm-admin', ['vm.clone'], 'datamodel_vm.ml'),
  p('vm.provision', 'vm-admin', ['vm.create'], 'datamodel_vm.ml'),
  p('vm.set_vcpus_max', 'vm-admin', ['vm.config'], 'datamodel_vm.ml'),
  p('vm.set_vcpus_at_startup', 'vm-admin', ['vm.config'], 'datamodel_vm.ml'),
  p('vm.set_domain_type', 'vm-admin', ['vm.config'], 'datamodel_vm.ml'),
  p('vif.create', 'vm-admin', ['network.use'], 'infer'),
  p('vdi.create', 'vm-admin', ['storage.allocate'], 'infer'),
  p('http/put_import', 'vm-admin', ['vm.create'], 'datamodel.ml'),
  p('http/get_export', 'vm-admin', ['vm.backup', 'vm.secrets'], 'datamodel.ml'),
  p('http/get_export_metadata', 'vm-admin', ['vm.backup'], 'datamodel.ml'),
  // vm-power-admin: choose where VMs run, dynamic memory, snapshots
  p('vm.snapshot', 'vm-power-admin', ['vm.snapshot'], 'datamodel_vm.ml'),
  p('vm.checkpoint', 'vm-power-admin', ['vm.snapshot'], 'datamodel_vm.ml'),
  p('vm.revert', 'vm-power-admin', ['vm.snapshot.revert'], 'datamodel_vm.ml'),
  p('vm.pool_migrate', 'vm-power-admin', ['vm.migrate'], 'datamodel_vm.ml'),
  p('vm.migrate_send', 'vm-power-admin', ['vm.migrate'], 'datamodel_vm.ml'),
  p('http/connect_migrate', 'vm-power-admin', ['vm.migrate'], 'datamodel.ml'),
  p('vm.start_on', 'vm-power-admin', ['vm.power'], 'datamodel_vm.ml'),
  p('vm.set_memory', 'vm-power-admin', ['vm.config'], 'datamodel_vm.ml'),
  p('vm.set_memory_limits', 'vm-power-admin', ['vm.config'], 'datamodel_vm.ml'),
  // pool-operator: host- and pool-wide resources
  p('vm.power_state_reset', 'pool-operator', ['vm.power'], 'datamodel_vm.ml'),
  p('vm.set_ha_restart_priority', 'pool-operator', ['vm.config'], 'datamodel_vm.ml'),
  p('host.reboot', 'pool-operator', ['host.power'], 'doc'),
  p('host.shutdown', 'pool-operator', ['host.power'], 'doc'),
  p('host.disable', 'pool-operator', ['host.power'], 'doc'),
  p('pool.enable_ha', 'pool-operator', ['host.config'], 'doc'),
  p('http/get_system_status', 'pool-operator', ['host.config'], 'datamodel.ml'),
  p('http/put_pool_patch_upload', 'pool-operator', ['host.config'], 'datamodel.ml'),
  p('network.create', 'pool-operator', ['network.manage'], 'doc'),
  p('network.destroy', 'pool-operator', ['network.manage'], 'doc'),
  p('sr.create', 'pool-operator', ['storage.manage'], 'doc'),
  p('sr.destroy', 'pool-operator', ['storage.manage'], 'doc'),
  // pool-admin: everything, including Dom0 and subjects/roles/external auth
  p('vm.send_sysrq', 'pool-admin', ['vm.power'], 'datamodel_vm.ml'),
  p('http/connect_console/host_console', 'pool-admin', ['host.shell'], 'datamodel.ml'),
  p('http/connect_remotecmd', 'pool-admin', ['host.shell'], 'datamodel.ml'),
  p('http/get_host_backup', 'pool-admin', ['host.config', 'vm.secrets'], 'datamodel.ml'),
  p('subject.create', 'pool-admin', ['access.manage'], 'doc'),
  p('subject.destroy', 'pool-admin', ['access.manage'], 'doc'),
  p('subject.add_to_roles', 'pool-admin', ['access.manage'], 'doc'),
  p('subject.remove_from_roles', 'pool-admin', ['access.manage'], 'doc'),
  p('pool.enable_external_auth', 'pool-admin', ['access.manage'], 'doc'),
];

const BY_NAME = new Map(XAPI_PERMISSIONS.map((x) => [x.name, x]));

/** A role's permissions: its own plus those of every lower role. */
export function permissionsOf(role: XapiRole): string[] {
  const rank = roleRank(role);
  return XAPI_PERMISSIONS.filter((x) => roleRank(x.minRole) <= rank).map((x) => x.name);
}

/** The common privileges a role brings, in vocabulary order. */
export function commonOfRole(role: XapiRole): CommonPrivilege[] {
  const got = new Set(permissionsOf(role).flatMap((n) => BY_NAME.get(n)?.common ?? []));
  return COMMON_PRIVILEGES.filter((c) => got.has(c));
}

/** Native permission (or role name) → common privileges. */
export function toCommon(native: string): CommonPrivilege[] {
  if (isXapiRole(native)) return commonOfRole(native);
  return [...(BY_NAME.get(native)?.common ?? [])];
}

/** The lowest role granting a common privilege, or undefined when XAPI has none (vm.guest). */
export function minRoleFor(privilege: CommonPrivilege): XapiRole | undefined {
  let best: XapiRole | undefined;
  for (const x of XAPI_PERMISSIONS) {
    if (!x.common.includes(privilege)) continue;
    if (best === undefined || roleRank(x.minRole) < roleRank(best)) best = x.minRole;
  }
  return best;
}

export interface RoleChoice {
  role: XapiRole | undefined;
  fidelity: 'exact' | 'widened' | 'narrowed' | 'unrepresentable';
  missing: CommonPrivilege[];
  extra: CommonPrivilege[];
}

/** The lowest role covering a set of common privileges, and how faithfully it matches. */
export function roleForPrivileges(privileges: readonly CommonPrivilege[]): RoleChoice {
  const wanted = [...new Set(privileges)];
  const missing = wanted.filter((c) => minRoleFor(c) === undefined);
  let role: XapiRole | undefined;
  for (const c of wanted) {
    const r = minRoleFor(c);
    if (r !== undefined && (role === undefined || roleRank(r) > roleRank(role))) role = r;
  }
  if (role === undefined) return { role, fidelity: 'unrepresentable', missing, extra: [] };
  const extra = commonOfRole(role).filter((c) => !wanted.includes(c));
  const fidelity = missing.length > 0 ? 'narrowed' : extra.length > 0 ? 'widened' : 'exact';
  return { role, fidelity, missing, extra };
}

export const XAPI_PRIVILEGE_MAP: Record<CommonPrivilege, PrivilegeMapping> = Object.fromEntries(
  COMMON_PRIVILEGES.map((c): [CommonPrivilege, PrivilegeMapping] => {
    const role = minRoleFor(c);
    if (role === undefined) {
      return [c, { native: [], fidelity: 'unrepresentable', note: 'XAPI has no guest-agent exec/file API in RBAC' }];
    }
    const native = XAPI_PERMISSIONS.filter((x) => x.common.includes(c)).map((x) => x.name);
    const others = commonOfRole(role).filter((o) => o !== c);
    return [c, { native, fidelity: 'widened', note: `granted only through role ${role}, pool-wide, which also brings ${others.join(', ')}` }];
  }),
) as Record<CommonPrivilege, PrivilegeMapping>;

export function builtinRoleDefinitions(): RoleDefinition[] {
  return XAPI_ROLES.map((name) => ({ name, privileges: permissionsOf(name), builtin: true, provenance: { apiId: 'datamodel_roles.ml' } }));
}
