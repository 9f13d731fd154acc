import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { blastRadius } from '../../server/domain/access/blast-radius.ts';
import { blastGroups, expandBlastGroups, gainsHighRisk, groupBlastRows, queryBlast, storedBlastRows } from '../../server/domain/access/blast-groups.ts';
import { backend as proxmox } from '../../server/backends/proxmox/index.ts';
import { backend as vsphere } from '../../server/backends/vsphere/index.ts';
import { backend as libvirt } from '../../server/backends/libvirt/index.ts';
import { backend as xapi } from '../../server/backends/xapi/index.ts';
import type { AccessModel, Backend, BlastGroups, ChangeSet, CommonPrivilege, EffectiveRow, GrantSpec } from '../../server/domain/access/model.ts';
import * as generate from '../../bench/access/generate.ts';
import { EXAMPLE_TREE, importWorld } from '../backends/vsphere/world.ts';

const fixture = (): AccessModel => proxmox.import([{ path: 'user.cfg', text: readFileSync(new URL('../fixtures/proxmox/user.cfg', import.meta.url), 'utf8') }]);
const add = (id: string, grant: GrantSpec) => ({ id, op: 'add' as const, grant });

/** The generator's change without the items this small inventory refuses (a group or VM it did not generate). */
function keepValid(backend: Backend, model: AccessModel, change: ChangeSet): ChangeSet {
  const kept: ChangeSet['items'] = [];
  for (const item of change.items) {
    try {
      backend.validateChange(model, { backend: backend.id, items: [...kept, item] });
      kept.push(item);
    } catch {
      // refused on this inventory: left out, the rest of the change still exercises the backend
    }
  }
  return { backend: backend.id, items: kept };
}

/** The groups are exact: they expand to blastRadius's rows, and the row counts agree. */
function assertExact(backend: Backend, model: AccessModel, change: ChangeSet): BlastGroups {
  const groups = blastGroups(backend, model, change);
  const rows = blastRadius(backend, model, change);
  assert.deepEqual(expandBlastGroups(groups), rows);
  assert.deepEqual(groups.rows, { gained: rows.gained.length, lost: rows.lost.length });
  assert.equal(gainsHighRisk(groups), rows.gained.some((r) => r.highRisk));
  for (const g of groups.groups) {
    assert.ok(g.why.length > 0 && !g.why.includes('\n'), 'one line of why');
    assert.equal(g.rows, g.principals.length * g.resourceCount * g.privileges.length);
    assert.equal(groups.resourceSets[g.resources]!.length, g.resourceCount);
  }
  return groups;
}

test('generated inventories of all four backends: the groups expand to exactly the rows of blastRadius', () => {
  const small = { vms: 40, users: 30, groups: 12, grants: 120 };
  const cases: [Backend, (s: typeof small, seed: number) => generate.Generated, typeof small][] = [
    [proxmox, generate.proxmox, small],
    [vsphere, generate.vsphere, small],
    [xapi, generate.xapi, { vms: 12, users: 20, groups: 6, grants: 20 }],
    [libvirt, generate.libvirt, { vms: 4, users: 6, groups: 3, grants: 12 }],
  ];
  for (const [backend, gen, scale] of cases) {
    for (const seed of backend.id === 'libvirt' ? [3] : [1, 2, 3]) {
      const g = gen(scale, seed);
      const model = backend.import(g.files);
      const change = keepValid(backend, model, g.change(model));
      const groups = assertExact(backend, model, change);
      assert.ok(groups.rows.gained + groups.rows.lost > 0, `${backend.id} seed ${seed}: the change changes something`);
    }
  }
});

// Random Proxmox configurations and changes (the shapes of test/domain/blast-radius.test.ts).
const USERS = ['u1@pve', 'u2@pve', 'u3@pve'];
const TOKENS = ['u1@pve!t1', 'u2@pve!t2'];
const ROLES = ['R1', 'PVEVMUser', 'PVEAuditor', 'NoAccess'];
const PATHS = ['/', '/vms', '/vms/100', '/vms/101', '/storage', '/storage/s1', '/pool/p1'];
const cfg = fc.record({
  members: fc.subarray(USERS),
  r1: fc.subarray(['VM.Audit', 'VM.Console', 'VM.PowerMgmt', 'Sys.Console'], { minLength: 1 }),
  acl: fc.array(fc.record({ prop: fc.boolean(), path: fc.constantFrom(...PATHS), ugid: fc.constantFrom(...USERS, ...TOKENS, '@g1'), role: fc.constantFrom(...ROLES) }), { maxLength: 8 }),
}).map((c) => [
  ...USERS.map((u) => `user:${u}:1:`), `token:${TOKENS[0]}::0:`, `token:${TOKENS[1]}::1:`,
  `group:g1:${c.members.join(',')}:`, 'pool:p1::100:s1:', `role:R1:${c.r1.join(',')}:`,
  ...c.acl.map((a) => `acl:${a.prop ? 1 : 0}:${a.path}:${a.ugid}:${a.role}:`),
].join('\n'));
const grant = fc.record({ principal: fc.constantFrom(...USERS, ...TOKENS, 'g1'), role: fc.constantFrom(...ROLES), resource: fc.constantFrom(...PATHS, '/vms/300'), propagate: fc.boolean() })
  .map((g): GrantSpec => ({ ...g, effect: g.role === 'NoAccess' ? 'deny' : 'allow' }));

test('property: random Proxmox models and changes (adds, removes, replaces) group exactly', () => {
  fc.assert(fc.property(cfg, fc.array(fc.record({ op: fc.constantFrom('add', 'remove', 'replace'), n: fc.nat(), to: grant }), { minLength: 1, maxLength: 4 }), (text, picks) => {
    const model = proxmox.import([{ path: 'user.cfg', text }]);
    const items = picks.map(({ op, n, to }, i) => {
      const g = model.grants[n % Math.max(1, model.grants.length)];
      if (op === 'add' || !g) return add(`i${i}`, to);
      const from: GrantSpec = { principal: g.principal, resource: g.resource, propagate: g.propagate, effect: g.effect, role: g.role! };
      return op === 'remove' ? { id: `i${i}`, op: 'remove' as const, grant: from } : { id: `i${i}`, op: 'replace' as const, from, to };
    });
    assertExact(proxmox, model, keepValid(proxmox, model, { backend: 'proxmox', items }));
  }), { numRuns: 150 });
});

/** A backend whose two effective tables are given: any order, duplicates, names with NUL. */
function scripted(before: EffectiveRow[], after: EffectiveRow[]): Backend {
  let calls = 0;
  return {
    ...proxmox,
    toCommon: (p) => (({ 'VM.Console': ['vm.console'], 'VM.Audit': ['vm.view'] }) as Record<string, CommonPrivilege[]>)[p] ?? [],
    applyChange: (m) => m,
    affectedPrincipals: () => ['any'],
    effective: () => (calls++ % 2 === 0 ? before : after),
  };
}
const NAMES = ['a', 'b', 'ab', 'a\u0000b', ''];
const row = fc.record({
  principal: fc.constantFrom(...NAMES.slice(0, 3)),
  resource: fc.constantFrom(...NAMES),
  privilege: fc.constantFrom('VM.Audit', 'VM.Console', 'a', 'a\u0000', ''),
  because: fc.constantFrom(Object.freeze(['g1']) as unknown as string[], ['g2', 'g1'], []),
});

test('property: arbitrary row tables (unsorted, split pairs, duplicates, NUL) group exactly', () => {
  const model: AccessModel = { backend: 'proxmox', principals: [], roles: [], grants: [], warnings: [], resources: [] };
  const change: ChangeSet = { backend: 'proxmox', items: [add('i', { principal: 'p', resource: 'x', role: 'r', propagate: true, effect: 'allow' })] };
  fc.assert(fc.property(fc.array(row, { maxLength: 30 }), fc.array(row, { maxLength: 30 }), (b, a) => {
    const groups = blastGroups(scripted(b, a), model, change);
    assert.deepEqual(expandBlastGroups(groups), blastRadius(scripted(b, a), model, change));
    // And the rows alone (revisions stored before groups) group back to the same rows.
    assert.deepEqual(expandBlastGroups(groupBlastRows(blastRadius(scripted(b, a), model, change))), blastRadius(scripted(b, a), model, change));
  }), { numRuns: 400 });
});

test('Proxmox why: a user-level grant on a VM replaces the group role from above, deepest path wins', () => {
  // bob holds VMOperator on /vms through ops; a narrower own role on /vms/100 replaces it there.
  const change: ChangeSet = { backend: 'proxmox', items: [add('i1', { principal: 'bob@pve', role: 'PVEAuditor', resource: '/vms/100', propagate: false, effect: 'allow' })] };
  const groups = assertExact(proxmox, fixture(), change);
  const lost = groups.groups.find((g) => g.direction === 'lost' && g.principals.includes('bob@pve') && g.privileges.includes('VM.Console'));
  assert.ok(lost, 'bob loses the console on /vms/100');
  assert.match(lost.why, /^bob@pve's role PVEAuditor on \/vms\/100 \(this object only\) \(added by item i1\) overrides group ops's role VMOperator on \/vms: Proxmox takes the deepest path$/);
  const gained = groups.groups.find((g) => g.direction === 'gained' && g.principals.includes('bob@pve'));
  assert.match(gained!.why, /added by item i1\) replaces .*group ops's role VMOperator on \/vms.*: Proxmox takes the deepest path/);
});

test('Proxmox why: NoAccess, a removal, and a group grant that gives', () => {
  const model = fixture();
  const noAccess = assertExact(proxmox, model, { backend: 'proxmox', items: [add('n1', { principal: 'alice@pve', role: 'NoAccess', resource: '/nodes/pve1', propagate: true, effect: 'deny' })] });
  assert.match(noAccess.groups.find((g) => g.direction === 'lost')!.why, /alice@pve's role PVESysAdmin on \/nodes\/pve1 no longer applies after item n1 \(adds alice@pve NoAccess on \/nodes\/pve1\): NoAccess wins alone \(Proxmox\)/);
  const removal = assertExact(proxmox, model, { backend: 'proxmox', items: [{ id: 'r1', op: 'remove', grant: { principal: 'ops', role: 'VMOperator', resource: '/vms', propagate: true, effect: 'allow' } }] });
  assert.ok(removal.groups.length > 0 && removal.groups.every((g) => g.direction === 'lost'));
  assert.match(removal.groups[0]!.why, /^group ops's role VMOperator on \/vms \(removed by item r1\) is removed/);
  const gives = assertExact(proxmox, model, { backend: 'proxmox', items: [add('g1', { principal: 'devs', role: 'PVEVMUser', resource: '/vms/300', propagate: true, effect: 'allow' })] });
  assert.ok(gives.groups.some((g) => g.direction === 'gained' && /^group devs's role PVEVMUser on \/vms\/300 \(added by item g1\)/.test(g.why)));
});

test('vSphere why: a permission on a child entity overrides what it inherits', () => {
  const model = importWorld({
    tree: EXAMPLE_TREE,
    roles: { op: ['VirtualMachine.Interact.PowerOn', 'VirtualMachine.Interact.ConsoleInteract'], power: ['VirtualMachine.Interact.PowerOn'] },
    perms: [{ on: '/DC0/vm', who: 'CORP\\alice', role: 'op', propagate: true }],
  });
  const groups = assertExact(vsphere, model, { backend: 'vsphere', items: [add('i1', { principal: 'CORP\\alice', role: 'power', resource: '/DC0/vm/F', propagate: true, effect: 'allow' })] });
  const lost = groups.groups.find((g) => g.direction === 'lost');
  assert.ok(lost && lost.privileges.includes('VirtualMachine.Interact.ConsoleInteract'));
  assert.match(lost.why, /CORP\\alice's role power on \/DC0\/vm\/F \(added by item i1\) overrides CORP\\alice's role op on \/DC0\/vm: a permission on an entity overrides what it inherits \(vSphere\)/);
});

test('XAPI why: a higher role through a group replaces a lower one, highest role wins; libvirt names its rules', () => {
  const g = generate.xapi({ vms: 6, users: 20, groups: 6, grants: 20 }, 4);
  const model = xapi.import(g.files);
  const groups = assertExact(xapi, model, keepValid(xapi, model, g.change(model)));
  assert.ok(groups.groups.some((x) => x.direction === 'gained' && /replaces .*: the highest role wins; XAPI roles are pool-wide$/.test(x.why)), groups.groups.map((x) => x.why).join('\n'));

  const l = generate.libvirt({ vms: 4, users: 6, groups: 3, grants: 12 }, 3);
  const lm = libvirt.import(l.files);
  const lg = assertExact(libvirt, lm, keepValid(libvirt, lm, l.change(lm)));
  assert.ok(lg.groups.some((x) => x.direction === 'gained' && /\(added by item c\d+\)/.test(x.why)), lg.groups.map((x) => x.why).join('\n'));
});

test('queryBlast answers "does X gain Y on Z" exactly, by native or common privilege, with the why', () => {
  const change: ChangeSet = { backend: 'proxmox', items: [add('i1', { principal: 'carol@ldap', role: 'PVEVMUser', resource: '/vms/300', propagate: true, effect: 'allow' })] };
  const model = fixture();
  const groups = blastGroups(proxmox, model, change);
  const rows = blastRadius(proxmox, model, change);
  const yes = queryBlast(groups, { principal: 'carol@ldap', resource: '/vms/300', privilege: 'VM.Console' });
  assert.equal(yes.answer, 'gained');
  assert.deepEqual(yes.changes.map((c) => [c.direction, c.privilege, c.highRisk]), [['gained', 'VM.Console', true]]);
  assert.match(yes.changes[0]!.why, /carol@ldap's role PVEVMUser on \/vms\/300 \(added by item i1\)/);
  assert.equal(queryBlast(groups, { principal: 'carol@ldap', resource: '/vms/300', privilege: 'vm.console' }).answer, 'gained', 'a common privilege matches its native ones');
  assert.equal(queryBlast(groups, { principal: 'carol@ldap', resource: '/vms/300', privilege: 'VM.Audit' }).answer, 'unchanged', 'she had it before');
  assert.equal(queryBlast(groups, { principal: 'carol@ldap', resource: '/vms/300', privilege: 'Sys.Audit' }).answer, 'lost');
  assert.equal(queryBlast(groups, { principal: 'bob@pve', resource: '/vms/300' }).answer, 'unchanged');
  // Every row of the blast radius is found, and nothing else for that principal and resource.
  for (const r of [...rows.gained, ...rows.lost]) {
    const a = queryBlast(groups, { principal: r.principal, resource: r.resource });
    const expected = [...rows.gained.map((x) => ['gained', x] as const), ...rows.lost.map((x) => ['lost', x] as const)]
      .filter(([, x]) => x.principal === r.principal && x.resource === r.resource).map(([d, x]) => `${d} ${x.privilege}`).sort();
    assert.deepEqual(a.changes.map((c) => `${c.direction} ${c.privilege}`).sort(), expected);
  }
});

test('the stored rows: every row up to the limit; above it a digest that names the same principals, privileges and risk', () => {
  const g = generate.proxmox({ vms: 300, users: 120, groups: 20, grants: 600 }, 1);
  const model = proxmox.import(g.files);
  const change = keepValid(proxmox, model, g.change(model));
  const groups = blastGroups(proxmox, model, change);
  const rows = blastRadius(proxmox, model, change);
  assert.ok(rows.gained.length + rows.lost.length > 2_000, 'the generated change is large');
  assert.deepEqual(storedBlastRows(groups, Number.POSITIVE_INFINITY), rows);
  const digest = storedBlastRows(groups);
  assert.deepEqual(digest.truncated, { gained: rows.gained.length, lost: rows.lost.length });
  assert.ok(digest.gained.length + digest.lost.length < 2_000);
  const keys = (xs: typeof rows.gained) => [...new Set(xs.map((r) => `${r.principal} ${r.privilege} ${r.highRisk}`))].sort();
  assert.deepEqual(keys(digest.gained), keys(rows.gained));
  assert.deepEqual(keys(digest.lost), keys(rows.lost));
  assert.deepEqual(new Set(digest.gained.map((r) => r.principal)), new Set(rows.gained.map((r) => r.principal)));
});

test('an empty change has no groups', () => {
  assert.deepEqual(blastGroups(proxmox, fixture(), { backend: 'proxmox', items: [] }), { format: 'accord-blast-groups/1', rows: { gained: 0, lost: 0 }, privileges: {}, resourceSets: [], groups: [] });
});
