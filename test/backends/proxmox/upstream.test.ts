/**
 * Expectations ported from pve-access-control `src/test/perm-test{1,3,4,6,8}.pl` with their
 * `test{1,3,4,6,8}.cfg`: `roles` rows check `AccessControl::roles()`, `perm` rows check
 * `RPCEnvironment::permissions()` (pools and token intersection included).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backend } from '../../../server/backends/proxmox/index.ts';
import { rolesOf } from '../../../server/backends/proxmox/resolve.ts';

type Row = [kind: 'roles' | 'perm', subject: string, path: string, expected: string];

const VM_ALL = 'VM.Allocate,VM.Audit,VM.Backup,VM.Clone,VM.Config.CDROM,VM.Config.CPU,VM.Config.Cloudinit,'
  + 'VM.Config.Disk,VM.Config.HWType,VM.Config.Memory,VM.Config.Network,VM.Config.Options,VM.Console,'
  + 'VM.GuestAgent.Audit,VM.GuestAgent.FileRead,VM.GuestAgent.FileSystemMgmt,VM.GuestAgent.FileWrite,'
  + 'VM.GuestAgent.Unrestricted,VM.Migrate,VM.PowerMgmt,VM.Replicate,VM.Snapshot,VM.Snapshot.Rollback';
// Upstream's list as of 9.0 plus VM.Replicate, which `pveum role list` on PVE 9.0.3 shows in both roles.
const ADMIN_ALL = 'Datastore.Allocate,Datastore.AllocateSpace,Datastore.AllocateTemplate,Datastore.Audit,Group.Allocate,'
  + 'Mapping.Audit,Mapping.Modify,Mapping.Use,Permissions.Modify,Pool.Allocate,Pool.Audit,Realm.Allocate,Realm.AllocateUser,'
  + 'SDN.Allocate,SDN.Audit,SDN.Use,Sys.AccessNetwork,Sys.Audit,Sys.Console,Sys.Incoming,Sys.Modify,Sys.PowerMgmt,Sys.Syslog,'
  + `User.Modify,${VM_ALL}`;

const TEST1_USERS = `user:joe@pve:1:
user:max@pve:1:
user:alex@pve:1:
user:sue@pve:1:
user:carol@pam:1:
group:testgroup1:joe@pve,max@pve,sue@pve:
group:testgroup2:alex@pve,carol@pam,sue@pve:
group:testgroup3:max@pve:
role:storage_manager:Datastore.AllocateSpace,Datastore.Audit:
role:customer:VM.Audit,VM.PowerMgmt:
role:vm_admin:VM.Audit,VM.Allocate,Permissions.Modify,VM.Console:
acl:1:/vms:@testgroup1:vm_admin:
acl:1:/vms/100/:alex@pve,max@pve:customer:
acl:1:/storage/nfs1:@testgroup2:storage_manager:
acl:1:/users:max@pve:Administrator:
acl:1:/vms/200:@testgroup3:storage_manager:
acl:1:/vms/200:@testgroup2:NoAccess:
`;

const CASES: Array<{ name: string; cfg: string; rows: Row[] }> = [
  {
    name: 'test1: user beats group, NoAccess from one group, built-in PVEVMAdmin vs Administrator',
    cfg: `${TEST1_USERS}acl:1:/vms/300:alex@pve:PVEVMAdmin:\nacl:1:/vms/400:alex@pve:Administrator:\n`,
    rows: [
      ['roles', 'max@pve', '/', ''], ['roles', 'max@pve', '/vms', 'vm_admin'],
      ['roles', 'max@pve', '/vms/100', 'customer'], ['roles', 'max@pve', '/vms/101', 'vm_admin'],
      ['perm', 'max@pve', '/', ''], ['perm', 'max@pve', '/vms', 'Permissions.Modify,VM.Allocate,VM.Audit,VM.Console'],
      ['perm', 'max@pve', '/vms/100', 'VM.Audit,VM.PowerMgmt'],
      ['perm', 'alex@pve', '/vms', ''], ['perm', 'alex@pve', '/vms/100', 'VM.Audit,VM.PowerMgmt'],
      ['perm', 'alex@pve', '/vms/300', VM_ALL], ['perm', 'alex@pve', '/vms/400', ADMIN_ALL],
      ['roles', 'max@pve', '/vms/200', 'storage_manager'], ['roles', 'joe@pve', '/vms/200', 'vm_admin'],
      ['roles', 'sue@pve', '/vms/200', 'NoAccess'],
    ],
  },
  {
    name: 'test3: a deeper group grant replaces an inherited one',
    cfg: 'user:User1@pve:1:\nuser:User2@pve:1:\ngroup:GroupA:User1@pve:\ngroup:GroupB:User1@pve:\nrole:Role1:VM.PowerMgmt:\nrole:Role2:VM.Console:\nacl:1:/vms:@GroupA:Role1:\nacl:1:/vms/200:@GroupB:Role2:\n',
    rows: [['roles', 'User1@pve', '/vms/300', 'Role1'], ['roles', 'User1@pve', '/vms/200', 'Role2']],
  },
  {
    name: 'test4: a user NoAccess beats a group role on the same path',
    cfg: 'user:User1@pve:1:\nuser:User2@pve:1:\ngroup:GroupA:User1@pve,User2@pve:\ngroup:GroupB:User1@pve,User2@pve:\nrole:Role1:VM.PowerMgmt:\nrole:Role2:VM.Console:\nacl:1:/vms:@GroupA:Role1:\nacl:1:/vms:User2@pve:NoAccess:\n',
    rows: [['roles', 'User1@pve', '/vms/300', 'Role1'], ['roles', 'User2@pve', '/vms/300', 'NoAccess']],
  },
  {
    name: 'test6: pools, nested pools, storage in two pools, NoAccess against pool roles',
    cfg: `user:User1@pve:1:\nuser:User2@pve:1:\nuser:User3@pve:1:\nuser:User4@pve:1:\nuser:intern@pve:1:
group:DEVEL:User1@pve,User2@pve,User3@pve:\ngroup:MARKETING:User1@pve,User4@pve:\ngroup:INTERNS:intern@pve:
role:RoleDEVEL:VM.PowerMgmt:\nrole:RoleMARKETING:VM.Console:\nrole:RoleINTERN:VM.Audit:\nrole:RoleTEST1:VM.Console:
acl:1:/pool/devel:@DEVEL:RoleDEVEL:\nacl:1:/pool/marketing:@MARKETING:RoleMARKETING:\nacl:1:/pool/marketing/interns:@INTERNS:RoleINTERN:
acl:1:/vms:@DEVEL:RoleTEST1:\nacl:1:/vms:User3@pve:NoAccess:\nacl:1:/vms/300:@MARKETING:RoleTEST1:
pool:devel:MITS development:500,501,502:store1 store2:\npool:marketing:MITS marketing:600:store1:\npool:marketing/interns:MITS marketing intern:700:store3:\n`,
    rows: [
      ['roles', 'User1@pve', '/vms', 'RoleTEST1'], ['roles', 'User3@pve', '/vms', 'NoAccess'], ['roles', 'User4@pve', '/vms', ''],
      ['roles', 'User4@pve', '/vms/300', 'RoleTEST1'], ['roles', 'User3@pve', '/vms/300', 'NoAccess'],
      ['perm', 'User1@pve', '/vms/500', 'VM.Console,VM.PowerMgmt'], ['perm', 'User2@pve', '/vms/500', 'VM.Console,VM.PowerMgmt'],
      ['roles', 'User3@pve', '/vms/500', 'NoAccess'], ['perm', 'User3@pve', '/vms/500', ''],
      ['roles', 'User4@pve', '/vms/500', ''], ['perm', 'User4@pve', '/vms/500', ''],
      ['roles', 'intern@pve', '/vms/600', ''], ['roles', 'intern@pve', '/vms/700', ''], ['roles', 'User4@pve', '/vms/700', ''],
      ['perm', 'intern@pve', '/vms/600', ''], ['perm', 'intern@pve', '/vms/700', 'VM.Audit'], ['perm', 'User4@pve', '/vms/700', 'VM.Console'],
      ['roles', 'intern@pve', '/pool/marketing/interns', 'RoleINTERN'], ['roles', 'User4@pve', '/pool/marketing/interns', 'RoleMARKETING'],
      ['perm', 'User1@pve', '/vms/600', 'VM.Console'], ['perm', 'User3@pve', '/vms/600', ''], ['perm', 'User4@pve', '/vms/600', 'VM.Console'],
      ['perm', 'User1@pve', '/storage/store1', 'VM.Console,VM.PowerMgmt'], ['perm', 'User2@pve', '/storage/store1', 'VM.PowerMgmt'],
      ['perm', 'User3@pve', '/storage/store1', 'VM.PowerMgmt'], ['perm', 'User4@pve', '/storage/store1', 'VM.Console'],
      ['perm', 'User1@pve', '/storage/store2', 'VM.PowerMgmt'], ['perm', 'User4@pve', '/storage/store2', ''],
    ],
  },
  {
    name: 'test8: tokens with and without privilege separation, token ∩ user',
    cfg: `${TEST1_USERS.replace('user:max@pve:1:\n', 'user:max@pve:1:\ntoken:max@pve!token::0:\ntoken:max@pve!token2::1:\n')
      .replace('user:carol@pam:1:\n', 'user:carol@pam:1:\ntoken:carol@pam!token:\n')}
acl:1:/vms/200:carol@pam!token:vm_admin\nacl:1:/vms/200:max@pve!token:storage_manager\nacl:1:/vms/200:max@pve!token2:customer
acl:0:/vms/300:max@pve:customer:\nacl:1:/vms/300:max@pve:vm_admin:\nacl:1:/vms/300:max@pve!token2:Administrator\n`,
    rows: [
      ['roles', 'carol@pam', '/vms/200', 'NoAccess'], ['roles', 'carol@pam!token', '/vms/200', 'NoAccess'],
      ['roles', 'max@pve!token', '/vms/200', 'storage_manager'], ['roles', 'max@pve!token2', '/vms/200', 'customer'],
      ['perm', 'max@pve!token2', '/vms/300', 'Permissions.Modify,VM.Allocate,VM.Audit,VM.Console,VM.PowerMgmt'],
    ],
  },
];

for (const c of CASES) {
  test(`upstream ${c.name}`, () => {
    const model = backend.import([{ path: 'user.cfg', text: c.cfg }]);
    for (const [kind, subject, path, expected] of c.rows) {
      const got = kind === 'roles'
        ? rolesOf(model, subject, path).join(',')
        : backend.effective(model, { principals: [subject], resources: [path] }).map((r) => r.privilege).join(',');
      assert.equal(got, expected, `${kind}(${subject}, ${path})`);
    }
  });
}
