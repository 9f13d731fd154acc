/**
 * Effective access against the vSphere Security guide's documented examples
 * ("Multiple Permission Settings", Examples 1–3; "Hierarchical Inheritance of Permissions").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backend } from '../../../server/backends/vsphere/index.ts';
import { EXAMPLE_ROLES, EXAMPLE_TREE, change, diff, importWorld, privs, type Perm } from './world.ts';

const POWER_ON = 'VirtualMachine.Interact.PowerOn';
const SNAPSHOT = 'VirtualMachine.State.CreateSnapshot';
const U1 = 'VSPHERE.LOCAL\\user1';
const U2 = 'VSPHERE.LOCAL\\user2';
const GA = 'VSPHERE.LOCAL\\groupA';
const GB = 'VSPHERE.LOCAL\\groupB';
const groups = { [GA]: [U1, U2], [GB]: [U1] };

interface Case {
  name: string;
  perms: Perm[];
  expect: [who: string, on: string, has: string[], lacks: string[]][];
}

const VM_A = '/DC0/vm/F/vmA';
const VM_B = '/DC0/vm/F/vmB';
const F = '/DC0/vm/F';
const PROD = '/DC0/host/C/Resources/Prod';

const cases: Case[] = [
  {
    name: 'Example 1: permissions of two groups on one object are unioned',
    perms: [{ on: F, who: GA, group: true, role: 'PowerOnVMRole' }, { on: F, who: GB, group: true, role: 'SnapShotRole' }],
    expect: [[U1, VM_A, [POWER_ON, SNAPSHOT], []], [U1, VM_B, [POWER_ON, SNAPSHOT], []], [U2, VM_A, [POWER_ON], [SNAPSHOT]]],
  },
  {
    name: 'Example 2: a permission on the child overrides the propagated one, even from another group',
    perms: [{ on: F, who: GA, group: true, role: 'PowerOnVMRole' }, { on: VM_B, who: GB, group: true, role: 'SnapShotRole' }],
    expect: [[U1, VM_A, [POWER_ON], [SNAPSHOT]], [U1, VM_B, [SNAPSHOT], [POWER_ON]], [U2, VM_B, [POWER_ON], []]],
  },
  {
    name: "Example 3: the user's NoAccess beats the group's role on the same object and below",
    perms: [{ on: F, who: GA, group: true, role: 'PowerOnVMRole' }, { on: F, who: U1, role: 'NoAccess' }],
    expect: [[U1, F, [], [POWER_ON, 'System.View']], [U1, VM_A, [], [POWER_ON, 'System.Read']], [U2, VM_A, [POWER_ON], []]],
  },
  {
    name: "the user's own narrower role beats a broader group role on the same object",
    perms: [{ on: F, who: GA, group: true, role: 'Admin' }, { on: F, who: U1, role: 'ReadOnly' }],
    expect: [[U1, VM_A, ['System.Read'], [POWER_ON]], [U2, VM_A, [POWER_ON, 'Authorization.ModifyPermissions'], []]],
  },
  {
    name: 'a non-propagating permission applies to its entity only; below it the grandparent’s permission still flows',
    perms: [{ on: '/DC0/vm', who: U1, role: 'SnapShotRole' }, { on: F, who: U1, role: 'PowerOnVMRole', propagate: false }],
    expect: [[U1, F, [POWER_ON], [SNAPSHOT]], [U1, VM_A, [SNAPSHOT], [POWER_ON]]],
  },
  {
    name: 'a VM in a folder and a resource pool gets the union of both parent chains',
    perms: [{ on: F, who: U1, role: 'PowerOnVMRole' }, { on: PROD, who: U1, role: 'SnapShotRole' }],
    expect: [[U1, VM_A, [POWER_ON, SNAPSHOT], []], [U1, VM_B, [POWER_ON], [SNAPSHOT]]],
  },
  {
    name: 'restricting a VM takes a narrower permission on both its folder and its resource pool',
    perms: [{ on: '/DC0', who: U1, role: 'Admin' }, { on: F, who: U1, role: 'ReadOnly' }, { on: PROD, who: U1, role: 'ReadOnly' }],
    expect: [[U1, VM_A, ['System.Read'], [POWER_ON]], [U1, VM_B, [POWER_ON], []]],
  },
  {
    name: 'NoAccess on one parent chain does not cancel what the other chain passes down',
    perms: [{ on: F, who: U1, role: 'PowerOnVMRole' }, { on: PROD, who: U1, role: 'NoAccess' }],
    expect: [[U1, VM_A, [POWER_ON], []], [U1, PROD, [], ['System.Read']]],
  },
  {
    name: 'a permission on the VM itself overrides both parent chains',
    perms: [{ on: F, who: U1, role: 'PowerOnVMRole' }, { on: PROD, who: U1, role: 'Admin' }, { on: VM_A, who: U1, role: 'SnapShotRole' }],
    expect: [[U1, VM_A, [SNAPSHOT], [POWER_ON, 'Authorization.ModifyPermissions']]],
  },
  {
    name: 'nested groups: members of a member group inherit the outer group’s permission',
    perms: [{ on: F, who: 'VSPHERE.LOCAL\\outer', group: true, role: 'PowerOnVMRole' }],
    expect: [[U1, VM_A, [POWER_ON], []], ['VSPHERE.LOCAL\\outer', VM_A, [POWER_ON], []], [U2, VM_A, [POWER_ON], []]],
  },
];

for (const c of cases) {
  test(c.name, () => {
    const model = importWorld({
      tree: EXAMPLE_TREE, roles: EXAMPLE_ROLES, perms: c.perms,
      groups: { ...groups, 'VSPHERE.LOCAL\\outer': [GA] },
    });
    assert.deepEqual(model.warnings, []);
    for (const [who, on, has, lacks] of c.expect) {
      const held = privs(model, who, on);
      for (const p of has) assert.ok(held.has(p), `${who} should hold ${p} on ${on}; holds ${[...held].join(', ')}`);
      for (const p of lacks) assert.ok(!held.has(p), `${who} should not hold ${p} on ${on}`);
    }
  });
}

test('a deeper permission narrows, and removing it widens again (blast radius both ways)', () => {
  const model = importWorld({
    tree: EXAMPLE_TREE, roles: EXAMPLE_ROLES, groups,
    perms: [{ on: '/DC0', who: GA, group: true, role: 'Admin' }],
  });
  const narrow = change({ id: 'n', op: 'add', grant: { principal: U1, role: 'ReadOnly', resource: F, propagate: true, effect: 'allow' } });
  const narrowed = diff(model, narrow);
  assert.deepEqual(narrowed.gained, []);
  assert.ok(narrowed.lost.includes(`${U1}\u0000${F}\u0000${POWER_ON}`));
  // vmA and vmB still inherit Admin through their resource pools: "to restrict a user's privileges on a
  // virtual machine, you must set permissions on both the parent folder and the parent host, cluster, or
  // resource pool" (vSphere 5.5 guide, Hierarchical Inheritance of Permissions).
  assert.ok(!narrowed.lost.some((k) => k.includes(`\u0000${VM_A}\u0000`)));
  assert.ok(!narrowed.lost.some((k) => k.startsWith(`${U2}\u0000`)), 'user2 is not touched');
  assert.ok(!narrowed.lost.some((k) => k.includes('\u0000/DC0/host')), 'nothing outside the folder changes');

  const after = backend.applyChange(model, narrow);
  const widen = change({ id: 'w', op: 'remove', grant: { principal: U1, role: 'ReadOnly', resource: F, propagate: true, effect: 'allow' } });
  const widened = diff(after, widen);
  assert.deepEqual(widened.lost, []);
  assert.deepEqual(widened.gained, narrowed.lost);
});

test('rows name the grants that produce them; a union row names every contributing grant', () => {
  const model = importWorld({
    tree: EXAMPLE_TREE, roles: EXAMPLE_ROLES, groups,
    perms: [{ on: F, who: GA, group: true, role: 'PowerOnVMRole' }, { on: F, who: GB, group: true, role: 'SnapShotRole' }],
  });
  const rows = backend.effective(model, { principals: [U1], resources: [VM_A] });
  const view = rows.find((r) => r.privilege === 'System.View');
  assert.deepEqual([...view!.because].sort(), [`${F}#${GA}`, `${F}#${GB}`]);
  assert.deepEqual(rows.find((r) => r.privilege === POWER_ON)?.because, [`${F}#${GA}`]);
});

test('no access is assumed for administrators: without permissions the table is empty', () => {
  const model = importWorld({ tree: EXAMPLE_TREE, roles: EXAMPLE_ROLES, groups, perms: [] });
  assert.deepEqual(backend.effective(model), []);
});

test('the full table equals the union of per-principal queries', () => {
  const model = importWorld({
    tree: EXAMPLE_TREE, roles: EXAMPLE_ROLES, groups,
    perms: [{ on: '/DC0', who: GA, group: true, role: 'ReadOnly' }, { on: VM_B, who: U1, role: 'NoAccess' }, { on: PROD, who: U2, role: 'SnapShotRole' }],
  });
  const all = backend.effective(model).map((r) => JSON.stringify(r)).sort();
  const each = model.principals.flatMap((p) => backend.effective(model, { principals: [p.id] })).map((r) => JSON.stringify(r)).sort();
  assert.deepEqual(all, each);
  assert.ok(all.length > 0);
});
