import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessInputError, type GrantSpec } from '../../../server/domain/access/model.ts';
import { backend, ChangeItemError } from '../../../server/backends/vsphere/index.ts';
import { ALL_FIXTURES, change, fixtureFiles } from './world.ts';

const model = backend.import(fixtureFiles(...ALL_FIXTURES));
const OPS = 'VSPHERE.LOCAL\\ops';
const ALICE = 'VSPHERE.LOCAL\\alice';
const VM_A = '/DC0/vm/Team/vmA';
const spec = (over: Partial<GrantSpec>): GrantSpec => ({ principal: OPS, resource: VM_A, propagate: false, effect: 'allow', role: 'ReadOnly', ...over });

test('render: a group grant through common privileges creates an ACR_ role, then sets the permission', () => {
  const out = backend.render(model, change({ id: 'i1', op: 'add', grant: spec({ role: undefined, privileges: ['vm.power', 'vm.console', 'vm.view'] }) }));
  const lines = out.text.split('\n').filter((l) => l.startsWith('govc'));
  assert.equal(lines.length, 2, out.text);
  assert.match(lines[0]!, /^govc role\.create ACR_[0-9a-f]{10} /);
  assert.ok(lines[0]!.includes('VirtualMachine.Interact.PowerOn') && lines[0]!.includes('VirtualMachine.Interact.ConsoleInteract'));
  assert.ok(!lines[0]!.includes('System.Anonymous'), 'vSphere adds the System.* privileges itself');
  const role = /ACR_[0-9a-f]{10}/.exec(lines[0]!)![0];
  assert.equal(lines[1], `govc permissions.set -principal 'VSPHERE.LOCAL\\ops' -group=true -propagate=false -role ${role} /DC0/vm/Team/vmA`);
  assert.deepEqual(out.items, [{ itemId: 'i1', fidelity: 'exact' }]);
  assert.equal(out.format, 'text/x-shell');
});

test('render: common privileges that match a role exactly reuse it; fidelity follows the privilege map', () => {
  const out = backend.render(model, change(
    { id: 'view', op: 'add', grant: spec({ role: undefined, privileges: ['vm.view'] }) },
    { id: 'shell', op: 'add', grant: spec({ principal: 'VSPHERE.LOCAL\\frank', role: undefined, privileges: ['host.shell'], resource: '/DC0/host/Cluster/esx1' }) },
    { id: 'power', op: 'add', grant: spec({ principal: 'VSPHERE.LOCAL\\erin', role: undefined, privileges: ['vm.power'] }) },
    { id: 'create', op: 'add', grant: spec({ principal: 'VSPHERE.LOCAL\\frank', role: undefined, privileges: ['vm.create', 'vm.view'], resource: '/DC0/vm/Team' }) },
  ));
  assert.ok(out.text.includes(`-role ReadOnly /DC0/vm/Team/vmA`));
  assert.ok(!out.text.includes('/DC0/host/Cluster/esx1\n'), 'host.shell renders no command');
  const fidelity = Object.fromEntries(out.items.map((i) => [i.itemId, i.fidelity]));
  assert.deepEqual(fidelity, { view: 'exact', shell: 'unrepresentable', power: 'widened', create: 'narrowed' });
  assert.match(out.items.find((i) => i.itemId === 'power')!.note!, /System\.View/);
});

test('render: setting a permission where the principal already has one is listed as a replacement', () => {
  const out = backend.render(model, change({ id: 'r', op: 'add', grant: spec({ resource: '/DC0/vm/Team', role: 'Admin', propagate: true }) }));
  assert.deepEqual(out.replaces, [{ itemId: 'r', grantId: '/DC0/vm/Team#VSPHERE.LOCAL\\ops', reason: out.replaces[0]!.reason }]);
  assert.match(out.replaces[0]!.reason, /one permission per principal per entity/);
  assert.ok(out.text.includes("govc permissions.set -principal 'VSPHERE.LOCAL\\ops' -group=true -propagate=true -role Admin /DC0/vm/Team"));
});

test('render: remove, replace in place, replace elsewhere, and deny', () => {
  const out = backend.render(model, change(
    { id: 'rm', op: 'remove', grant: spec({ principal: ALICE, resource: '/DC0/vm/Team/vmB', role: 'NoAccess', effect: 'deny' }) },
    { id: 'same', op: 'replace', from: spec({ resource: '/DC0/vm/Team', role: 'vm-operator', propagate: true }), to: spec({ resource: '/DC0/vm/Team', role: 'ReadOnly', propagate: true }) },
    { id: 'move', op: 'replace', from: spec({ principal: 'VSPHERE.LOCAL\\auditor', resource: '/DC0', propagate: true }), to: spec({ principal: 'VSPHERE.LOCAL\\auditor', resource: '/DC0/vm', propagate: true }) },
    { id: 'deny', op: 'add', grant: spec({ principal: 'VSPHERE.LOCAL\\frank', role: undefined, effect: 'deny' }) },
  ));
  const commands = out.text.split('\n').filter((l) => l.startsWith('govc'));
  assert.deepEqual(commands, [
    "govc permissions.remove -principal 'VSPHERE.LOCAL\\alice' /DC0/vm/Team/vmB",
    "govc permissions.set -principal 'VSPHERE.LOCAL\\ops' -group=true -propagate=true -role ReadOnly /DC0/vm/Team",
    "govc permissions.remove -principal 'VSPHERE.LOCAL\\auditor' /DC0",
    "govc permissions.set -principal 'VSPHERE.LOCAL\\auditor' -propagate=true -role ReadOnly /DC0/vm",
    "govc permissions.set -principal 'VSPHERE.LOCAL\\frank' -propagate=false -role NoAccess /DC0/vm/Team/vmA",
  ]);
  assert.deepEqual(out.replaces, [], 'a replace that names its own target is not a silent replacement');
  assert.ok(out.warnings.some((w) => w.includes('/DC0/vm')), 'vSphere refuses permissions on a datacenter’s VM folder');
});

test('validateChange: unknown principal, role or entity is an AccessInputError that points at the item', () => {
  const cases: [GrantSpec, RegExp, string][] = [
    [spec({ principal: 'VSPHERE.LOCAL\\nobody' }), /unknown principal/, '/items/0/grant/principal'],
    [spec({ role: 'NoSuchRole' }), /unknown role/, '/items/0/grant/role'],
    [spec({ resource: '/DC9/vm/x' }), /unknown entity/, '/items/0/grant/resource'],
    [spec({ role: 'ReadOnly', effect: 'deny' }), /NoAccess/, '/items/0/grant/role'],
    [spec({ role: undefined, privileges: ['vm.fly' as 'vm.view'] }), /unknown common privilege/, '/items/0/grant/privileges/0'],
  ];
  for (const [grant, message, pointer] of cases) {
    assert.throws(() => backend.validateChange(model, change({ id: 'x', op: 'add', grant })), (e: unknown) => {
      assert.ok(e instanceof AccessInputError && e instanceof ChangeItemError);
      assert.match(e.message, message);
      assert.equal(e.pointer, pointer);
      assert.equal(e.itemId, 'x');
      return true;
    });
  }
  assert.throws(() => backend.validateChange(model, change({ id: 'y', op: 'remove', grant: spec({ principal: 'VSPHERE.LOCAL\\frank' }) })), /no permission/);
  assert.doesNotThrow(() => backend.validateChange(model, change({ id: 'a', op: 'add', grant: spec({}) }, { id: 'b', op: 'remove', grant: spec({}) })));
});

test('applyChange is pure and honours the one-permission-per-principal rule', () => {
  const before = JSON.stringify(model);
  const after = backend.applyChange(model, change(
    { id: 'a', op: 'add', grant: spec({ resource: '/DC0/vm/Team', role: 'Admin', propagate: true }) },
    { id: 'b', op: 'add', grant: spec({ principal: 'VSPHERE.LOCAL\\frank', role: undefined, privileges: ['vm.power', 'vm.view'] }) },
  ));
  assert.equal(JSON.stringify(model), before, 'the input model is untouched');
  const onTeam = after.grants.filter((g) => g.resource === '/DC0/vm/Team' && g.principal === OPS);
  assert.equal(onTeam.length, 1);
  assert.equal(onTeam[0]!.role, 'Admin');
  const frank = after.grants.find((g) => g.principal === 'VSPHERE.LOCAL\\frank' && g.resource === VM_A)!;
  const role = after.roles.find((r) => r.name === frank.role)!;
  assert.ok(role.name.startsWith('ACR_') && !role.builtin);
  assert.ok(role.privileges.includes('System.Read') && role.privileges.includes('VirtualMachine.Interact.Reset'));
  assert.equal(after.grants.length, model.grants.length + 1);
});

test('affectedPrincipals: named principals and every member of a named group, nested ones included', () => {
  const affected = backend.affectedPrincipals(model, change({ id: 'a', op: 'add', grant: spec({}) }));
  assert.deepEqual(affected, ['VSPHERE.LOCAL\\alice', 'VSPHERE.LOCAL\\erin', 'VSPHERE.LOCAL\\oncall', 'VSPHERE.LOCAL\\ops'].sort());
});
