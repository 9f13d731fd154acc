import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backend } from '../../../server/backends/xapi/index.ts';
import { serializeSubjectList } from '../../../server/backends/xapi/serialize.ts';
import { AccessInputError } from '../../../server/domain/access/model.ts';
import type { ChangeSet } from '../../../server/domain/access/model.ts';
import { allFixtures, fixture, grantPairs, pool, runXe } from './helpers.ts';

const model = backend.import(allFixtures());
const inventory = allFixtures().filter((f) => f.path !== 'subject-list.txt');

test('per-VM grant is unrepresentable: rendered as a comment only and not applied', () => {
  const change: ChangeSet = { backend: 'xapi', items: [{ id: 'vm1', op: 'add', grant: { ...pool('CORP\\bob', 'vm-operator'), resource: 'vm/web01' } }] };
  const r = backend.render(model, change);
  assert.deepEqual(r.items.map((i) => [i.itemId, i.fidelity]), [['vm1', 'unrepresentable']]);
  assert.match(r.items[0]?.note ?? '', /pool-wide.*role-name=vm-operator/);
  assert.ok(r.text.split('\n').every((l) => l === '' || l.startsWith('#')), r.text);
  assert.deepEqual(grantPairs(backend.applyChange(model, change)), grantPairs(model));
});

test('deny is unrepresentable', () => {
  const r = backend.render(model, { backend: 'xapi', items: [{ id: 'd', op: 'add', grant: { ...pool('CORP\\bob', 'pool-admin'), effect: 'deny' } }] });
  assert.equal(r.items[0]?.fidelity, 'unrepresentable');
});

test('role add/remove render xe subject-role-add/remove with the subject uuid', () => {
  const r = backend.render(model, { backend: 'xapi', items: [
    { id: 'a', op: 'add', grant: pool('CORP\\bob', 'pool-admin') },
    { id: 'b', op: 'remove', grant: pool('CORP\\xen-viewers', 'read-only') },
  ] });
  const cmds = r.text.split('\n').filter((l) => l.startsWith('xe '));
  assert.deepEqual(cmds, [
    'xe subject-role-add uuid=c5d6e7f8-0a1b-4c2d-8e3f-4a5b6c7d8e93 role-name=pool-admin',
    'xe subject-role-remove uuid=0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c64 role-name=read-only',
  ]);
  assert.deepEqual(r.items.map((i) => i.fidelity), ['exact', 'exact']);
  assert.ok(r.warnings.some((w) => w.includes("vm-power-admin grant") && w.includes('no effect')), r.warnings.join('\n'));
});

test('a principal that is not yet a subject gets xe subject-add first', () => {
  const r = backend.render(model, { backend: 'xapi', items: [{ id: 'c', op: 'add', grant: pool('CORP\\frank', 'vm-admin') }] });
  assert.match(r.text, /^SUBJECT_1=\$\(xe subject-add subject-name='CORP\\frank'\)$/m);
  assert.match(r.text, /^xe subject-role-add uuid="\$SUBJECT_1" role-name=vm-admin$/m);
});

const privilegeCases: { privs: Parameters<typeof pool>[1][] | string[]; role: string; fidelity: string }[] = [
  { privs: ['vm.view', 'host.view', 'network.view', 'storage.view'], role: 'read-only', fidelity: 'exact' },
  { privs: ['vm.power'], role: 'vm-operator', fidelity: 'widened' },
  { privs: ['vm.power', 'vm.snapshot.revert'], role: 'vm-power-admin', fidelity: 'widened' },
  { privs: ['host.shell'], role: 'pool-admin', fidelity: 'widened' },
  { privs: ['vm.console', 'vm.guest'], role: 'vm-operator', fidelity: 'narrowed' },
];
for (const c of privilegeCases) {
  test(`common privileges [${c.privs.join(', ')}] map to ${c.role} (${c.fidelity})`, () => {
    const grant = { principal: 'CORP\\carol', privileges: c.privs as never, resource: 'pool', propagate: true, effect: 'allow' as const };
    const r = backend.render(model, { backend: 'xapi', items: [{ id: 'p', op: 'add', grant }] });
    assert.equal(r.items[0]?.fidelity, c.fidelity);
    assert.match(r.text, new RegExp(`role-name=${c.role}$`, 'm'));
  });
}

test('only vm.guest: unrepresentable, nothing applied', () => {
  const grant = { principal: 'CORP\\dave', privileges: ['vm.guest' as const], resource: 'pool', propagate: true, effect: 'allow' as const };
  const change: ChangeSet = { backend: 'xapi', items: [{ id: 'g', op: 'add', grant }] };
  assert.equal(backend.render(model, change).items[0]?.fidelity, 'unrepresentable');
  assert.deepEqual(grantPairs(backend.applyChange(model, change)), grantPairs(model));
});

test('replace reports the replaced grant', () => {
  const r = backend.render(model, { backend: 'xapi', items: [{ id: 'r', op: 'replace', from: pool('CORP\\alice', 'vm-operator'), to: pool('CORP\\alice', 'vm-admin') }] });
  assert.deepEqual(r.replaces.map((x) => [x.itemId, x.grantId]), [['r', '3f1c2a8e-5b7d-4c1e-9a2f-0d6b8e4c7a11/vm-operator']]);
});

test('validateChange rejects unknown subjects, roles and resources, and removals of roles not held', () => {
  const bad: ChangeSet[] = [
    { backend: 'xapi', items: [{ id: '1', op: 'add', grant: pool('CORP\\nobody', 'vm-admin') }] },
    { backend: 'xapi', items: [{ id: '1', op: 'add', grant: pool('CORP\\bob', 'vm-god') }] },
    { backend: 'xapi', items: [{ id: '1', op: 'add', grant: { ...pool('CORP\\bob', 'vm-admin'), resource: 'vm/nope' } }] },
    { backend: 'xapi', items: [{ id: '1', op: 'remove', grant: pool('CORP\\bob', 'pool-admin') }] },
    { backend: 'xapi', items: [{ id: '1', op: 'add', grant: pool('root', 'read-only') }] },
    { backend: 'proxmox', items: [] },
  ];
  for (const c of bad) assert.throws(() => backend.validateChange(model, c), AccessInputError, JSON.stringify(c));
  backend.validateChange(model, { backend: 'xapi', items: [
    { id: '1', op: 'add', grant: pool('CORP\\bob', 'pool-admin') },
    { id: '2', op: 'remove', grant: pool('CORP\\bob', 'pool-admin') },
  ] });
});

test('affectedPrincipals: named subjects and, for groups, their (nested) members', () => {
  const got = backend.affectedPrincipals(model, { backend: 'xapi', items: [{ id: '1', op: 'add', grant: pool('CORP\\xen-ops', 'pool-admin') }] });
  assert.deepEqual(new Set(got), new Set(['CORP\\xen-ops', 'CORP\\alice', 'CORP\\carol', 'CORP\\xen-leads', 'CORP\\frank']));
});

test('round trip: import → serialize → import gives the same grants', () => {
  const again = backend.import([{ path: 'subject-list.txt', text: serializeSubjectList(model) }, ...inventory]);
  assert.deepEqual(grantPairs(again), grantPairs(model));
  assert.deepEqual(again.grants.map((g) => g.id).sort(), model.grants.map((g) => g.id).sort());
});

test('round trip: rendered xe commands run on the subject list give the grants applyChange predicts', () => {
  const change: ChangeSet = { backend: 'xapi', items: [
    { id: 'a', op: 'add', grant: pool('CORP\\carol', 'vm-admin') },
    { id: 'b', op: 'add', grant: pool('CORP\\xen-leads', 'vm-operator') },
    { id: 'c', op: 'replace', from: pool('CORP\\alice', 'vm-operator'), to: pool('CORP\\alice', 'pool-admin') },
    { id: 'd', op: 'remove', grant: pool('CORP\\dave', 'read-only') },
    { id: 'e', op: 'add', grant: { ...pool('CORP\\bob', 'vm-admin'), resource: 'vm/db01' } },
  ] };
  const script = backend.render(model, change).text;
  const after = runXe(fixture('subject-list.txt').text, script);
  const reimported = backend.import([{ path: 'subject-list.txt', text: after }, ...inventory]);
  assert.deepEqual(grantPairs(reimported), grantPairs(backend.applyChange(model, change)));
  const applied = backend.applyChange(model, change);
  const viaSerializer = backend.import([{ path: 'subject-list.txt', text: serializeSubjectList(applied) }, ...inventory]);
  assert.deepEqual(grantPairs(viaSerializer), grantPairs(applied));
});
