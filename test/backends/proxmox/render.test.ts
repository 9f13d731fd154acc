import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backend } from '../../../server/backends/proxmox/index.ts';
import { customRoleName } from '../../../server/backends/proxmox/change.ts';
import { AccessInputError } from '../../../server/domain/access/model.ts';
import type { ChangeItem, ChangeSet, GrantSpec } from '../../../server/domain/access/model.ts';

const CFG = `user:alice@pve:1:
token:alice@pve!ci::1:
user:bob@pve:1:
group:ops:alice@pve,bob@pve:
role:Operate:VM.Audit,VM.Console,VM.PowerMgmt:
acl:1:/vms:@ops:Operate:
acl:0:/vms/101:bob@pve:NoAccess:
`;
const model = () => backend.import([{ path: 'user.cfg', text: CFG }]);
const spec = (g: Partial<GrantSpec>): GrantSpec => ({ principal: 'ops', resource: '/vms/100', propagate: true, effect: 'allow', ...g });
const change = (...items: ChangeItem[]): ChangeSet => ({ backend: 'proxmox', items });
const addItem = (g: Partial<GrantSpec>, id = 'i1'): ChangeItem => ({ id, op: 'add', grant: spec(g) });

test('common privileges reuse a built-in role that matches exactly', () => {
  const r = backend.render(model(), change(addItem({ privileges: ['vm.view', 'vm.clone'] })));
  assert.match(r.text, /^pveum acl modify \/vms\/100 --groups ops --roles PVETemplateUser --propagate 1$/m);
  assert.match(r.text, /^\+acl:1:\/vms\/100:@ops:PVETemplateUser:$/m);
  assert.doesNotMatch(r.text, /role add/);
  assert.deepEqual(r.items, [{ itemId: 'i1', fidelity: 'exact' }]);
});

test('otherwise a deterministic custom role ACR_<hash> is created first', () => {
  const name = customRoleName(['VM.PowerMgmt', 'VM.Console']);
  assert.match(name, /^ACR_[0-9a-f]{8}$/);
  assert.equal(name, customRoleName(['VM.Console', 'VM.PowerMgmt']));
  const r = backend.render(model(), change(addItem({ privileges: ['vm.power', 'vm.console'], propagate: false })));
  const lines = r.text.split('\n');
  assert.ok(lines.indexOf(`pveum role add ${name} --privs VM.Console,VM.PowerMgmt`) < lines.indexOf(`pveum acl modify /vms/100 --groups ops --roles ${name} --propagate 0`));
  assert.ok(lines.includes(`+role:${name}:VM.Console,VM.PowerMgmt:`));
  assert.ok(lines.includes(`+acl:0:/vms/100:@ops:${name}:`));
});

test('re-adding (path, principal, role) with another propagate is reported as a replacement', () => {
  const r = backend.render(model(), change(addItem({ principal: 'bob@pve', role: 'NoAccess', effect: 'deny', resource: '/vms/101', propagate: true })));
  assert.equal(r.replaces.length, 1);
  assert.equal(r.replaces[0]?.grantId, 'acl:/vms/101:bob@pve:NoAccess');
  assert.match(r.replaces[0]?.reason ?? '', /overwrites it with 1/);
  assert.match(r.text, /^-acl:0:\/vms\/101:bob@pve:NoAccess:\n\+acl:1:\/vms\/101:bob@pve:NoAccess:$/m);
});

test('removal renders pveum acl delete and the removed line; a token id is shell-quoted', () => {
  const r = backend.render(model(), change(
    { id: 'r1', op: 'remove', grant: spec({ principal: 'bob@pve', role: 'NoAccess', effect: 'deny', resource: '/vms/101', propagate: false }) },
    addItem({ principal: 'alice@pve!ci', role: 'PVEVMUser' }, 'a1'),
  ));
  assert.match(r.text, /^pveum acl delete \/vms\/101 --users bob@pve --roles NoAccess$/m);
  assert.match(r.text, /^-acl:0:\/vms\/101:bob@pve:NoAccess:$/m);
  assert.match(r.text, /^pveum acl modify \/vms\/100 --tokens 'alice@pve!ci' --roles PVEVMUser --propagate 1$/m);
});

test('fidelity per item: widened, unrepresentable, and expiry Proxmox cannot hold', () => {
  const r = backend.render(model(), change(
    addItem({ privileges: ['vm.create'] }, 'w'),
    addItem({ privileges: ['vm.secrets'] }, 'u'),
    addItem({ role: 'PVEAuditor', expiresAt: '2030-01-01T00:00:00Z' }, 'e'),
  ));
  assert.deepEqual(r.items.map((i) => [i.itemId, i.fidelity]), [['w', 'widened'], ['u', 'unrepresentable'], ['e', 'widened']]);
  assert.match(r.items[2]?.note ?? '', /no expiry/);
  assert.ok(r.warnings.some((w) => w.startsWith('item u:')));
  assert.doesNotMatch(r.text, /# item u[^\n]*\npveum/);
});

test('validateChange rejects unknown principals, roles and resource forms', () => {
  const bad: Array<[Partial<GrantSpec>, RegExp]> = [
    [{ principal: 'mallory@pve', role: 'PVEAuditor' }, /unknown user 'mallory@pve'/],
    [{ principal: 'nobody', role: 'PVEAuditor' }, /unknown group 'nobody'/],
    [{ principal: 'alice@pve!zz', role: 'PVEAuditor' }, /unknown token/],
    [{ role: 'Superuser' }, /unknown role 'Superuser'/],
    [{ role: 'PVEAuditor', resource: '/vms/12' }, /not a Proxmox ACL path/],
    [{ role: 'PVEAuditor', resource: 'datacenter/web01' }, /not a Proxmox ACL path/],
    [{ role: 'PVEAuditor', effect: 'deny' }, /deny is exactly the NoAccess role/],
    [{}, /role or at least one privilege/],
  ];
  for (const [g, re] of bad) {
    assert.throws(() => backend.validateChange(model(), change(addItem(g))), (e: unknown) => e instanceof AccessInputError && re.test(e.message), re.source);
  }
  assert.throws(() => backend.validateChange(model(), { backend: 'xapi', items: [] }), /not proxmox/);
});

test('applyChange is pure and adds the custom role and the resource', () => {
  const before = model();
  const snapshot = structuredClone(before);
  const after = backend.applyChange(before, change(addItem({ privileges: ['vm.power'], resource: '/vms/555' })));
  assert.deepEqual(before, snapshot);
  assert.ok(after.resources.some((r) => r.id === '/vms/555'));
  const name = customRoleName(['VM.PowerMgmt']);
  assert.ok(after.grants.some((g) => g.resource === '/vms/555' && g.role === name && g.provenance.apiId === 'change:i1'));
  assert.ok(after.roles.some((r) => r.name === name && !r.builtin));
});

test('affectedPrincipals: named principals, members of named groups, tokens of affected users', () => {
  const m = model();
  assert.deepEqual(backend.affectedPrincipals(m, change(addItem({ role: 'PVEAuditor' }))), ['alice@pve', 'bob@pve', 'alice@pve!ci'].sort());
  assert.deepEqual(backend.affectedPrincipals(m, change(addItem({ principal: 'bob@pve', role: 'PVEAuditor' }))), ['bob@pve']);
  assert.deepEqual(backend.affectedPrincipals(m, change(addItem({ principal: 'alice@pve!ci', role: 'PVEAuditor' }))), ['alice@pve!ci']);
});
