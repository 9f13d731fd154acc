/**
 * Proxmox VE 9.x privileges and built-in roles.
 *
 * Source: pve-access-control `src/PVE/AccessControl.pm` (`$privgroups`, `create_roles()`), cross-checked
 * against upstream `src/test/perm-test1.pl` (PVEVMAdmin and Administrator privilege lists) and the
 * `pveum role list` output of a PVE 9.0.3 host. The set is version-dependent: 9.0 replaced `VM.Monitor`
 * with `VM.GuestAgent.*`, so a PVE 8 `role:` line naming `VM.Monitor` is reported as unknown.
 */

interface PrivGroup {
  /** Only root (through Administrator) holds these. */
  root: readonly string[];
  admin: readonly string[];
  user: readonly string[];
  audit: readonly string[];
}

const PRIV_GROUPS: Readonly<Record<string, PrivGroup>> = {
  VM: {
    root: [],
    admin: [
      'VM.Config.Disk', 'VM.Config.CPU', 'VM.Config.Memory', 'VM.Config.Network', 'VM.Config.HWType',
      'VM.Config.Options', 'VM.Allocate', 'VM.Clone', 'VM.GuestAgent.Unrestricted', 'VM.Migrate',
      'VM.Replicate', 'VM.Snapshot', 'VM.Snapshot.Rollback',
    ],
    user: [
      'VM.Config.CDROM', 'VM.Config.Cloudinit', 'VM.Console', 'VM.Backup', 'VM.GuestAgent.FileRead',
      'VM.GuestAgent.FileSystemMgmt', 'VM.GuestAgent.FileWrite', 'VM.PowerMgmt',
    ],
    audit: ['VM.Audit', 'VM.GuestAgent.Audit'],
  },
  Sys: {
    root: ['Sys.PowerMgmt', 'Sys.Modify', 'Sys.Incoming', 'Sys.AccessNetwork'],
    admin: ['Sys.Console', 'Sys.Syslog'],
    user: [],
    audit: ['Sys.Audit'],
  },
  Datastore: {
    root: [],
    admin: ['Datastore.Allocate', 'Datastore.AllocateTemplate'],
    user: ['Datastore.AllocateSpace'],
    audit: ['Datastore.Audit'],
  },
  SDN: { root: [], admin: ['SDN.Allocate', 'SDN.Audit'], user: ['SDN.Use'], audit: ['SDN.Audit'] },
  User: { root: ['Realm.Allocate'], admin: ['User.Modify', 'Group.Allocate', 'Realm.AllocateUser'], user: [], audit: [] },
  Pool: { root: [], admin: ['Pool.Allocate'], user: ['Pool.Audit'], audit: ['Pool.Audit'] },
  Mapping: { root: [], admin: ['Mapping.Modify'], user: ['Mapping.Use'], audit: ['Mapping.Audit'] },
};

/** Outside every group: only Administrator holds it (since pve-access-control 8.0). */
const UNGROUPED = ['Permissions.Modify'];

/** Kept out of PVEAdmin although they sit in an admin tier (matches `pveum role list` on 9.x). */
const NOT_IN_PVEADMIN = new Set(['Mapping.Modify']);

function buildValidPrivileges(): ReadonlySet<string> {
  const all = new Set<string>(UNGROUPED);
  for (const g of Object.values(PRIV_GROUPS)) for (const p of [...g.root, ...g.admin, ...g.user, ...g.audit]) all.add(p);
  return all;
}

/** Every privilege name PVE 9.x accepts in a `role:` line. */
export const VALID_PRIVILEGES: ReadonlySet<string> = buildValidPrivileges();

function addAll(roles: Map<string, Set<string>>, name: string, privs: readonly string[]): void {
  const set = roles.get(name) ?? new Set<string>();
  for (const p of privs) set.add(p);
  roles.set(name, set);
}

/** Port of `create_roles()`: PVE<Cat>Admin, PVE<Cat>User, PVEAdmin, PVEAuditor, PVETemplateUser. */
function buildBuiltinRoles(): ReadonlyMap<string, ReadonlySet<string>> {
  const roles = new Map<string, Set<string>>();
  roles.set('Administrator', new Set(VALID_PRIVILEGES));
  roles.set('NoAccess', new Set());
  for (const [cat, g] of Object.entries(PRIV_GROUPS)) {
    const tiers = [...g.admin, ...g.user, ...g.audit];
    addAll(roles, `PVE${cat}Admin`, tiers);
    addAll(roles, 'PVEAdmin', tiers.filter((p) => !NOT_IN_PVEADMIN.has(p)));
    if (g.user.length > 0) addAll(roles, `PVE${cat}User`, [...g.user, ...g.audit]);
    addAll(roles, 'PVEAuditor', g.audit);
  }
  roles.set('PVETemplateUser', new Set(['VM.Clone', 'VM.Audit']));
  return roles;
}

/** Built-in ("special") roles: never written to user.cfg, cannot be modified. */
export const BUILTIN_ROLES: ReadonlyMap<string, ReadonlySet<string>> = buildBuiltinRoles();

export const NO_ACCESS = 'NoAccess';
export const ROOT_USER = 'root@pam';

/** Role names as `verify_rolename` accepts them. Custom roles may not start with `PVE` (8.0+). */
export const ROLE_NAME_RE = /^[A-Za-z0-9.\-_]+$/;
