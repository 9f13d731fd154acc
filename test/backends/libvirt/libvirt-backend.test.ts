import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeSet, GrantSpec } from '../../../server/domain/access/model.ts';
import { AccessInputError } from '../../../server/domain/access/model.ts';
import { backend, createLibvirtBackend } from '../../../server/backends/libvirt/index.ts';
import { Decider } from '../../../server/backends/libvirt/effective.ts';
import { DOMAIN, USERS, baseFiles, fixture, modelWith } from './helpers.ts';

const POLICY = '/usr/share/polkit-1/actions/org.libvirt.api.policy';
const add = (...grants: GrantSpec[]): ChangeSet => ({ backend: 'libvirt', items: grants.map((grant, i) => ({ id: `i${i}`, op: 'add', grant })) });

// aclpolkit.rst, "restricting ability to connect to drivers" and "restricting access to a single domain".
const ACLPOLKIT_1 = `polkit.addRule(function(action, subject) {
    if (action.id == "org.libvirt.api.connect.getattr" && subject.user == "berrange") {
          if (action.lookup("connect_driver") == 'QEMU') { return polkit.Result.YES; } else { return polkit.Result.NO; }
    }
});`;
const ACLPOLKIT_2 = `polkit.addRule(function(action, subject) {
    if (action.id == "org.libvirt.api.domain.getattr" && subject.user == "berrange") {
          if (action.lookup("connect_driver") == 'LXC' && action.lookup("domain_name") == 'demo') { return polkit.Result.YES; } else { return polkit.Result.NO; }
    }
});`;
const NO_FIRST = 'polkit.addRule(function (a, s) { if (s.user == "alice" && a.id == "org.libvirt.api.domain.start") return polkit.Result.NO; });';

type Row = [label: string, rules: Record<string, string>, grants: GrantSpec[], user: keyof typeof USERS, action: string, details: Record<string, string>, result: string, because: string];
const allowAlice: GrantSpec = { principal: 'unix-user:alice', privileges: ['vm.power'], resource: '/QEMU/domain/web01', propagate: false, effect: 'allow' };

const TABLE: Row[] = [
  ['aclpolkit 1: berrange may use QEMU', { '100-acl.rules': ACLPOLKIT_1 }, [], 'berrange', 'connect.getattr', { connect_driver: 'QEMU' }, 'yes', '/etc/polkit-1/rules.d/100-acl.rules'],
  ['aclpolkit 1: ...but not LXC (NO beats default yes)', { '100-acl.rules': ACLPOLKIT_1 }, [], 'berrange', 'connect.getattr', { connect_driver: 'LXC' }, 'no', '/etc/polkit-1/rules.d/100-acl.rules'],
  ['aclpolkit 1: others keep the default', { '100-acl.rules': ACLPOLKIT_1 }, [], 'alice', 'connect.getattr', { connect_driver: 'LXC' }, 'yes', POLICY],
  ['aclpolkit 2: berrange sees LXC demo', { '100-acl.rules': ACLPOLKIT_2 }, [], 'berrange', 'domain.getattr', DOMAIN.demo, 'yes', '/etc/polkit-1/rules.d/100-acl.rules'],
  ['aclpolkit 2: ...and no other domain', { '100-acl.rules': ACLPOLKIT_2 }, [], 'berrange', 'domain.getattr', DOMAIN.web01, 'no', '/etc/polkit-1/rules.d/100-acl.rules'],
  ['an earlier file\'s NO beats Accord\'s later YES', { '10-no.rules': NO_FIRST }, [allowAlice], 'alice', 'domain.start', DOMAIN.web01, 'no', '/etc/polkit-1/rules.d/10-no.rules'],
  ['Accord\'s YES when nothing earlier decides', {}, [allowAlice], 'alice', 'domain.stop', DOMAIN.web01, 'yes', 'g-'],
  ['group rule: vmops may start web*', { '100-libvirt-acl.rules': fixture('100-libvirt-acl.rules') }, [], 'carol', 'domain.start', DOMAIN.web01, 'yes', '/etc/polkit-1/rules.d/100-libvirt-acl.rules'],
  ['group rule: ...not db01 (default no)', { '100-libvirt-acl.rules': fixture('100-libvirt-acl.rules') }, [], 'alice', 'domain.start', DOMAIN.db01, 'no', POLICY],
  ['group rule: bob is denied reading', { '100-libvirt-acl.rules': fixture('100-libvirt-acl.rules') }, [], 'bob', 'domain.read', DOMAIN.db01, 'no', '/etc/polkit-1/rules.d/100-libvirt-acl.rules'],
  ['default yes for read-only actions', {}, [], 'bob', 'domain.read', DOMAIN.db01, 'yes', POLICY],
  ['default no for the rest', {}, [], 'bob', 'domain.delete', DOMAIN.db01, 'no', POLICY],
  ['root is always allowed', { '10-no.rules': 'polkit.addRule(function () { return polkit.Result.NO; });' }, [], 'root', 'domain.delete', DOMAIN.db01, 'yes', 'uid 0'],
  ['deny entries win inside Accord\'s file', {}, [allowAlice, { ...allowAlice, principal: 'unix-group:vmops', effect: 'deny' }], 'alice', 'domain.start', DOMAIN.web01, 'no', 'g-'],
  ['an expired grant no longer matches', {}, [{ ...allowAlice, expiresAt: '2020-01-01T00:00:00Z' }], 'alice', 'domain.start', DOMAIN.web01, 'no', POLICY],
  ['a rule that throws denies (polkitd: error → not authorized)', { '10-boom.rules': 'polkit.addRule(function () { throw new Error("x"); });' }, [], 'bob', 'domain.read', DOMAIN.db01, 'no', '/etc/polkit-1/rules.d/10-boom.rules'],
  ['duktape lacks Array.prototype.includes: such a rule throws', { '10-inc.rules': 'polkit.addRule(function (a) { if (["x"].includes(a.id)) return polkit.Result.YES; });' }, [], 'bob', 'domain.read', DOMAIN.db01, 'no', '/etc/polkit-1/rules.d/10-inc.rules'],
  ['an ES2015 file is not loaded', { '10-arrow.rules': 'polkit.addRule((a, s) => polkit.Result.YES);' }, [], 'bob', 'domain.delete', DOMAIN.db01, 'no', POLICY],
  ['const is fine for duktape', { '10-const.rules': 'const Y = polkit.Result.YES; polkit.addRule(function () { return Y; });' }, [], 'bob', 'domain.delete', DOMAIN.db01, 'yes', '/etc/polkit-1/rules.d/10-const.rules'],
  ['AUTH_ADMIN is not a yes', { '10-auth.rules': 'polkit.addRule(function () { return polkit.Result.AUTH_ADMIN; });' }, [], 'bob', 'domain.read', DOMAIN.db01, 'auth_admin', '/etc/polkit-1/rules.d/10-auth.rules'],
];

for (const [label, rules, grants, user, action, details, result, because] of TABLE) {
  test(label, () => {
    const base = modelWith(rules);
    const model = backend.applyChange(base, add(...grants));
    const d = new Decider(model, { nowMs: Date.parse('2026-11-24T00:00:00Z') }).decide(USERS[user], `org.libvirt.api.${action}`, details);
    assert.equal(d.result, result);
    assert.ok(d.because.startsWith(because), `because ${d.because}`);
  });
}

test('effective rows name the Accord grant and follow the decision', () => {
  const model = backend.applyChange(modelWith(), add(allowAlice));
  const rows = backend.effective(model, { principals: ['unix-user:alice'], resources: ['/QEMU/domain/web01'] });
  const start = rows.find((r) => r.privilege === 'domain.start');
  assert.deepEqual(start?.because, [model.grants[0]?.id]);
  assert.ok(!rows.some((r) => r.privilege === 'domain.delete'));
  assert.ok(rows.every((r) => r.principal === 'unix-user:alice' && r.resource === '/QEMU/domain/web01'));
});

test('import → render → import recovers the same grants', () => {
  const change = JSON.parse(fixture('../../../examples/libvirt-change.json')) as ChangeSet;
  const base = modelWith();
  const text = backend.render(base, change).text;
  const again = backend.import([...baseFiles(), { path: '/etc/polkit-1/rules.d/50-accord.rules', text }]);
  assert.deepEqual(again.warnings, []);
  assert.equal(again.grants.length, 3);
  assert.equal(backend.render(again, { backend: 'libvirt', items: [] }).text, text);
  const strip = (gs: typeof again.grants) => gs.map(({ provenance: _p, ...g }) => g).sort((a, b) => a.id.localeCompare(b.id));
  assert.deepEqual(strip(again.grants), strip(backend.applyChange(base, change).grants));
});

test('a hand-edited Accord file is kept as foreign rules, with a warning', () => {
  const text = backend.render(modelWith(), add(allowAlice)).text.replace('"yes"', '"no"');
  const m = backend.import([...baseFiles(), { path: '/etc/polkit-1/rules.d/50-accord.rules', text }]);
  assert.equal(m.grants.length, 0);
  assert.match(m.warnings[0]?.message ?? '', /edited by hand/);
});

test('render reports fidelity per item and the prerequisite', () => {
  const r = backend.render(modelWith(), JSON.parse(fixture('../../../examples/libvirt-change.json')) as ChangeSet);
  assert.deepEqual(r.items.map((i) => i.fidelity), ['widened', 'unrepresentable', 'exact']);
  assert.ok(r.warnings.some((w) => w.includes('access_drivers = [ "polkit" ]')));
  assert.match(r.text, /^\/\/ accord:libvirt-rules v1/);
  assert.ok(!/=>|\blet\b|`/.test(r.text), 'ES5 only');
});

test('validateChange rejects unknown principals, resources and actions', () => {
  const m = modelWith();
  const bad: [string, GrantSpec][] = [
    ['principal', { ...allowAlice, principal: 'unix-user:mallory' }],
    ['resource', { ...allowAlice, resource: '/QEMU/domain/nope' }],
    ['action', { ...allowAlice, privileges: undefined, role: 'domain.teleport' } as GrantSpec],
    ['expiry', { ...allowAlice, expiresAt: 'tomorrow' }],
  ];
  for (const [what, g] of bad) assert.throws(() => backend.validateChange(m, add(g)), AccessInputError, what);
  assert.throws(() => backend.validateChange(m, { backend: 'libvirt', items: [{ id: 'r', op: 'remove', grant: allowAlice }] }), AccessInputError);
  backend.validateChange(m, add(allowAlice));
});

test('affectedPrincipals expands groups to their members', () => {
  const change = add({ ...allowAlice, principal: 'unix-group:vmops' });
  assert.deepEqual(backend.affectedPrincipals(modelWith(), change), ['unix-group:vmops', 'unix-user:alice', 'unix-user:carol']);
});

test('privilege map and toCommon', () => {
  assert.deepEqual(backend.toCommon('org.libvirt.api.domain.start'), ['vm.power']);
  assert.equal(backend.privilegeMap['network.use'].fidelity, 'unrepresentable');
  assert.equal(createLibvirtBackend().capabilities.expiry, 'native');
});

test('import needs an inventory and the action file', () => {
  assert.throws(() => backend.import(baseFiles().filter((f) => f.path !== 'inventory.json')), AccessInputError);
  assert.throws(() => backend.import(baseFiles().filter((f) => !f.path.endsWith('.policy'))), AccessInputError);
});
