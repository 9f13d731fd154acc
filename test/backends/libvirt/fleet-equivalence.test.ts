/**
 * The fleet evaluator (server/backends/libvirt/fleet.ts, behind effective()) against the reference that asks
 * every (user, action, object) question through the whole chain of rules (reference.ts), on generated
 * inventories (one host and fleets), generated foreign rules (reading domain_name, connect_driver,
 * subject.user, isInGroup, groups, keys chosen by earlier reads, enumeration) and generated grants.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AccessModel, ChangeSet, CommonPrivilege, EffectiveRow, GrantSpec, NativeFile } from '../../../server/domain/access/model.ts';
import { AccessInputError } from '../../../server/domain/access/model.ts';
import { createLibvirtBackend } from '../../../server/backends/libvirt/index.ts';
import { computeEffective, Decider, lastEvaluation } from '../../../server/backends/libvirt/effective.ts';
import { evaluateHosts, NotDeterministic, RuleSet } from '../../../server/backends/libvirt/fleet.ts';
import { objectsOf, type Inventory } from '../../../server/backends/libvirt/inventory.ts';
import { knownActions, nativeOf } from '../../../server/backends/libvirt/native.ts';
import { referenceEffective } from '../../../server/backends/libvirt/reference.ts';
import { renderHostFiles } from '../../../server/backends/libvirt/render.ts';
import { renderRulesFile } from '../../../server/backends/libvirt/rules-file.ts';
import { objectTypeOf } from '../../../server/backends/libvirt/actions.ts';
import { classifierOf } from '../../../server/backends/libvirt/value-classes.ts';
import { mulberry32 } from '../../helpers/rng.ts';
import { randomRulesFile, rngOf, type Rng, type RuleVocabulary } from './generated-rules.ts';

const NOW = Date.parse('2026-11-24T00:00:00Z');
const libvirt = createLibvirtBackend({ nowMs: NOW });
const POLICY: NativeFile = { path: '/usr/share/polkit-1/actions/org.libvirt.api.policy', text: readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'libvirt', 'org.libvirt.api.policy'), 'utf8') };
const NAMES = ['web01', 'web02', 'webapp', 'db01', 'db02', 'build', 'demo', 'w'];
const GROUPS = ['ops', 'dev', 'storage', 'audit'];
const PRIVS: CommonPrivilege[] = ['vm.view', 'vm.power', 'vm.console', 'vm.snapshot', 'vm.delete', 'host.view', 'network.view', 'network.manage', 'storage.view', 'storage.manage'];

function inventory(r: Rng, fleet: boolean): Inventory {
  const users = Array.from({ length: 3 + r.int(5) }, (_, i) => ({
    name: `user${i}`, uid: 1000 + i, groups: [`user${i}`, ...new Set(Array.from({ length: r.int(3) }, () => r.pick(GROUPS)))],
  }));
  const objectsFor = (): Inventory['objects'] => {
    const out: Inventory['objects'] = [];
    for (const n of new Set(Array.from({ length: 2 + r.int(4) }, () => r.pick(NAMES)))) out.push({ type: 'domain', driver: r.chance(0.8) ? 'QEMU' : 'LXC', name: n, ...(r.chance(0.7) ? { uuid: `00000000-0000-4000-8000-${String(r.int(1e6)).padStart(12, '0')}` } : {}) });
    if (r.chance(0.7)) out.push({ type: 'network', name: r.pick(['default', 'isolated']) });
    if (r.chance(0.7)) {
      out.push({ type: 'storage-pool', name: 'images', uuid: '00000000-0000-4000-8000-000000000011' });
      if (r.chance(0.6)) out.push({ type: 'storage-vol', pool: 'images', name: 'a.qcow2' });
    }
    return out;
  };
  const base = { kind: 'libvirt-inventory' as const, host: 'fleet', users: [{ name: 'root', uid: 0, groups: ['root'] }, ...users], groups: GROUPS };
  if (!fleet) return { ...base, drivers: ['QEMU', 'LXC'], objects: objectsFor() };
  return { ...base, drivers: [], objects: [], hosts: Array.from({ length: 2 + r.int(2) }, (_, i) => ({ name: `hv${i}`, drivers: ['QEMU'], objects: objectsFor() })) };
}

function vocabulary(inv: Inventory, actions: readonly string[]): RuleVocabulary {
  return { users: inv.users.map((u) => u.name), groups: GROUPS, domainNames: NAMES, drivers: ['QEMU', 'LXC'], actions };
}

function generatedModel(seed: number): { model: AccessModel; fleet: boolean } {
  const r = rngOf(mulberry32(seed));
  const fleet = r.chance(0.4);
  const inv = inventory(r, fleet);
  const actions = knownActions(nativeOf(libvirt.import([POLICY, { path: 'inventory.json', text: JSON.stringify({ ...inv, hosts: undefined, drivers: ['QEMU'], objects: [] }) }])));
  const v = vocabulary(inv, actions.filter((a) => /^(domain|connect|network|storage-pool|storage-vol)\./.test(a)));
  const files: NativeFile[] = [POLICY, { path: 'inventory.json', text: JSON.stringify(inv) }];
  for (let i = 0, n = 1 + r.int(4); i < n; i++) {
    const name = `${r.pick(['10', '40', '60', '70', '90'])}-gen${i}.rules`;
    files.push({ path: `/etc/polkit-1/rules.d/${name}`, text: randomRulesFile(r, v, name) });
  }
  if (fleet) {
    // A host with its own extra file, and one whose copy of a shared file differs.
    const hosts = inv.hosts!;
    files.push({ path: `hosts/${hosts[0]!.name}/etc/polkit-1/rules.d/45-local.rules`, text: randomRulesFile(r, v, '45-local.rules') });
    const shared = files.find((f) => f.path.endsWith('.rules'))!;
    files.push({ path: `hosts/${hosts[1]!.name}${shared.path}`, text: randomRulesFile(r, v, 'override') });
  }
  const base = libvirt.import(files);
  const principals = base.principals.map((p) => p.id);
  const resources = base.resources.map((x) => x.id);
  const specs: GrantSpec[] = Array.from({ length: 3 + r.int(8) }, () => ({
    principal: r.pick(principals), privileges: [...new Set([r.pick(PRIVS), r.pick(PRIVS)])], resource: r.pick(resources),
    propagate: r.chance(0.5), effect: r.chance(0.25) ? 'deny' as const : 'allow' as const,
    ...(r.chance(0.2) ? { expiresAt: r.chance(0.5) ? '2020-01-01T00:00:00Z' : '2030-01-01T00:00:00Z' } : {}),
  }));
  const change: ChangeSet = { backend: 'libvirt', items: specs.map((grant, i) => ({ id: `g${i}`, op: 'add', grant })) };
  libvirt.validateChange(base, change);
  return { model: libvirt.applyChange(base, change), fleet };
}

const keys = (rows: EffectiveRow[]): string[] => rows.map((x) => `${x.principal} ${x.resource} ${x.privilege} ${x.because.join(',')}`).sort();

test('fleet evaluation equals the per-question reference on generated inventories, rules and grants', () => {
  let fleets = 0;
  let evaluations = 0;
  let questions = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const { model, fleet } = generatedModel(seed);
    const actual = computeEffective(model, {}, { nowMs: NOW });
    assert.equal(lastEvaluation.mode, 'fleet', `seed ${seed}: ${lastEvaluation.why ?? ''}`);
    evaluations += lastEvaluation.ruleEvaluations;
    assert.deepEqual(keys(actual), keys(referenceEffective(model, {}, { nowMs: NOW })), `seed ${seed}`);
    const n = nativeOf(model);
    questions += n.inventory.users.length * objectsOf(n.inventory).reduce((k, o) => k + knownActions(n).filter((a) => objectTypeOf(a) === o.type).length, 0);
    // A narrowed query (what blast radius asks) gives the same rows as the reference's narrowed query.
    const query = { principals: model.principals.filter((_, i) => i % 3 === seed % 3).map((p) => p.id), resources: model.resources.filter((_, i) => i % 2 === 0).map((x) => x.id) };
    assert.deepEqual(keys(computeEffective(model, query, { nowMs: NOW })), keys(referenceEffective(model, query, { nowMs: NOW })), `seed ${seed} (query)`);
    if (fleet) fleets += 1;
  }
  assert.ok(fleets >= 8, `fleets among the generated models: ${fleets}`);
  assert.ok(evaluations < questions, `the fleet evaluator asked ${evaluations} rule evaluations for ${questions} questions`);
});

test('rules that may keep state between questions, or change built-ins, are evaluated by the reference', () => {
  const inv = JSON.stringify({ kind: 'libvirt-inventory', users: [{ name: 'a', uid: 1000, groups: ['a', 'ops'] }, { name: 'b', uid: 1001, groups: ['b'] }], drivers: ['QEMU'], objects: [{ type: 'domain', driver: 'QEMU', name: 'web01' }, { type: 'domain', driver: 'QEMU', name: 'db01' }] });
  const cases: [string, string, RegExp][] = [
    ['counter', 'var n = 0; polkit.addRule(function (action, subject) { n++; if (n % 3 == 0) return polkit.Result.YES; });', /assigns to n/],
    ['cache', 'var seen = {}; polkit.addRule(function (action) { if (seen[action.id]) return polkit.Result.YES; seen[action.id] = true; });', /writes a property/],
    ['global regex', 'var re = /web/g; polkit.addRule(function (action) { if (re.test(action.lookup("domain_name"))) return polkit.Result.YES; });', /lastIndex/],
    ['random', 'polkit.addRule(function () { if (Math.random() < 0.5) return polkit.Result.YES; });', /random/],
    ['built-in', 'Array.prototype.indexOf = function () { return 0; }; polkit.addRule(function () { return null; });', /built-ins/],
  ];
  for (const [label, text, why] of cases) {
    const model = libvirt.import([POLICY, { path: 'inventory.json', text: inv }, { path: '/etc/polkit-1/rules.d/10-x.rules', text }]);
    const rows = computeEffective(model, {}, { nowMs: NOW });
    assert.equal(lastEvaluation.mode, 'reference', label);
    assert.match(lastEvaluation.why ?? '', why, label);
    assert.ok(rows.length > 0, label);
  }
});

test('a rule that writes to its action sends those questions through the whole chain', () => {
  const inv = { kind: 'libvirt-inventory' as const, host: 'h', users: [{ name: 'a', uid: 1000, groups: ['a', 'ops'] }, { name: 'b', uid: 1001, groups: ['b'] }], groups: [], drivers: ['QEMU'], objects: [{ type: 'domain' as const, driver: 'QEMU', name: 'web01' }, { type: 'domain' as const, driver: 'QEMU', name: 'db01' }] };
  // The first rule marks the action for members of ops; the second answers on the mark. Run alone, the
  // second rule would never see it; the static check would send this whole file to the reference, so
  // the rule set is built here without it to reach the run-time guard.
  const foreign = [{ path: '/etc/polkit-1/rules.d/10-mark.rules', text: `polkit.addRule(function (action, subject) { if (subject.isInGroup("ops") && action.lookup("domain_name") == "web01") action.marked = true; });
polkit.addRule(function (action) { if (action.marked && action.id == "org.libvirt.api.domain.start") return polkit.Result.YES; });` }];
  const model = libvirt.import([POLICY, { path: 'inventory.json', text: JSON.stringify(inv) }, ...foreign]);
  const n = nativeOf(model);
  const known = knownActions(n);
  const ruleSet = new RuleSet(foreign, n.accordFile, renderRulesFile([], known), NOW, undefined, undefined);
  assert.equal(ruleSet.unsupported, undefined);
  const decider = new Decider(model, { nowMs: NOW });
  const rows: string[] = [];
  evaluateHosts([{ chain: { foreign, accordFile: n.accordFile, grants: [], objects: objectsOf(n.inventory) }, ruleSet, reference: () => decider }],
    n.inventory.users, known, objectTypeOf, n.actions, known, NOW, (user, object, action, because) => { rows.push(`unix-user:${user.name} ${object.resource} ${action} ${because}`); });
  assert.ok(rows.includes('unix-user:a /QEMU/domain/web01 domain.start /etc/polkit-1/rules.d/10-mark.rules'));
  assert.deepEqual(rows.sort(), keys(referenceEffective(model, {}, { nowMs: NOW })).sort());
});

test('a rule whose reads disagree after the same reads is reported, not guessed', () => {
  const rs = new RuleSet([{ path: '/etc/polkit-1/rules.d/1.rules', text: 'polkit.addRule(function () { return null; });' }], '/etc/polkit-1/rules.d/50-accord.rules', '', NOW, undefined, undefined);
  rs.insert(0, { kind: 'null', value: null, mutated: false, trace: ['i', 'org.libvirt.api.domain.start', 'u', 'a'] });
  assert.throws(() => rs.insert(0, { kind: 'null', value: null, mutated: false, trace: ['i', 'org.libvirt.api.domain.start', 'gops', '1'] }), NotDeterministic);
  assert.throws(() => rs.insert(0, { kind: 'result', value: 'yes', mutated: false, trace: ['i', 'org.libvirt.api.domain.start', 'u', 'a'] }), NotDeterministic);
});

test('a fleet: hosts with their own objects and rules; grants render per host and import back', () => {
  const inv = {
    kind: 'libvirt-inventory', host: 'dc1', users: [{ name: 'alice', uid: 1001, groups: ['alice', 'ops'] }, { name: 'bob', uid: 1002, groups: ['bob'] }], groups: ['ops'],
    hosts: [
      { name: 'hv1', drivers: ['QEMU'], objects: [{ type: 'domain', driver: 'QEMU', name: 'web01' }] },
      { name: 'hv2', drivers: ['QEMU'], objects: [{ type: 'domain', driver: 'QEMU', name: 'web01' }, { type: 'network', name: 'default' }] },
    ],
  };
  const deny = 'polkit.addRule(function (action, subject) { if (subject.user == "bob") return polkit.Result.NO; });';
  const files: NativeFile[] = [POLICY, { path: 'inventory.json', text: JSON.stringify(inv) }, { path: 'hosts/hv2/etc/polkit-1/rules.d/10-bob.rules', text: deny }];
  const base = libvirt.import(files);
  assert.deepEqual(base.resources.map((x) => x.id), ['/', 'hv1:/', 'hv1:/QEMU', 'hv1:/QEMU/domain/web01', 'hv2:/', 'hv2:/QEMU', 'hv2:/network', 'hv2:/QEMU/domain/web01', 'hv2:/network/network/default']);
  const change: ChangeSet = { backend: 'libvirt', items: [
    { id: 'a', op: 'add', grant: { principal: 'unix-group:ops', privileges: ['vm.power'], resource: 'hv1:/QEMU/domain/web01', propagate: false, effect: 'allow' } },
    { id: 'b', op: 'add', grant: { principal: 'unix-user:bob', privileges: ['host.view', 'vm.view'], resource: '/', propagate: true, effect: 'allow' } },
  ] };
  libvirt.validateChange(base, change);
  const model = libvirt.applyChange(base, change);
  const rows = new Set(libvirt.effective(model).map((x) => `${x.principal} ${x.resource} ${x.privilege}`));
  assert.ok(rows.has('unix-user:alice hv1:/QEMU/domain/web01 domain.start'));
  assert.ok(!rows.has('unix-user:alice hv2:/QEMU/domain/web01 domain.start'), 'a grant on hv1 does not reach the same name on hv2');
  assert.ok(rows.has('unix-user:bob hv1:/QEMU/domain/web01 domain.getattr'), 'a grant on the fleet root reaches every host');
  assert.ok(!rows.has('unix-user:bob hv2:/QEMU/domain/web01 domain.getattr'), 'hv2\'s own rule denies bob there');
  assert.deepEqual(keys(libvirt.effective(model)), keys(referenceEffective(model, {}, { nowMs: NOW })));
  // Render: one file per host; import takes them back as the same grants.
  const hostFiles = renderHostFiles(model);
  assert.deepEqual(hostFiles.map((f) => f.path), ['hosts/hv1/etc/polkit-1/rules.d/50-accord.rules', 'hosts/hv2/etc/polkit-1/rules.d/50-accord.rules']);
  assert.ok(!hostFiles[1]!.text.includes('hv1:/'), 'hv2\'s file carries no hv1 grant');
  const rendered = libvirt.render(base, change);
  for (const f of hostFiles) assert.ok(rendered.text.includes(f.text), `render's text holds ${f.path}`);
  const again = libvirt.import([...files, ...hostFiles.map((f) => ({ path: f.path, text: f.text }))]);
  assert.deepEqual(again.warnings, []);
  assert.deepEqual(again.grants.map((g) => g.id).sort(), model.grants.map((g) => g.id).sort());
  // A hand-edited host file is kept as that host's foreign rules.
  const edited = libvirt.import([...files, { path: hostFiles[0]!.path, text: hostFiles[0]!.text.replace('"yes"', '"no"') }, { path: hostFiles[1]!.path, text: hostFiles[1]!.text }]);
  assert.match(edited.warnings.map((w) => w.message).join('\n'), /edited by hand/);
  assert.throws(() => new Decider(model), AccessInputError, 'a fleet needs the host');
  assert.equal(new Decider(model, { host: 'hv2', nowMs: NOW }).decide({ name: 'bob', uid: 1002, groups: ['bob'] }, 'org.libvirt.api.domain.getattr', { connect_driver: 'QEMU', domain_name: 'web01' }).result, 'no');
  assert.throws(() => libvirt.import([...files, { path: 'hosts/hv9/etc/polkit-1/rules.d/1.rules', text: deny }]), AccessInputError);
});

test('an inventory without hosts reads as before; hosts with top-level objects are refused', () => {
  const one = { kind: 'libvirt-inventory', host: 'hv1', users: [], drivers: ['QEMU'], objects: [{ type: 'domain', driver: 'QEMU', name: 'web01' }] };
  const m = libvirt.import([POLICY, { path: 'inventory.json', text: JSON.stringify(one) }, { path: 'hosts/x/etc/polkit-1/rules.d/1.rules', text: 'polkit.addRule(function () { return null; });' }]);
  assert.deepEqual(m.resources.map((x) => x.id), ['/', '/QEMU', '/QEMU/domain/web01']);
  assert.deepEqual(nativeOf(m).foreignRules.map((f) => f.path), ['hosts/x/etc/polkit-1/rules.d/1.rules'], 'hosts/… is only special on a fleet');
  assert.throws(() => libvirt.import([POLICY, { path: 'inventory.json', text: JSON.stringify({ ...one, hosts: [{ name: 'hv1' }] }) }]), AccessInputError);
});

test('value classes: values a file\'s rules cannot tell apart share a class; a file that lets the action escape has none', () => {
  const c = classifierOf(`polkit.addRule(function (action, subject) {
  if (action.id.indexOf("org.libvirt.api.domain.") != 0) return null;
  if (/^web-/.test(action.lookup("domain_name") || "") && ["org.libvirt.api.domain.start"].indexOf(action.id) >= 0) return polkit.Result.YES;
  if (action.lookup("connect_driver") == "LXC") return polkit.Result.NO;
});`);
  assert.equal(c('ddomain_name', 'sweb-1'), c('ddomain_name', 'sweb-2'));
  assert.notEqual(c('ddomain_name', 'sweb-1'), c('ddomain_name', 'sdb-1'));
  assert.equal(c('ddomain_name', 'u'), c('ddomain_name', 'sdb-1'), 'absent and non-matching names: `|| ""` and the regex cannot tell them apart');
  assert.equal(c('i', 'org.libvirt.api.domain.stop'), c('i', 'org.libvirt.api.domain.getattr'));
  assert.notEqual(c('i', 'org.libvirt.api.domain.start'), c('i', 'org.libvirt.api.domain.stop'));
  assert.notEqual(c('i', 'org.libvirt.api.network.start'), c('i', 'org.libvirt.api.domain.stop'));
  assert.equal(c('dnetwork_name', 'sa'), 'sa', 'a key no site reads keeps its value');
  const escapes = [
    'polkit.addRule(function (action) { var a = action; if (a.lookup("domain_name") == "x") return polkit.Result.YES; });',
    'polkit.addRule(function (action) { if (action.lookup("domain_name").charAt(0) == "x") return polkit.Result.YES; });',
    'polkit.addRule(function (action) { var k = "domain_name"; if (action.lookup(k) == "x") return polkit.Result.YES; });',
    'polkit.addRule(function (action) { for (var k in action) {} });',
    'polkit.addRule(function () { if (arguments[0].lookup("domain_name") == "x") return polkit.Result.YES; });',
    'function r(action) { if (action.lookup("domain_name") == "x") return polkit.Result.YES; } polkit.addRule(r);',
  ];
  for (const text of escapes) assert.equal(classifierOf(text)('ddomain_name', 'sa'), 'sa', text);
});
