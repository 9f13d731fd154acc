/**
 * The compact effective table (server/domain/access/compact.ts, resolve.ts `compactTable`) against the
 * pair-by-pair reference resolver (reference-resolve.ts): expanded, it gives exactly the reference's rows
 * (order and `because` included) on the fixture, on seeded random user.cfg files and on a model from the
 * access bench's generator; its lookups agree with the rows; queries by principal and by resource give
 * the matching slice of the full table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { backend } from '../../../server/backends/proxmox/index.ts';
import { compactTable } from '../../../server/backends/proxmox/resolve.ts';
import type { AccessModel, EffectiveQuery, EffectiveRow } from '../../../server/domain/access/model.ts';
import type { CompactTable } from '../../../server/domain/access/compact.ts';
import { CompactIndex, cellCount, compactFromRows, expand, forEachRow, isCompactBackend, rowCount, setOf } from '../../../server/domain/access/compact.ts';
import { proxmox as generate, validChange } from '../../../bench/access/generate.ts';
import { mulberry32 } from '../../helpers/rng.ts';
import * as reference from './reference-resolve.ts';

const NOW = Date.parse('2025-06-01T00:00:00Z');
const load = (text: string): AccessModel => backend.import([{ path: 'user.cfg', text }]);

/** Structural invariants of any compact table, and its helpers against its own expansion. */
function checkTable(t: CompactTable, rows: readonly EffectiveRow[]): void {
  assert.equal(t.principals.length, t.cells.length);
  assert.equal(new Set(t.principals).size, t.principals.length, 'a principal is listed once');
  assert.equal(t.sets[0]!.privileges.length, 0, 'set 0 is empty');
  for (const c of t.cells) {
    assert.equal(c.resources.length, c.codes.length);
    assert.ok(c.resources.length > 0, 'principals without cells are left out');
    for (let i = 0; i < c.resources.length; i++) {
      if (i > 0) assert.ok(c.resources[i]! > c.resources[i - 1]!, 'positions ascend');
      assert.ok(c.resources[i]! < t.resources.length);
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
  assert.equal(index.at('nobody@pve', t.resources[0] ?? '/').privileges.length, 0);
  // Built back from the rows, the table expands to the same rows.
  assert.deepEqual(expand(compactFromRows(rows)), rows);
}

function assertSame(model: AccessModel, query: EffectiveQuery = {}): CompactTable {
  const table = compactTable(model, query, NOW);
  const rows = expand(table);
  const slow = reference.effectiveRows(model, query, NOW);
  assert.equal(rows.length, slow.length, 'row count');
  assert.deepEqual(rows, slow);
  checkTable(table, rows);
  return table;
}

/** A full table's rows restricted to some principals and resources (what the query must give). */
const slice = (rows: readonly EffectiveRow[], principals?: ReadonlySet<string>, resources?: ReadonlySet<string>): EffectiveRow[] =>
  rows.filter((r) => (!principals || principals.has(r.principal)) && (!resources || resources.has(r.resource)));

test('compact: the backend offers effectiveCompact, and it expands to effective()', () => {
  assert.ok(isCompactBackend(backend));
  const model = load(readFileSync(new URL('../../fixtures/proxmox/user.cfg', import.meta.url), 'utf8'));
  assert.deepEqual(expand(backend.effectiveCompact(model)), backend.effective(model));
  assert.deepEqual(expand(backend.effectiveCompact(model, { resources: ['vms/100/'] })), backend.effective(model, { resources: ['vms/100/'] }));
});

test('compact: the fixture, full table, odd paths, unknown and root principals, by principal and by resource', () => {
  const model = load(readFileSync(new URL('../../fixtures/proxmox/user.cfg', import.meta.url), 'utf8'));
  const full = expand(assertSame(model));
  assert.ok(full.length > 0);
  const principals = [...model.principals.map((p) => p.id), 'nobody@pve', 'root@pam', 'ops'];
  const odd = ['/vms/100/', 'vms', '', '/vms//100', '/vms/999', '/storage/s9', '/pool/nope', '/pool/p1/sub/'];
  assertSame(model, { principals, resources: [...model.resources.map((r) => r.id), ...odd] });
  for (const p of principals) assert.deepEqual(expand(assertSame(model, { principals: [p] })), slice(full, new Set([p])), p);
  for (const r of model.resources) assert.deepEqual(expand(assertSame(model, { resources: [r.id] })), slice(full, undefined, new Set([r.id])), r.id);
});

/** A random user.cfg: users (some disabled or expired), tokens with and without privsep, groups, nested pools, storages in several pools. */
function randomCfg(next: () => number): string {
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const users = ['u1@pve', 'u2@pve', 'u3@pve', 'u4@ldap', 'u5@pve'];
  const tokens = ['u1@pve!t1', 'u2@pve!t2', 'u3@pve!t3', 'u5@pve!t5', 'root@pam!rt'];
  const groups = ['g1', 'g2', 'g3'];
  const pools = ['p1', 'p1/sub', 'p2', 'p-x'];
  const vms = ['100', '101', '102', '1000', '103'];
  const storages = ['s1', 's1-x', 's2'];
  const roles = ['R1', 'R2', 'PVEVMUser', 'PVEAuditor', 'PVEDatastoreUser', 'PVEAdmin', 'NoAccess'];
  const privs = ['VM.Audit', 'VM.Console', 'VM.PowerMgmt', 'Datastore.Audit', 'VM.Snapshot', 'Sys.Audit', 'Pool.Audit'];
  const paths = ['/', '/vms', ...vms.map((v) => `/vms/${v}`), '/storage', ...storages.map((s) => `/storage/${s}`), '/pool', ...pools.map((p) => `/pool/${p}`), '/nodes/n1', '/sdn/zones/z1'];
  const expire = ['0', '0', '0', '1600000000', '4000000000'];
  const some = <T>(xs: readonly T[]): T[] => xs.filter(() => next() < 0.4);
  return [
    'user:root@pam:1:0:',
    ...users.map((u) => `user:${u}:${next() < 0.85 ? 1 : 0}:${pick(expire)}:`),
    ...tokens.map((t) => `token:${t}:${pick(expire)}:${next() < 0.5 ? 1 : 0}:`),
    ...groups.map((g) => `group:${g}:${some(users).join(',')}:`),
    ...pools.map((p) => `pool:${p}::${vms.filter(() => next() < 0.3).join(',')}:${some(storages).join(',')}:`),
    `role:R1:${[pick(privs), ...some(privs)].join(',')}:`,
    `role:R2:${[pick(privs), ...some(privs)].join(',')}:`,
    ...Array.from({ length: int(30) }, () => `acl:${next() < 0.6 ? 1 : 0}:${pick(paths)}:${pick([...users, ...tokens, 'root@pam', ...groups.map((g) => `@${g}`)])}:${pick(roles)}:`),
  ].join('\n');
}

test('compact: seeded random user.cfg files equal the reference, in full and by principal and by resource', () => {
  const next = mulberry32(22);
  let rows = 0;
  for (let run = 0; run < 200; run++) {
    const model = load(randomCfg(next));
    const full = expand(assertSame(model));
    rows += full.length;
    const principals = [...model.principals.map((p) => p.id), 'nobody@pve'].filter(() => next() < 0.5);
    const resources = model.resources.map((r) => r.id).filter(() => next() < 0.3);
    assertSame(model, { principals, resources });
    assert.deepEqual(expand(compactTable(model, { principals }, NOW)), slice(full, new Set(principals)));
    assert.deepEqual(expand(compactTable(model, { resources }, NOW)), slice(full, undefined, new Set(resources)));
  }
  assert.ok(rows > 1000, `the generator yields rows (${rows})`);
});

test('compact: a model from the access bench generator, full table and both sides of its change', () => {
  const g = generate({ vms: 300, users: 120, groups: 12, grants: 1500 }, 7);
  const model = load(g.files[0]!.text);
  const table = assertSame(model);
  assert.ok(table.cells.some((c, i) => table.cells.indexOf(c) !== i), 'tokens without privilege separation share their user\'s cells');
  const change = validChange(backend, model, g.change(model).items);
  const after = backend.applyChange(model, change);
  const principals = backend.affectedPrincipals(model, change);
  const resources = [...new Set([...model.resources, ...after.resources].map((r) => r.id))].sort();
  assertSame(model, { principals, resources });
  assertSame(after, { principals, resources });
});
