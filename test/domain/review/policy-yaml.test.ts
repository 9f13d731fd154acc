import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import {
  DEFAULT_POLICY, PolicyError, checkPolicySet, parsePolicyYaml, policyByName, selectPolicy, validatePolicy, type Policy,
} from '../../../server/domain/review/policy.ts';
import { content, item } from './build.ts';

const DIR = new URL('../../../examples/policies/', import.meta.url);
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
const load = (f: string) => parsePolicyYaml(readFileSync(new URL(f, DIR), 'utf8'), f);

test('every example policy parses, and the names are unique', () => {
  assert.ok(FILES.length >= 4, FILES.join(', '));
  const policies = FILES.map(load);
  checkPolicySet(policies);
  for (const p of policies) assert.ok(p.stages.length > 0, p.name);
});

test('examples/policies/default.yaml says what DEFAULT_POLICY does', () => {
  const p = load('default.yaml');
  assert.deepEqual(p.stages, DEFAULT_POLICY.stages);
  assert.deepEqual({ ...p.classes.reviewers, description: undefined }, { ...DEFAULT_POLICY.classes.reviewers, description: undefined });
  assert.equal(p.requireRejectReason, DEFAULT_POLICY.requireRejectReason);
  assert.equal(p.itemRejects, DEFAULT_POLICY.itemRejects);
});

test('policy YAML: defaults, single values as lists, nested requirements with ids', () => {
  const p = parsePolicyYaml(`
name: t
select: { backend: vsphere, environment: prod }
classes: { sec: { groups: security } }
require: { any: [ { class: sec, approvals: 1 }, { id: both, all: [ { class: sec, approvals: all } ] } ] }
`);
  assert.deepEqual(p.select, { backend: ['vsphere'], environment: ['prod'] });
  assert.deepEqual(p.classes.sec, { name: 'sec', groups: ['security'], veto: false });
  assert.equal(p.requireRejectReason, true);
  assert.equal(p.itemRejects, 'advisory');
  assert.deepEqual(p.stages[0]?.require, {
    kind: 'any', id: 'approval', of: [
      { kind: 'class', id: 'approval.1', class: 'sec', approvals: 1 },
      { kind: 'all', id: 'both', of: [{ kind: 'class', id: 'both.1', class: 'sec', approvals: 'all' }] },
    ],
  });
});

const BASE = `name: p
classes:
  sec:
    groups: security
`;

const ERRORS: [string, string, RegExp][] = [
  ['unknown top-level field', `${BASE}require: { class: sec, approvals: 1 }\nvetos: [sec]\n`, /^p\.yaml:6: vetos: unknown field$/m],
  ['unknown nested field with its path and line', `${BASE}stages:\n  - name: one\n    require:\n      all:\n        - { class: sec, approvals: 1 }\n        - { clas: sec, approvals: 1 }\n`, /^p\.yaml:10: stages\[0\]\.require\.all\[1\]\.clas: unknown field$/m],
  ['unknown class field', `${BASE}    group: security\nrequire: { class: sec, approvals: 1 }\n`, /^p\.yaml:5: classes\.sec\.group: unknown field$/m],
  ['unknown class referenced', `${BASE}stages:\n  - name: a\n    require: { class: sec, approvals: 1 }\n  - name: b\n    require: { any: [ { class: secuirty, approvals: 1 } ] }\n`, /stages\[1\]\.require\.any\[0\]\.class: unknown class "secuirty" \(defined: sec\)/],
  ['approvals must be >= 1', `${BASE}require: { class: sec, approvals: 0 }\n`, /^p\.yaml:5: require\.approvals: .*>=1/m],
  ['approvals must be a number or all', `${BASE}require: { class: sec, approvals: two }\n`, /require\.approvals: a whole number >= 1 or "all"/],
  ['approvals required with class', `${BASE}require: { class: sec }\n`, /require\.approvals: required with class/],
  ['one kind per requirement', `${BASE}require: { class: sec, approvals: 1, any: [ { class: sec, approvals: 1 } ] }\n`, /require: a requirement has exactly one of class, all or any/],
  ['require or stages', `${BASE}`, /give either require \(one stage\) or stages/],
  ['a class needs a criterion', `name: p\nclasses: { sec: { veto: true } }\nrequire: { class: sec, approvals: 1 }\n`, /classes\.sec: a class needs at least one of role, groups or users/],
  ['bad role', `name: p\nclasses: { sec: { role: boss } }\nrequire: { class: sec, approvals: 1 }\n`, /classes\.sec\.role: /],
  ['bad backend', `${BASE}select: { backend: hyperv }\nrequire: { class: sec, approvals: 1 }\n`, /^p\.yaml:5: select\.backend\[0\]: /m],
  ['duplicate requirement ids', `${BASE}require: { all: [ { id: x, class: sec, approvals: 1 }, { id: x, class: sec, approvals: 1 } ] }\n`, /require\.all\[1\]\.id: requirement id "x" is used twice/],
  ['duplicate stage names', `${BASE}stages:\n  - { name: a, require: { class: sec, approvals: 1 } }\n  - { name: a, require: { id: z, class: sec, approvals: 1 } }\n`, /stages\[1\]\.name: stage "a" is defined twice/],
  ['YAML syntax error with its line', `name: p\nclasses: {\n  sec: [\n`, /^p\.yaml:\d+: /],
  ['duplicate YAML key', `name: p\nname: q\n`, /^p\.yaml:2: .*[Uu]nique/],
];

for (const [name, text, message] of ERRORS) {
  test(`policy YAML error: ${name}`, () => {
    assert.throws(() => parsePolicyYaml(text, 'p.yaml'), (e: unknown) => {
      assert.ok(e instanceof PolicyError, String(e));
      assert.match(e.message, message);
      return true;
    });
  });
}

test('validatePolicy names paths without lines for already-parsed input, and policy names must be unique', () => {
  assert.throws(() => validatePolicy({ name: 'x', classes: {}, require: { class: 'a', approvals: 1 } }), /classes: define at least one class/);
  const p = load('default.yaml');
  assert.throws(() => checkPolicySet([p, p]), /policy "default" is defined twice/);
});

test('selection: most specific match, then file order, then the default', () => {
  const byName = (ps: Policy[], n: string) => ps.find((p) => p.name === n);
  const examples = FILES.map(load);
  const ordered = ['default', 'high-risk', 'prod-security', 'staged-lead-security', 'cab'].map((n) => byName(examples, n) as Policy);
  const c = (extra: Parameters<typeof content>[1] = {}) => content([item('i1', 'ops')], extra);
  const low = { highRisk: false };
  const high = { highRisk: true };
  assert.equal(selectPolicy([], c(), low), DEFAULT_POLICY);
  assert.equal(selectPolicy(ordered, c(), low).name, 'default');
  assert.equal(selectPolicy(ordered, c(), high).name, 'high-risk');
  assert.equal(selectPolicy(ordered, c({ environment: ['prod'] }), low).name, 'prod-security');
  assert.equal(selectPolicy(ordered, c({ environment: ['lab', 'prod'] }), high).name, 'staged-lead-security');
  assert.equal(selectPolicy(ordered, c({ environment: ['pci'] }), low).name, 'cab');
  // Equally specific: the earlier one wins.
  const hr = byName(examples, 'high-risk') as Policy;
  const prod = byName(examples, 'prod-security') as Policy;
  assert.equal(selectPolicy([hr, prod], c({ environment: ['prod'] }), high).name, 'high-risk');
  assert.equal(selectPolicy([prod, hr], c({ environment: ['prod'] }), high).name, 'prod-security');
  // Backend and risk: normal.
  const vs = parsePolicyYaml('name: vs\nselect: { backend: [vsphere, xapi], risk: normal }\nclasses: { r: { role: reviewer } }\nrequire: { class: r, approvals: 1 }\n');
  assert.equal(selectPolicy([hr, vs], c({ backend: 'vsphere' }), low).name, 'vs');
  assert.equal(selectPolicy([vs], c({ backend: 'vsphere' }), high), DEFAULT_POLICY);
  assert.equal(selectPolicy([vs], c({ backend: 'proxmox' }), low), DEFAULT_POLICY);
});

test('a change\'s recorded policy is found by name; an unknown name is not silently replaced', () => {
  const examples = FILES.map(load);
  assert.equal(policyByName(examples, 'cab')?.name, 'cab');
  assert.equal(policyByName([], 'default'), DEFAULT_POLICY);
  assert.equal(policyByName(examples, 'gone'), undefined);
});
