import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AccessModel, ChangeSet, EffectiveRow, GrantSpec } from '../../../server/domain/access/model.ts';
import { COMMON_PRIVILEGES } from '../../../server/domain/access/model.ts';
import { createLibvirtBackend } from '../../../server/backends/libvirt/index.ts';
import { fixture, modelWith } from './helpers.ts';

const libvirt = createLibvirtBackend({ nowMs: Date.parse('2026-11-24T00:00:00Z') });
const base = modelWith({ '100-libvirt-acl.rules': fixture('100-libvirt-acl.rules') });
const key = (r: EffectiveRow): string => `${r.principal} ${r.resource} ${r.privilege}`;
const rows = (m: AccessModel): Set<string> => new Set(libvirt.effective(m).map(key));

const grantArb = (effect?: 'allow' | 'deny'): fc.Arbitrary<GrantSpec> => fc.record({
  principal: fc.constantFrom(...base.principals.map((p) => p.id)),
  privileges: fc.uniqueArray(fc.constantFrom(...COMMON_PRIVILEGES), { minLength: 1, maxLength: 3 }),
  resource: fc.constantFrom(...base.resources.map((r) => r.id)),
  propagate: fc.boolean(),
  effect: effect ? fc.constant(effect) : fc.constantFrom('allow' as const, 'deny' as const),
  expiresAt: fc.option(fc.constantFrom('2020-01-01T00:00:00Z', '2030-01-01T00:00:00Z'), { nil: undefined }),
}).map(({ expiresAt, ...g }) => (expiresAt === undefined ? g : { ...g, expiresAt }));

const adding = (grants: GrantSpec[]): ChangeSet => ({ backend: 'libvirt', items: grants.map((grant, i) => ({ id: `p${i}`, op: 'add', grant })) });

test('the blast radius of an empty change is empty', () => {
  fc.assert(fc.property(fc.array(grantArb(), { maxLength: 5 }), (grants) => {
    const model = libvirt.applyChange(base, adding(grants));
    const empty: ChangeSet = { backend: 'libvirt', items: [] };
    libvirt.validateChange(model, empty);
    assert.deepEqual([...rows(libvirt.applyChange(model, empty))].sort(), [...rows(model)].sort());
  }), { numRuns: 10, seed: 7 });
});

test('adding an allow grant never removes a privilege', () => {
  fc.assert(fc.property(fc.array(grantArb(), { maxLength: 5 }), grantArb('allow'), (existing, extra) => {
    const before = libvirt.applyChange(base, adding(existing));
    const change = adding([extra]);
    libvirt.validateChange(before, change);
    const after = rows(libvirt.applyChange(before, change));
    const lost = [...rows(before)].filter((r) => !after.has(r));
    assert.deepEqual(lost, []);
  }), { numRuns: 12, seed: 11 });
});

test('import → render → import is the identity on grants', () => {
  fc.assert(fc.property(fc.array(grantArb(), { maxLength: 8 }), (grants) => {
    const change = adding(grants);
    const text = libvirt.render(base, change).text;
    const files = [
      { path: '/usr/share/polkit-1/actions/org.libvirt.api.policy', text: fixture('org.libvirt.api.policy') },
      { path: 'inventory.json', text: fixture('inventory.json') },
      { path: '/etc/polkit-1/rules.d/50-accord.rules', text },
    ];
    const again = libvirt.import(files);
    assert.equal(libvirt.render(again, { backend: 'libvirt', items: [] }).text, text);
    const ids = (m: AccessModel): string[] => m.grants.map((g) => g.id).sort();
    assert.deepEqual(ids(again), ids(libvirt.applyChange(base, change)));
  }), { numRuns: 40, seed: 3 });
});
