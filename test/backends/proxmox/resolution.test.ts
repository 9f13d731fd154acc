/**
 * Documented resolution rules (pveum.adoc "Permission Management" / "Inheritance", AccessControl.pm
 * `roles`, RPCEnvironment.pm `permissions`), one table row per rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backend } from '../../../server/backends/proxmox/index.ts';
import type { ChangeSet } from '../../../server/domain/access/model.ts';

const BASE = `user:alice@pve:1:
token:alice@pve!ci::1:
token:alice@pve!legacy::0:
user:bob@pve:1:
user:dave@pve:0:
token:dave@pve!old::0:
user:erin@pve:1:1700000000:
group:ops:alice@pve,bob@pve,dave@pve,erin@pve:
group:devs:alice@pve:
role:Operate:VM.Audit,VM.Console,VM.PowerMgmt:
role:View:VM.Audit:
role:Snap:VM.Snapshot:
`;

interface Case { name: string; acl: string; change?: ChangeSet; expect: Array<[subject: string, path: string, privs: string]> }

const add = (principal: string, role: string, resource: string, propagate = true): ChangeSet => ({
  backend: 'proxmox', items: [{ id: 'c1', op: 'add', grant: { principal, role, resource, propagate, effect: role === 'NoAccess' ? 'deny' : 'allow' } }],
});
const remove = (principal: string, role: string, resource: string): ChangeSet => ({
  backend: 'proxmox', items: [{ id: 'c1', op: 'remove', grant: { principal, role, resource, propagate: true, effect: 'allow' } }],
});

const OPERATE = 'VM.Audit,VM.Console,VM.PowerMgmt';

const CASES: Case[] = [
  {
    name: 'a deeper grant replaces (narrows) inherited rights',
    acl: 'acl:1:/vms:@ops:Operate:\nacl:1:/vms/100:@ops:View:\n',
    expect: [['bob@pve', '/vms/100', 'VM.Audit'], ['bob@pve', '/vms/101', OPERATE]],
  },
  {
    name: 'revoking the deeper grant widens rights back to the inherited ones',
    acl: 'acl:1:/vms:@ops:Operate:\nacl:1:/vms/100:@ops:View:\n',
    change: remove('ops', 'View', '/vms/100'),
    expect: [['bob@pve', '/vms/100', OPERATE]],
  },
  {
    name: "a user's NoAccess beats a group role on the same path",
    acl: 'acl:1:/vms:@ops:Operate:\nacl:1:/vms:bob@pve:NoAccess:\n',
    expect: [['bob@pve', '/vms/100', ''], ['alice@pve', '/vms/100', OPERATE]],
  },
  {
    name: 'a user grant replaces group grants on the same path, even a weaker one',
    acl: 'acl:1:/vms:@ops:Operate:\nacl:1:/vms:bob@pve:View:\n',
    expect: [['bob@pve', '/vms/100', 'VM.Audit']],
  },
  {
    name: 'roles from several groups on one path are unioned',
    acl: 'acl:1:/vms:@ops:View:\nacl:1:/vms:@devs:Snap:\n',
    expect: [['alice@pve', '/vms/7000', 'VM.Audit,VM.Snapshot'], ['bob@pve', '/vms/7000', 'VM.Audit']],
  },
  {
    name: 'propagate=0 applies only at that exact path',
    acl: 'acl:0:/vms:@ops:Operate:\n',
    expect: [['bob@pve', '/vms', OPERATE], ['bob@pve', '/vms/100', '']],
  },
  {
    name: 'a privilege-separated token gets its own ACL ∩ its user, a plain token its user',
    acl: 'acl:1:/vms:@ops:Operate:\nacl:1:/vms:alice@pve!ci:PVEVMAdmin:\nacl:1:/storage:alice@pve!ci:PVEDatastoreAdmin:\n',
    expect: [['alice@pve!ci', '/vms/100', OPERATE], ['alice@pve!ci', '/storage/local', ''], ['alice@pve!legacy', '/vms/100', OPERATE]],
  },
  {
    name: 'pool roles reach the VMs and storages of the pool, and only them',
    acl: 'acl:1:/pool/prod:@ops:Operate:\npool:prod:production:100:local:\n',
    expect: [['bob@pve', '/vms/100', OPERATE], ['bob@pve', '/vms/101', ''], ['bob@pve', '/storage/local', OPERATE], ['bob@pve', '/pool/prod', OPERATE]],
  },
  {
    name: 'a regular NoAccess beats pool roles',
    acl: 'acl:1:/pool/prod:@ops:Operate:\nacl:1:/vms/100:bob@pve:NoAccess:\npool:prod::100::\n',
    expect: [['bob@pve', '/vms/100', ''], ['alice@pve', '/vms/100', OPERATE]],
  },
  {
    name: 'a pool NoAccess beats regular roles on the members of the pool',
    acl: 'acl:1:/vms:@ops:Operate:\nacl:1:/pool/prod:bob@pve:NoAccess:\npool:prod::100::\n',
    expect: [['bob@pve', '/vms/100', ''], ['bob@pve', '/vms/101', OPERATE]],
  },
  {
    name: 'a resource in no line inherits from its parents',
    acl: 'acl:1:/:bob@pve:View:\nacl:1:/vms:@ops:Operate:\n',
    expect: [['bob@pve', '/vms/999', OPERATE], ['bob@pve', '/storage/nfs', 'VM.Audit'], ['alice@pve', '/storage/nfs', '']],
  },
  {
    name: 'disabled or expired users, and their tokens, have nothing',
    acl: 'acl:1:/vms:@ops:Operate:\n',
    expect: [['dave@pve', '/vms/100', ''], ['dave@pve!old', '/vms/100', ''], ['erin@pve', '/vms/100', '']],
  },
  {
    name: 'root@pam has every privilege everywhere, whatever the ACLs say',
    acl: 'acl:1:/:root@pam:NoAccess:\n',
    expect: [['root@pam', '/vms/4242', 'ok']],
  },
  {
    name: 'adding a NoAccess for a group clears its members on that subtree',
    acl: 'acl:1:/vms:@ops:Operate:\n',
    change: add('ops', 'NoAccess', '/vms/100'),
    expect: [['bob@pve', '/vms/100', ''], ['bob@pve', '/vms/101', OPERATE]],
  },
];

for (const c of CASES) {
  test(`proxmox rule: ${c.name}`, () => {
    let model = backend.import([{ path: 'user.cfg', text: BASE + c.acl }]);
    if (c.change) model = backend.applyChange(model, c.change);
    for (const [subject, path, privs] of c.expect) {
      const got = backend.effective(model, { principals: [subject], resources: [path] }).map((r) => r.privilege);
      if (privs === 'ok') assert.ok(got.includes('Permissions.Modify') && got.includes('Sys.Console') && got.length > 40, subject);
      else assert.equal(got.join(','), privs, `${subject} on ${path}`);
    }
  });
}

test('each row names the grants it comes from', () => {
  const model = backend.import([{ path: 'user.cfg', text: `${BASE}acl:1:/vms:@ops:Operate:\nacl:1:/vms:@devs:View:\n` }]);
  const row = backend.effective(model, { principals: ['alice@pve'], resources: ['/vms/1'] }).find((r) => r.privilege === 'VM.Audit');
  assert.deepEqual(row?.because, ['acl:/vms:@devs:View', 'acl:/vms:@ops:Operate']);
});

test('effective rejects a resource that is not an ACL path', () => {
  const model = backend.import([{ path: 'user.cfg', text: BASE }]);
  assert.throws(() => backend.effective(model, { resources: ['vms 100'] }), /not a Proxmox ACL path/);
});
