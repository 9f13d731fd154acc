/** Property tests over random permission sets on a small inventory with two-parent VMs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AccessModel } from '../../../server/domain/access/model.ts';
import { backend } from '../../../server/backends/vsphere/index.ts';
import { EXAMPLE_ROLES, EXAMPLE_TREE, change, diff, importWorld, rowKey, type Perm, type World } from './world.ts';

const USERS = ['D\\u0', 'D\\u1', 'D\\u2', 'D\\u3'];
const GROUPS = ['D\\g0', 'D\\g1', 'D\\g2'];
const ROLES = ['PowerOnVMRole', 'SnapShotRole', 'ReadOnly', 'NoAccess', 'Admin'];
const PATHS = ['/', ...Object.keys(EXAMPLE_TREE)];

const perm = fc.record({
  on: fc.constantFrom(...PATHS),
  who: fc.constantFrom(...USERS, ...GROUPS),
  role: fc.constantFrom(...ROLES),
  propagate: fc.boolean(),
});

const world = fc.record({
  perms: fc.uniqueArray(perm, { maxLength: 12, selector: (p) => `${p.on}#${p.who}` }),
  members: fc.array(fc.tuple(fc.constantFrom(...GROUPS), fc.constantFrom(...USERS, 'D\\g2')), { maxLength: 8 }),
}).map(({ perms, members }): World => {
  const groups: Record<string, string[]> = Object.fromEntries(GROUPS.map((g) => [g, []]));
  for (const [g, m] of members) if (g !== m && !groups[g]!.includes(m)) groups[g]!.push(m);
  const withFlag: Perm[] = perms.map((p) => ({ ...p, group: GROUPS.includes(p.who) }));
  return { tree: EXAMPLE_TREE, roles: EXAMPLE_ROLES, perms: withFlag, groups };
});

function closure(model: AccessModel, start: string, next: (id: string) => string[]): Set<string> {
  const out = new Set<string>();
  const stack = next(start);
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (!out.has(id)) {
      out.add(id);
      stack.push(...next(id));
    }
  }
  return out;
}
const parentsOf = (model: AccessModel) => (id: string): string[] => [...(model.resources.find((r) => r.id === id)?.parents ?? [])];
const childrenOf = (model: AccessModel) => (id: string): string[] => model.resources.filter((r) => r.parents.includes(id)).map((r) => r.id);

test('the blast radius of an empty change is empty, and applying it changes no effective row', () => {
  fc.assert(fc.property(world, (w) => {
    const model = importWorld(w);
    assert.deepEqual(diff(model, change()), { gained: [], lost: [] });
    assert.deepEqual(backend.effective(backend.applyChange(model, change())), backend.effective(model));
  }), { numRuns: 150 });
});

test('effective access does not depend on the order of permissions or of principals', () => {
  fc.assert(fc.property(world, (w) => {
    const model = importWorld(w);
    const shuffled: AccessModel = { ...model, grants: [...model.grants].reverse(), principals: [...model.principals].reverse() };
    assert.deepEqual(backend.effective(shuffled), backend.effective(model));
  }), { numRuns: 100 });
});

/*
 * Adding an allow grant g = (P, role R, entity E, propagate) where P had no permission on E:
 *  1. changes rows only for P and its (nested) members, and only on E and, if g propagates, E's descendants;
 *  2. never removes a privilege that R grants;
 *  3. removes a row only if, before, that row was produced solely by permissions g now overrides: each
 *     permission behind it sits on E itself (a group's, overridden by P's own user permission) or on a
 *     proper ancestor of E (an inherited one, overridden by the deeper g).
 */
test('adding an allow grant removes a privilege only where it overrides an inherited (or group) permission', () => {
  const addition = fc.record({
    who: fc.constantFrom(...USERS, ...GROUPS),
    on: fc.constantFrom(...PATHS),
    role: fc.constantFrom('PowerOnVMRole', 'SnapShotRole', 'ReadOnly', 'Admin'),
    propagate: fc.boolean(),
  });
  let losses = 0;
  fc.assert(fc.property(world, addition, (w, a) => {
    const model = importWorld(w);
    fc.pre(!model.grants.some((g) => g.principal === a.who && g.resource === a.on));
    if (!model.principals.some((p) => p.id === a.who)) return; // principals come from the data only
    const c = change({ id: 'g', op: 'add', grant: { principal: a.who, role: a.role, resource: a.on, propagate: a.propagate, effect: 'allow' } });
    const { gained, lost } = diff(model, c);
    const affected = new Set(backend.affectedPrincipals(model, c));
    const scope = new Set([a.on, ...(a.propagate ? closure(model, a.on, childrenOf(model)) : [])]);
    const above = closure(model, a.on, parentsOf(model));
    const granted = new Set(model.roles.find((r) => r.name === a.role)!.privileges);
    const before = new Map(backend.effective(model).map((r) => [rowKey(r), r]));
    const grantById = new Map(model.grants.map((g) => [g.id, g]));
    for (const key of [...gained, ...lost]) {
      const [principal, resource] = key.split('\u0000');
      assert.ok(affected.has(principal!), `${key}: principal outside the change`);
      assert.ok(scope.has(resource!), `${key}: resource outside E's reach`);
    }
    losses += lost.length;
    for (const key of lost) {
      const [, , privilege] = key.split('\u0000');
      assert.ok(!granted.has(privilege!), `${key}: lost a privilege the new role grants`);
      for (const id of before.get(key)!.because) {
        const on = grantById.get(id)!.resource;
        assert.ok(on === a.on || above.has(on), `${key}: lost a row held by ${id}, which g does not override`);
      }
    }
  }), { numRuns: 300 });
  assert.ok(losses > 0, 'the generator produces overriding additions, so the property is exercised');
});
