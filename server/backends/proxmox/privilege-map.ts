/**
 * Common privilege vocabulary ↔ Proxmox VE 9.x privileges (reference/hypervisor-access.md §6.1).
 * `widened`: the native form grants more than asked; `narrowed`: less; `unrepresentable`: nothing native.
 */
import type { CommonPrivilege, Fidelity, PrivilegeMapping } from '../../domain/access/model.ts';
import { COMMON_PRIVILEGES } from '../../domain/access/model.ts';

const exact = (...native: string[]): PrivilegeMapping => ({ native, fidelity: 'exact' });

export const PRIVILEGE_MAP: Record<CommonPrivilege, PrivilegeMapping> = {
  'vm.view': exact('VM.Audit'),
  'vm.console': exact('VM.Console'),
  'vm.power': exact('VM.PowerMgmt'),
  'vm.config.media': exact('VM.Config.CDROM'),
  'vm.config': exact('VM.Config.CPU', 'VM.Config.Cloudinit', 'VM.Config.Disk', 'VM.Config.HWType', 'VM.Config.Memory', 'VM.Config.Network', 'VM.Config.Options'),
  'vm.create': { native: ['VM.Allocate'], fidelity: 'widened', note: 'VM.Allocate also allows deleting VMs; creating one also needs Datastore.AllocateSpace (and SDN.Use) elsewhere' },
  'vm.delete': { native: ['VM.Allocate'], fidelity: 'widened', note: 'VM.Allocate also allows creating VMs' },
  'vm.snapshot': exact('VM.Snapshot'),
  'vm.snapshot.revert': exact('VM.Snapshot.Rollback'),
  'vm.clone': exact('VM.Clone'),
  'vm.migrate': exact('VM.Migrate'),
  'vm.backup': { native: ['VM.Backup'], fidelity: 'exact', note: 'a backup also needs Datastore.AllocateSpace on the backup storage' },
  'vm.guest': exact('VM.GuestAgent.FileRead', 'VM.GuestAgent.FileSystemMgmt', 'VM.GuestAgent.FileWrite', 'VM.GuestAgent.Unrestricted'),
  'vm.secrets': { native: [], fidelity: 'unrepresentable', note: 'Proxmox has no privilege for guest memory or secure data; guest agent file access comes closest (vm.guest)' },
  'host.view': exact('Sys.Audit'),
  'host.config': exact('Sys.Modify'),
  'host.power': exact('Sys.PowerMgmt'),
  'host.shell': exact('Sys.Console'),
  'network.view': exact('SDN.Audit'),
  'network.use': exact('SDN.Use'),
  'network.manage': { native: ['SDN.Allocate'], fidelity: 'narrowed', note: 'host bridges outside SDN also need Sys.Modify on the node' },
  'storage.view': exact('Datastore.Audit'),
  'storage.allocate': exact('Datastore.AllocateSpace', 'Datastore.AllocateTemplate'),
  'storage.manage': exact('Datastore.Allocate'),
  'access.manage': { native: ['Group.Allocate', 'Permissions.Modify', 'Realm.Allocate', 'Realm.AllocateUser', 'User.Modify'], fidelity: 'exact', note: 'VM.Allocate, Datastore.Allocate and Pool.Allocate also let a holder hand out subsets of its own privileges on that path' },
};

/** Native privileges that imply a common one without being its mapping (informational reads). */
const EXTRA_IMPLIED: Record<string, CommonPrivilege[]> = {
  'VM.GuestAgent.Audit': ['vm.view'],
  'Sys.Syslog': ['host.view'],
};

function buildReverse(): Map<string, CommonPrivilege[]> {
  const rev = new Map<string, CommonPrivilege[]>();
  for (const c of COMMON_PRIVILEGES) {
    for (const n of PRIVILEGE_MAP[c].native) rev.set(n, [...(rev.get(n) ?? []), c]);
  }
  for (const [n, cs] of Object.entries(EXTRA_IMPLIED)) rev.set(n, [...(rev.get(n) ?? []), ...cs]);
  return rev;
}

const REVERSE = buildReverse();

/** Native → common. Privileges outside the vocabulary (Pool.*, Mapping.*, VM.Replicate, Sys.Incoming...) map to []. */
export function toCommon(nativePrivilege: string): CommonPrivilege[] {
  return [...(REVERSE.get(nativePrivilege) ?? [])];
}

const RANK: Record<Fidelity, number> = { exact: 0, narrowed: 1, widened: 2, unrepresentable: 3 };

/** The worst of several fidelities: a reviewer must see the riskiest loss. */
export function worstFidelity(fs: readonly Fidelity[]): Fidelity {
  return fs.reduce<Fidelity>((worst, f) => (RANK[f] > RANK[worst] ? f : worst), 'exact');
}

/** Native privileges for a set of common ones, sorted and deduplicated. */
export function nativeFor(privs: readonly CommonPrivilege[]): string[] {
  return [...new Set(privs.flatMap((p) => PRIVILEGE_MAP[p].native))].sort();
}
