/**
 * Common privilege → libvirt polkit actions (reference/hypervisor-access.md §6.1, libvirt column),
 * with fidelity. Native names drop the `org.libvirt.api.` prefix.
 */
import type { CommonPrivilege, PrivilegeMapping } from '../../domain/access/model.ts';
import { COMMON_PRIVILEGES } from '../../domain/access/model.ts';
import { nativeName } from './actions.ts';

const none = (note: string): PrivilegeMapping => ({ native: [], fidelity: 'unrepresentable', note });

export const PRIVILEGE_MAP: Record<CommonPrivilege, PrivilegeMapping> = {
  'vm.view': { native: ['domain.getattr', 'domain.read'], fidelity: 'exact', note: 'listing also needs connect.search-domains (default yes)' },
  'vm.console': {
    native: ['domain.open-graphics', 'domain.open-device', 'domain.screenshot', 'domain.send-input'],
    fidelity: 'widened', note: 'domain.open-device also opens guest channels, not only the serial console',
  },
  'vm.power': {
    native: ['domain.start', 'domain.stop', 'domain.reset', 'domain.init-control', 'domain.suspend', 'domain.pm-control'],
    fidelity: 'exact',
  },
  'vm.config.media': { native: ['domain.write'], fidelity: 'widened', note: 'libvirt has no media-only permission: domain.write allows any config change' },
  'vm.config': { native: ['domain.write', 'domain.save'], fidelity: 'exact' },
  'vm.create': { native: ['domain.write', 'domain.save'], fidelity: 'widened', note: 'the same actions also let the holder redefine existing domains it matches' },
  'vm.delete': { native: ['domain.delete'], fidelity: 'exact' },
  'vm.snapshot': { native: ['domain.snapshot'], fidelity: 'widened', note: 'domain.snapshot also allows reverting' },
  'vm.snapshot.revert': { native: ['domain.snapshot'], fidelity: 'widened', note: 'domain.snapshot also allows creating and deleting snapshots' },
  'vm.clone': none('cloning is a composite (define + storage-vol.create/data-read); grant those instead'),
  'vm.migrate': { native: ['domain.migrate'], fidelity: 'narrowed', note: 'the destination host also checks domain.start and domain.write' },
  'vm.backup': { native: ['domain.checkpoint', 'domain.block-read'], fidelity: 'widened', note: 'block-read also reads disk contents; backup API ACLs are unverified' },
  'vm.guest': {
    native: ['domain.open-namespace', 'domain.set-password', 'domain.fs-freeze', 'domain.fs-trim', 'domain.send-signal'],
    fidelity: 'exact',
  },
  'vm.secrets': { native: ['domain.read-secure', 'domain.mem-read', 'domain.block-read', 'domain.core-dump'], fidelity: 'exact' },
  'host.view': { native: ['connect.getattr', 'connect.read'], fidelity: 'exact' },
  'host.config': {
    native: [
      'connect.write', 'connect.interface-transaction',
      'interface.getattr', 'interface.read', 'interface.write', 'interface.save', 'interface.delete', 'interface.start', 'interface.stop',
      'node-device.getattr', 'node-device.read', 'node-device.write', 'node-device.start', 'node-device.stop', 'node-device.detach', 'node-device.delete',
    ],
    fidelity: 'exact',
  },
  'host.power': { native: ['connect.pm-control'], fidelity: 'exact' },
  'host.shell': none('host shell access is outside libvirt (sshd, sudo)'),
  'network.view': { native: ['network.getattr', 'network.read'], fidelity: 'exact' },
  'network.use': none('attaching a domain to a network checks only domain.write on the domain'),
  'network.manage': {
    native: [
      'network.write', 'network.save', 'network.delete', 'network.start', 'network.stop',
      'nwfilter.getattr', 'nwfilter.read', 'nwfilter.write', 'nwfilter.save', 'nwfilter.delete',
    ],
    fidelity: 'exact',
  },
  'storage.view': {
    native: ['storage-pool.getattr', 'storage-pool.read', 'storage-pool.search-storage-vols', 'storage-vol.getattr', 'storage-vol.read'],
    fidelity: 'exact',
  },
  'storage.allocate': { native: ['storage-vol.create', 'storage-vol.data-write', 'storage-vol.resize'], fidelity: 'exact' },
  'storage.manage': {
    native: [
      'storage-pool.write', 'storage-pool.save', 'storage-pool.delete', 'storage-pool.start', 'storage-pool.stop',
      'storage-pool.format', 'storage-pool.refresh', 'storage-vol.delete', 'storage-vol.format',
    ],
    fidelity: 'exact',
  },
  'access.manage': none('polkit rules files are host root territory; libvirt has no permission for them'),
};

const REVERSE = new Map<string, CommonPrivilege[]>();
for (const p of COMMON_PRIVILEGES) {
  for (const n of PRIVILEGE_MAP[p].native) REVERSE.set(n, [...(REVERSE.get(n) ?? []), p]);
}

/** The common privileges a native action implies (accepts `domain.start` or `org.libvirt.api.domain.start`). */
export function toCommon(native: string): CommonPrivilege[] {
  return [...(REVERSE.get(nativeName(native)) ?? [])];
}
