/**
 * The compact effective table (server/domain/access/compact.ts, effective.ts `effectiveCompact`) against
 * a direct, memo-per-entity statement of vSphere's rules written here (no reach, no signatures, no grant
 * set interning): expanded, the table gives exactly its rows (order and `because` included) on the
 * fixtures, on seeded random worlds and on a model from the access bench's generator, and queries by
 * principal and by resource give the matching slice of the full table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backend } from '../../../server/backends/vsphere/index.ts';
import { indexModel } from '../../../server/backends/vsphere/model-index.ts';
import type { AccessModel, EffectiveQuery, EffectiveRow } from '../../../server/domain/access/model.ts';
import type { CompactTable } from '../../../server/domain/access/compact.ts';
import { CompactIndex, cellCount, compactFromRows, expand, forEachRow, isCompactBackend, rowCount, setOf } from '../../../server/domain/access/compact.ts';
import { vsphere as generate, validChange } from '../../../bench/access/generate.ts';
import { mulberry32 } from '../../helpers/rng.ts';
import { ALL_FIXTURES, EXAMPLE_ROLES, EXAMPLE_TREE, fixtureFiles, importWorld, type Perm, type World } from './world.ts';

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * vSphere's rules, stated per (principal, entity): the identity's permissions on an entity decide there
 * (its own user permission beats its groups', whose permissions are unioned); without one, the entity
 * gets the union of what each parent passes down; a parent passes its deciding propagating permissions,
 * or, without any, what it got itself from above. NoAccess and unknown roles give no privilege.
 */
function referenceRows(model: AccessModel, query: EffectiveQuery = {}): EffectiveRow[] {
  const index = indexModel(model);
  const wanted = query.resources ? new Set(query.resources) : undefined;
  const rows: EffectiveRow[] = [];
  for (const principal of [...new Set(query.principals ?? [...index.kinds.keys()])].sort(byCodeUnit)) {
    const isGroup = index.kinds.get(principal) === 'group';
    const self = isGroup ? undefined : principal;
    const groups = new Set(index.groupsOf.get(principal) ?? []);
    if (isGroup) groups.add(principal);
    const mine = model.grants.map((g, gi) => ({ g, gi })).filter(({ g }) => g.principal === self || groups.has(g.principal));
    const decide = (list: typeof mine): number[] => {
      const own = list.filter(({ g }) => g.principal === self);
      return (own.length > 0 ? own : list).map(({ gi }) => gi);
    };
    const gets = new Map<number, Set<number>>();
    const passes = new Map<number, Set<number>>();
    const inherited = (r: number): Set<number> => new Set(index.parents[r]!.flatMap((p) => [...passes.get(p)!]));
    // Topological order: every parent is computed before its children.
    for (let r = 0; r < index.order.length; r++) {
      const here = mine.filter(({ g }) => g.resource === index.order[r]);
      const from = inherited(r);
      gets.set(r, here.length > 0 ? new Set(decide(here)) : from);
      const propagating = here.filter(({ g }) => g.propagate);
      passes.set(r, propagating.length > 0 ? new Set(decide(propagating)) : from);
    }
    for (let r = 0; r < index.order.length; r++) {
      const resource = index.order[r]!;
      if (wanted && !wanted.has(resource)) continue;
      const because = new Map<string, string[]>();
      for (const gi of gets.get(r)!) for (const p of index.grantPrivileges[gi]!) because.set(p, [...(because.get(p) ?? []), model.grants[gi]!.id]);
      for (const privilege of [...because.keys()].sort(byCodeUnit)) rows.push({ principal, resource, privilege, because: because.get(privilege)!.sort(byCodeUnit) });
    }
  }
  return rows;
}

function checkTable(t: CompactTable, rows: readonly EffectiveRow[]): void {
  assert.equal(t.principals.length, t.cells.length);
  assert.equal(t.sets[0]!.privileges.length, 0, 'set 0 is empty');
  for (const c of t.cells) {
    assert.ok(c.resources.length > 0, 'principals without cells are left out');
    for (let i = 0; i < c.resources.length; i++) {
      if (i > 0) assert.ok(c.resources[i]! > c.resources[i - 1]!, 'positions ascend');
      assert.ok(t.sets[setOf(c, i)]!.privileges.length > 0, 'no cell holds the empty set');
    }
  }
  assert.equal(rowCount(t), rows.length);
  const seen: EffectiveRow[] = [];
  forEachRow(t, (principal, resource, privilege, because) => seen.push({ principal, resource, privilege, because: because as string[] }));
  assert.deepEqual(seen, rows);
  const index = new CompactIndex(t);
  const grouped = new Map<string, string[]>();
  for (const r of rows) grouped.set(`${r.principal}\u0000${r.resource}`, [...(grouped.get(`${r.principal}\u0000${r.resource}`) ?? []), r.privilege]);
  assert.equal(cellCount(t), grouped.size);
  for (const [key, privileges] of grouped) {
    const [principal, resource] = key.split('\u0000') as [string, string];
    assert.deepEqual(index.at(principal, resource).privileges, privileges, key);
  }
  assert.deepEqual(expand(compactFromRows(rows)), rows);
}

function assertSame(model: AccessModel, query: EffectiveQuery = {}): EffectiveRow[] {
  const table = backend.effectiveCompact(model, query);
  const rows = expand(table);
  const expected = referenceRows(model, query);
  assert.equal(rows.length, expected.length, 'row count');
  assert.deepEqual(rows, expected);
  assert.deepEqual(backend.effective(model, query), expected);
  checkTable(table, rows);
  return rows;
}

const slice = (rows: readonly EffectiveRow[], principals?: ReadonlySet<string>, resources?: ReadonlySet<string>): EffectiveRow[] =>
  rows.filter((r) => (!principals || principals.has(r.principal)) && (!resources || resources.has(r.resource)));

test('compact: the fixtures, full table, by principal and by resource', () => {
  assert.ok(isCompactBackend(backend));
  const model = backend.import(fixtureFiles(...ALL_FIXTURES));
  const full = assertSame(model);
  assert.ok(full.length > 0);
  for (const p of [...model.principals.map((x) => x.id), 'VSPHERE.LOCAL\\nobody']) assert.deepEqual(assertSame(model, { principals: [p] }), slice(full, new Set([p])), p);
  for (const r of [...model.resources.map((x) => x.id), '/no/such/entity']) assert.deepEqual(assertSame(model, { resources: [r] }), slice(full, undefined, new Set([r])), r);
});

/** A random world on the guide's tree (two-parent VMs): permissions of users and nested groups, every role. */
function randomWorld(next: () => number): World {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const users = ['D\\u0', 'D\\u1', 'D\\u2', 'D\\u3'];
  const groups = ['D\\g0', 'D\\g1', 'D\\g2'];
  const paths = ['/', ...Object.keys(EXAMPLE_TREE)];
  const perms = new Map<string, Perm>();
  for (let k = Math.floor(next() * 14); k > 0; k--) {
    const who = pick([...users, ...groups]);
    const on = pick(paths);
    perms.set(`${on}#${who}`, { on, who, group: groups.includes(who), role: pick(['PowerOnVMRole', 'SnapShotRole', 'ReadOnly', 'NoAccess', 'Admin']), propagate: next() < 0.7 });
  }
  const members: Record<string, string[]> = Object.fromEntries(groups.map((g) => [g, users.filter(() => next() < 0.4)]));
  if (next() < 0.5) members['D\\g0']!.push('D\\g2'); // nested
  return { tree: EXAMPLE_TREE, roles: EXAMPLE_ROLES, perms: [...perms.values()], groups: members };
}

test('compact: seeded random worlds equal the reference, in full and by principal and by resource', () => {
  const next = mulberry32(22);
  let rows = 0;
  for (let run = 0; run < 300; run++) {
    const model = importWorld(randomWorld(next));
    const full = assertSame(model);
    rows += full.length;
    const principals = [...model.principals.map((p) => p.id), 'D\\nobody'].filter(() => next() < 0.5);
    const resources = model.resources.map((r) => r.id).filter(() => next() < 0.3);
    assertSame(model, { principals, resources });
    assert.deepEqual(expand(backend.effectiveCompact(model, { principals })), slice(full, new Set(principals)));
    assert.deepEqual(expand(backend.effectiveCompact(model, { resources })), slice(full, undefined, new Set(resources)));
  }
  assert.ok(rows > 1000, `the generator yields rows (${rows})`);
});

test('compact: a model from the access bench generator, full table and both sides of its change', () => {
  const g = generate({ vms: 200, users: 100, groups: 40, grants: 800 }, 5);
  const model = backend.import(g.files);
  assertSame(model);
  const change = validChange(backend, model, g.change(model).items);
  const after = backend.applyChange(model, change);
  const principals = backend.affectedPrincipals(model, change);
  const resources = [...new Set([...model.resources, ...after.resources].map((r) => r.id))].sort();
  assertSame(model, { principals, resources });
  assertSame(after, { principals, resources });
});
