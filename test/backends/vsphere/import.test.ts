import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessInputError } from '../../../server/domain/access/model.ts';
import { backend } from '../../../server/backends/vsphere/index.ts';
import { ALL_FIXTURES, fixtureFiles, privs } from './world.ts';

test('each file is recognised by its content, whatever its name or order', () => {
  const files = fixtureFiles(...ALL_FIXTURES).reverse().map((f, i) => ({ ...f, path: `upload-${i}` }));
  const model = backend.import(files);
  assert.equal(model.backend, 'vsphere');
  assert.ok(model.resources.some((r) => r.id === '/DC0/vm/Team/vmA'));
  assert.ok(model.roles.some((r) => r.name === 'vm-operator' && !r.builtin));
  assert.ok(model.grants.length > 0);
  assert.ok(model.principals.some((p) => p.id === 'VSPHERE.LOCAL\\erin'));
});

test('a VM has two parents: its VM folder and its resource pool', () => {
  const model = backend.import(fixtureFiles(...ALL_FIXTURES));
  const vm = model.resources.find((r) => r.id === '/DC0/vm/Team/vmA');
  assert.deepEqual(vm, { id: '/DC0/vm/Team/vmA', kind: 'vm', name: 'vmA', parents: ['/DC0/vm/Team', '/DC0/host/Cluster/Resources/Prod'] });
  const dc = model.resources.find((r) => r.id === '/DC0');
  assert.deepEqual(dc?.parents, ['/'], 'a top-level object hangs under the root folder');
  // alice is in ops (vm-operator on Team) and dba (snapshotter on Prod): vmA gets both, through two chains.
  assert.ok(privs(model, 'VSPHERE.LOCAL\\frank', '/DC0/vm/Team/vmA').has('VirtualMachine.State.CreateSnapshot'));
  assert.ok(privs(model, 'VSPHERE.LOCAL\\alice', '/DC0/vm/Team/vmA').has('VirtualMachine.Interact.PowerOn'));
  assert.ok(privs(model, 'VSPHERE.LOCAL\\alice', '/DC0/vm/Team/vmA').has('VirtualMachine.State.CreateSnapshot'));
  // ...but her own NoAccess on vmB beats her groups there.
  assert.equal(privs(model, 'VSPHERE.LOCAL\\alice', '/DC0/vm/Team/vmB').size, 0);
  // erin is in oncall, a member group of ops.
  assert.ok(privs(model, 'VSPHERE.LOCAL\\erin', '/DC0/vm/Team/vmB').has('VirtualMachine.Interact.ConsoleInteract'));
});

test('grants keep file and JSON pointer; users, groups, directories and memberships come through', () => {
  const model = backend.import(fixtureFiles(...ALL_FIXTURES));
  const root = model.grants.find((g) => g.resource === '/');
  assert.deepEqual(root, {
    id: '/#VSPHERE.LOCAL\\Administrators', principal: 'VSPHERE.LOCAL\\Administrators', role: 'Admin', resource: '/',
    propagate: true, effect: 'allow', provenance: { file: 'permissions.json', apiId: '/Permissions/0' },
  });
  const deny = model.grants.find((g) => g.principal === 'VSPHERE.LOCAL\\alice');
  assert.equal(deny?.effect, 'deny');
  assert.equal(deny?.role, 'NoAccess');
  const ops = model.principals.find((p) => p.id === 'VSPHERE.LOCAL\\ops');
  assert.equal(ops?.kind, 'group');
  assert.equal(ops?.directory, 'VSPHERE.LOCAL');
  assert.deepEqual(model.principals.find((p) => p.id === 'VSPHERE.LOCAL\\alice')?.memberOf, ['VSPHERE.LOCAL\\ops', 'VSPHERE.LOCAL\\dba']);
  assert.equal(model.principals.find((p) => p.id === 'VSPHERE.LOCAL\\oncall')?.kind, 'group', 'a member that is a key is a nested group');
});

test('what cannot be read becomes a warning naming file and pointer', () => {
  const model = backend.import(fixtureFiles(...ALL_FIXTURES));
  const messages = model.warnings.map((w) => `${w.file}: ${w.message}`);
  assert.ok(messages.some((m) => m.startsWith('permissions.json: /Permissions/5: unknown role id 42')), messages.join('\n'));
  assert.ok(messages.some((m) => m.startsWith('permissions.json: /Permissions/6: entity VirtualMachine:vm-99 is not in the inventory')));
  assert.ok(messages.some((m) => m.startsWith('permissions.json: /Permissions/7: permission of VSPHERE.LOCAL\\dave has no entity')));
  assert.ok(!model.grants.some((g) => g.principal === 'VSPHERE.LOCAL\\bob'), 'a grant on an unknown role is skipped');
  const carol = model.grants.find((g) => g.principal === 'VSPHERE.LOCAL\\carol');
  assert.equal(carol?.resource, 'VirtualMachine:vm-99', 'an entity outside the inventory is kept, detached');
});

test('upstream lowerCamel keys and old Go field names give the same model', () => {
  const lower = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(lower);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k === 'Permissions' ? k : k.charAt(0).toLowerCase() + k.slice(1), lower(x)]));
    }
    return v;
  };
  const upper = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(upper);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.charAt(0).toUpperCase() + k.slice(1), upper(x)]));
    return v;
  };
  const files = fixtureFiles(...ALL_FIXTURES);
  const recase = (f: (v: unknown) => unknown) =>
    files.map((file) => (file.path === 'groups.json' ? file : { ...file, text: JSON.stringify(f(JSON.parse(file.text))) }));
  const a = backend.import(recase(lower));
  const b = backend.import(recase(upper));
  assert.ok(a.grants.length >= 5);
  assert.deepEqual(a.grants, b.grants);
  assert.deepEqual(a.resources, b.resources);
  assert.deepEqual(a.roles.map((r) => [r.name, r.privileges]), b.roles.map((r) => [r.name, r.privileges]));
});

test('without role.ls output the system roles are known by id; Admin holds every known privilege', () => {
  const model = backend.import(fixtureFiles('inventory.json', 'permissions.json', 'groups.json'));
  assert.ok(model.warnings.some((w) => w.message.includes('unknown role id 10')));
  const admin = privs(model, 'VSPHERE.LOCAL\\Administrator', '/DC0/vm/Team/vmA');
  assert.ok(admin.size >= 275, `Admin from the vcsim list: ${admin.size}`);
  assert.ok(admin.has('VirtualMachine.GuestOperations.Execute'));
  assert.deepEqual([...privs(model, 'VSPHERE.LOCAL\\auditor', '/DC0/host/Cluster/esx1')].sort(), ['System.Anonymous', 'System.Read', 'System.View']);
});

test('bad files are AccessInputErrors naming the file (and the line for JSON syntax)', () => {
  assert.throws(() => backend.import([{ path: 'perms.json', text: '{\n  "Permissions": [\n    {,\n  ]\n}' }]), (e: unknown) => {
    assert.ok(e instanceof AccessInputError);
    assert.equal(e.file, 'perms.json');
    assert.equal(e.line, 3);
    return true;
  });
  assert.throws(() => backend.import([{ path: 'other.json', text: '{"hello": 1}' }]), (e: unknown) => e instanceof AccessInputError && e.file === 'other.json');
});

test('toCommon maps native privileges back to the vocabulary', () => {
  assert.deepEqual(backend.toCommon('VirtualMachine.Interact.PowerOn'), ['vm.power']);
  assert.deepEqual(backend.toCommon('VirtualMachine.GuestOperations.Execute'), ['vm.guest']);
  assert.deepEqual(backend.toCommon('Authorization.ModifyPermissions'), ['access.manage']);
  assert.deepEqual(backend.toCommon('Cryptographer.Decrypt'), ['vm.secrets']);
  assert.deepEqual(backend.toCommon('System.Anonymous'), []);
  assert.deepEqual(backend.toCommon('VirtualMachine.Provisioning.DiskRandomRead').sort(), ['vm.backup', 'vm.secrets']);
  assert.deepEqual(backend.toCommon('System.Read').sort(), ['host.view', 'network.view', 'vm.view']);
});

test('an identical repeated permission (permissions.ls -a over several entities) is merged; a conflicting one is reported', () => {
  const files = fixtureFiles(...ALL_FIXTURES);
  const perms = JSON.parse(files.find((f) => f.path === 'permissions.json')!.text) as { Permissions: Record<string, unknown>[] };
  const first = perms.Permissions[1]!;
  const repeated = { Permissions: [...perms.Permissions, { ...first }, { ...first, RoleId: -2 }] };
  const model = backend.import([...files.filter((f) => f.path !== 'permissions.json'), { path: 'p.json', text: JSON.stringify(repeated) }]);
  assert.equal(model.grants.filter((g) => g.id === '/DC0/vm/Team#VSPHERE.LOCAL\\ops').length, 1);
  assert.equal(model.grants.find((g) => g.id === '/DC0/vm/Team#VSPHERE.LOCAL\\ops')?.role, 'vm-operator');
  const dupes = model.warnings.filter((w) => w.message.includes('second permission'));
  assert.deepEqual(dupes.map((w) => w.message), ['/Permissions/9: second permission of VSPHERE.LOCAL\\ops on /DC0/vm/Team; vSphere keeps one, skipped']);
});
