/**
 * Hand-maintained input of scripts/xapi-rbac-from-source.ts: which xapi permissions Accord models and the
 * common privileges each one stands for. This is Accord's reviewers' judgement, not upstream's: the lowest
 * role of each permission is NOT written here, it is derived from xen-api's datamodel by the generator.
 *
 * Rules of thumb used:
 * - a permission lands on a common privilege only if holding it lets someone do that thing; a call that
 *   merely reads, checks or asserts (`vm.assert_can_migrate`, `sr.scan`) is left out, because the lowest
 *   role over all permissions of a privilege is what Accord reports as that privilege's role;
 * - disk-level calls that stand in for VM operations (`vdi.pool_migrate`, `vdi.revert`) join the VM
 *   privilege; disk creation and copying is `storage.allocate`;
 * - permissions only local root holds (`_R_LOCAL_ROOT_ONLY`, e.g. `vtpm.get_contents`) cannot be granted
 *   and are not listed.
 * Order here is the order of the generated table.
 */
import type { CommonPrivilege } from '../server/domain/access/model.ts';

export interface PermissionInput {
  /** xapi's permission name: `class.message`, `class.message/key:<key>`, `http/<action>[/<sub-action>]`. */
  permission: string;
  common: CommonPrivilege[];
}

const p = (permission: string, ...common: CommonPrivilege[]): PermissionInput => ({ permission, common });

export const XAPI_PERMISSION_INPUT: readonly PermissionInput[] = [
  // reading
  p('vm.get_record', 'vm.view'),
  p('vm.get_possible_hosts', 'vm.view'),
  p('vm.get_data_sources', 'vm.view'),
  p('http/vm_rrd', 'vm.view'),
  p('host.get_record', 'host.view'),
  p('http/host_rrd', 'host.view'),
  p('network.get_record', 'network.view'),
  p('sr.get_record', 'storage.view'),
  // consoles
  p('http/connect_console', 'vm.console'),
  p('http/connect_console_ws', 'vm.console'),
  p('http/get_vncsnapshot', 'vm.console'),
  // VM power
  p('vm.start', 'vm.power'),
  p('vm.clean_shutdown', 'vm.power'),
  p('vm.hard_shutdown', 'vm.power'),
  p('vm.shutdown', 'vm.power'),
  p('vm.clean_reboot', 'vm.power'),
  p('vm.hard_reboot', 'vm.power'),
  p('vm.suspend', 'vm.power'),
  p('vm.resume', 'vm.power'),
  p('vm.pause', 'vm.power'),
  p('vm.unpause', 'vm.power'),
  p('vm.start_on', 'vm.power'),
  p('vm.resume_on', 'vm.power'),
  p('vm.power_state_reset', 'vm.power'),
  p('vm.send_sysrq', 'vm.power'),
  p('vm.send_trigger', 'vm.power'),
  // VM configuration
  p('vbd.insert', 'vm.config.media'),
  p('vbd.eject', 'vm.config.media'),
  p('vm.set_vcpus_max', 'vm.config'),
  p('vm.set_vcpus_at_startup', 'vm.config'),
  p('vm.set_domain_type', 'vm.config'),
  p('vm.set_other_config', 'vm.config'),
  p('vm.set_platform', 'vm.config'),
  p('vbd.create', 'vm.config'),
  p('vbd.destroy', 'vm.config'),
  p('vm.set_memory', 'vm.config'),
  p('vm.set_memory_limits', 'vm.config'),
  p('vm.set_ha_restart_priority', 'vm.config'),
  p('vm.add_to_other_config/key:pci', 'vm.config', 'host.config'),
  p('vm.add_to_platform/key:hvm_serial', 'vm.config'),
  // VM lifecycle
  p('vm.create', 'vm.create'),
  p('vm.provision', 'vm.create'),
  p('http/put_import', 'vm.create'),
  p('vm.import', 'vm.create'),
  p('vm.destroy', 'vm.delete'),
  p('vm.clone', 'vm.clone'),
  p('vm.copy', 'vm.clone'),
  p('vm.snapshot', 'vm.snapshot'),
  p('vm.checkpoint', 'vm.snapshot'),
  p('vm.revert', 'vm.snapshot.revert'),
  p('vdi.revert', 'vm.snapshot.revert'),
  p('vm.pool_migrate', 'vm.migrate'),
  p('vm.migrate_send', 'vm.migrate'),
  p('vdi.pool_migrate', 'vm.migrate'),
  p('host.migrate_receive', 'vm.migrate'),
  // export and disk contents
  p('http/get_export', 'vm.backup', 'vm.secrets'),
  p('http/get_export_metadata', 'vm.backup'),
  p('http/get_export_raw_vdi', 'vm.backup', 'vm.secrets'),
  p('vdi.get_nbd_info', 'vm.backup', 'vm.secrets'),
  // hosts and the pool
  p('host.reboot', 'host.power'),
  p('host.shutdown', 'host.power'),
  p('host.disable', 'host.power'),
  p('host.enable', 'host.power'),
  p('host.power_on', 'host.power'),
  p('host.evacuate', 'host.power'),
  p('pool.enable_ha', 'host.config'),
  p('pool.disable_ha', 'host.config'),
  p('pool.join', 'host.config'),
  p('pool.eject', 'host.config'),
  p('host.management_reconfigure', 'host.config'),
  p('host.set_hostname_live', 'host.config'),
  p('host.apply_updates', 'host.config'),
  p('http/get_system_status', 'host.config'),
  p('http/put_pool_patch_upload', 'host.config'),
  p('http/get_host_backup', 'host.config', 'vm.secrets'),
  p('http/put_host_restore', 'host.config'),
  p('http/connect_console/host_console', 'host.shell'),
  p('http/connect_console_ws/host_console_ws', 'host.shell'),
  p('http/get_vncsnapshot/host_console', 'host.shell'),
  p('http/connect_remotecmd', 'host.shell'),
  p('host.call_plugin', 'host.shell'),
  p('host.enable_ssh', 'host.shell'),
  p('pool.enable_ssh', 'host.shell'),
  // networks
  p('vif.create', 'network.use'),
  p('vif.destroy', 'network.use'),
  p('vif.plug', 'network.use'),
  p('vif.unplug', 'network.use'),
  p('network.create', 'network.manage'),
  p('network.destroy', 'network.manage'),
  p('network.add_purpose', 'network.manage'),
  p('pif.reconfigure_ip', 'network.manage'),
  p('vlan.create', 'network.manage'),
  p('bond.create', 'network.manage'),
  // storage
  p('vdi.create', 'storage.allocate'),
  p('vdi.destroy', 'storage.allocate'),
  p('vdi.resize', 'storage.allocate'),
  p('vdi.copy', 'storage.allocate'),
  p('vdi.clone', 'storage.allocate'),
  p('vdi.snapshot', 'storage.allocate'),
  p('sr.create', 'storage.manage'),
  p('sr.destroy', 'storage.manage'),
  p('sr.introduce', 'storage.manage'),
  p('sr.forget', 'storage.manage'),
  p('pbd.create', 'storage.manage'),
  p('pbd.plug', 'storage.manage'),
  p('pbd.unplug', 'storage.manage'),
  // subjects, roles and external authentication
  p('subject.create', 'access.manage'),
  p('subject.destroy', 'access.manage'),
  p('subject.add_to_roles', 'access.manage'),
  p('subject.remove_from_roles', 'access.manage'),
  p('pool.enable_external_auth', 'access.manage'),
  p('pool.disable_external_auth', 'access.manage'),
  p('host.enable_external_auth', 'access.manage'),
  p('host.disable_external_auth', 'access.manage'),
];
