import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { blastRadius } from '../../server/domain/access/blast-radius.ts';
import { backend as proxmox } from '../../server/backends/proxmox/index.ts';
import { backend as vsphere } from '../../server/backends/vsphere/index.ts';
import { HIGH_RISK_PRIVILEGES } from '../../server/domain/access/model.ts';
import type { AccessModel, Backend, BlastRadius, BlastRow, ChangeItem, ChangeSet, CommonPrivilege, EffectiveQuery, EffectiveRow, GrantSpec } from '../../server/domain/access/model.ts';
import { EXAMPLE_TREE, importWorld, type Perm } from '../backends/vsphere/world.ts';

const fixture = (): AccessModel => proxmox.import([{ path: 'user.cfg', text: readFileSync(new URL('../fixtures/proxmox/user.cfg', import.meta.url), 'utf8') }]);

test('a deeper, narrower group grant: members lose what it replaces and gain nothing they had', () => {
  const change: ChangeSet = { backend: 'proxmox', items: [{ id: 'i1', op: 'add', grant: { principal: 'ops', privileges: ['vm.view'], resource: '/vms/100', propagate: true, effect: 'allow' } }] };
  const br = blastRadius(proxmox, fixture(), change);
  assert.deepEqual(br.gained, []);
  const lost = br.lost.map((r) => `${r.principal} ${r.resource} ${r.privilege}`);
  // bob holds VMOperator on /vms through ops: VM.Audit stays, console and power go. dave is disabled.
  assert.ok(lost.includes('bob@pve /vms/100 VM.Console') && lost.includes('bob@pve /vms/100 VM.PowerMgmt'));
  assert.ok(!lost.some((l) => l.startsWith('dave@pve')));
  assert.ok(!lost.some((l) => l.endsWith('VM.Audit')));
  const console = br.lost.find((r) => r.privilege === 'VM.Console');
  assert.deepEqual({ common: console?.common, highRisk: console?.highRisk }, { common: ['vm.console'], highRisk: true });
});

test('a grant on a VM that appears in no line is compared with what it inherited', () => {
  const change: ChangeSet = { backend: 'proxmox', items: [{ id: 'i1', op: 'add', grant: { principal: 'carol@ldap', role: 'PVEVMUser', resource: '/vms/300', propagate: true, effect: 'allow' } }] };
  const br = blastRadius(proxmox, fixture(), change);
  const gained = br.gained.map((r) => r.privilege);
  assert.ok(br.gained.every((r) => r.principal === 'carol@ldap' && r.resource === '/vms/300'));
  // carol already had VM.Audit there through PVEAuditor on /; that is not a gain.
  assert.ok(!gained.includes('VM.Audit'));
  assert.ok(gained.includes('VM.GuestAgent.FileWrite'));
  assert.equal(br.gained.find((r) => r.privilege === 'VM.GuestAgent.FileWrite')?.highRisk, true);
  // ...but PVEVMUser replaces PVEAuditor at that level, so the non-VM audit privileges go.
  assert.deepEqual(br.lost.map((r) => r.privilege), ['Datastore.Audit', 'Mapping.Audit', 'Pool.Audit', 'SDN.Audit', 'Sys.Audit']);
});

/** A minimal backend: grants hold native privilege names in `role`, effective = the grants themselves. */
function fakeBackend(calls: EffectiveQuery[]): Backend {
  const effective = (m: AccessModel, q?: EffectiveQuery): EffectiveRow[] => {
    calls.push(q ?? {});
    return m.grants.filter((g) => !q?.principals || q.principals.includes(g.principal))
      .map((g) => ({ principal: g.principal, resource: g.resource, privilege: g.role ?? '', because: [g.id] }));
  };
  return {
    ...proxmox,
    toCommon: (p) => (p === 'shell' ? ['host.shell'] : []),
    effective,
    applyChange: (m, c) => ({ ...m, grants: [...m.grants, ...c.items.flatMap((i) => (i.op === 'add' ? [{ ...i.grant, id: i.id, provenance: {} }] : []))], resources: [...m.resources, { id: 'new', kind: 'host', parents: [] }] }),
    affectedPrincipals: (_m, c) => c.items.flatMap((i) => (i.op === 'add' ? [i.grant.principal] : [])),
  };
}

test('generic: only affected principals are evaluated, on before ∪ after resources, with common and highRisk', () => {
  const calls: EffectiveQuery[] = [];
  const b = fakeBackend(calls);
  const model: AccessModel = { backend: 'proxmox', principals: [], roles: [], warnings: [], resources: [{ id: 'old', kind: 'host', parents: [] }], grants: [{ id: 'g0', principal: 'x', role: 'read', resource: 'old', propagate: true, effect: 'allow', provenance: {} }] };
  const br = blastRadius(b, model, { backend: 'proxmox', items: [{ id: 'i1', op: 'add', grant: { principal: 'y', role: 'shell', resource: 'new', propagate: true, effect: 'allow' } }] });
  assert.deepEqual(br, { gained: [{ principal: 'y', resource: 'new', privilege: 'shell', common: ['host.shell'], highRisk: true }], lost: [] });
  assert.deepEqual(calls, [{ principals: ['y'], resources: ['new', 'old'] }, { principals: ['y'], resources: ['new', 'old'] }]);
});

test('an empty change has an empty blast radius and evaluates nothing', () => {
  const calls: EffectiveQuery[] = [];
  assert.deepEqual(blastRadius(fakeBackend(calls), fixture(), { backend: 'proxmox', items: [] }), { gained: [], lost: [] });
  assert.equal(calls.length, 0);
});

/**
 * The plain definition the optimised module must match exactly: string keys per row, a set difference,
 * a stable sort on the NUL-joined key. Kept here as the reference implementation.
 */
function naiveBlastRadius(backend: Backend, before: AccessModel, change: ChangeSet): BlastRadius {
  if (change.items.length === 0) return { gained: [], lost: [] };
  const after = backend.applyChange(before, change);
  const principals = backend.affectedPrincipals(before, change);
  if (principals.length === 0) return { gained: [], lost: [] };
  const resources = [...new Set([...before.resources, ...after.resources].map((r) => r.id))].sort();
  const rowsBefore = backend.effective(before, { principals, resources });
  const rowsAfter = backend.effective(after, { principals, resources });
  const keyOf = (r: Pick<EffectiveRow, 'principal' | 'resource' | 'privilege'>): string => `${r.principal}\u0000${r.resource}\u0000${r.privilege}`;
  const toRow = (r: EffectiveRow): BlastRow => {
    const common = backend.toCommon(r.privilege);
    return { principal: r.principal, resource: r.resource, privilege: r.privilege, common, highRisk: common.some((c) => HIGH_RISK_PRIVILEGES.has(c)) };
  };
  const minus = (from: EffectiveRow[], other: EffectiveRow[]): BlastRow[] => {
    const present = new Set(other.map(keyOf));
    return from.filter((r) => !present.has(keyOf(r))).map(toRow).sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  };
  return { gained: minus(rowsAfter, rowsBefore), lost: minus(rowsBefore, rowsAfter) };
}

/**
 * A backend whose effective tables are arbitrary row lists (unsorted, duplicated, NUL-bearing names, frozen
 * shared `because` arrays): it checks the difference and the ordering alone, on inputs no real engine emits.
 */
function scriptedBackend(beforeRows: EffectiveRow[], afterRows: EffectiveRow[], commonOf: (p: string) => CommonPrivilege[]): Backend {
  const AFTER: AccessModel = { backend: 'proxmox', principals: [], roles: [], grants: [], warnings: [], resources: [{ id: 'x', kind: 'host', parents: [] }] };
  return {
    ...proxmox,
    toCommon: commonOf,
    applyChange: () => AFTER,
    affectedPrincipals: () => ['p'],
    effective: (m) => (m === AFTER ? afterRows : beforeRows),
  };
}

const NAMES = ['a', 'b', 'ab', 'a\u0000b', 'b\u0000', '', 'é', '\u{1F600}', 'Z'];
const SHARED_BECAUSE = Object.freeze(['g2', 'g1']) as unknown as string[];
const row = fc.record({
  principal: fc.constantFrom(...NAMES.slice(0, 5)),
  resource: fc.constantFrom(...NAMES),
  privilege: fc.constantFrom('VM.Audit', 'VM.Console', 'Sys.Audit', 'a', 'a\u0000', ''),
  because: fc.constantFrom(SHARED_BECAUSE, ['g3']),
});
const PRIV_COMMON: Record<string, CommonPrivilege[]> = { 'VM.Console': ['vm.console'], 'VM.Audit': ['vm.view'], 'Sys.Audit': ['host.view'] };

test('property: identical to the naive reference on arbitrary row lists (order, duplicates, NUL in names)', () => {
  fc.assert(fc.property(fc.array(row, { maxLength: 40 }), fc.array(row, { maxLength: 40 }), fc.boolean(), (b, a, sorted) => {
    const key = (r: EffectiveRow): string => `${r.principal}\u0000${r.resource}\u0000${r.privilege}`;
    const order = (rows: EffectiveRow[]): EffectiveRow[] => (sorted ? [...rows].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0)) : rows);
    const backend = scriptedBackend(order(b), order(a), (p) => PRIV_COMMON[p] ?? []);
    const change: ChangeSet = { backend: 'proxmox', items: [{ id: 'i', op: 'add', grant: { principal: 'p', resource: 'x', role: 'r', propagate: true, effect: 'allow' } }] };
    const model: AccessModel = { backend: 'proxmox', principals: [], roles: [], grants: [], warnings: [], resources: [] };
    assert.deepEqual(blastRadius(backend, model, change), naiveBlastRadius(backend, model, change));
  }), { numRuns: 500 });
  assert.ok(Object.isFrozen(SHARED_BECAUSE) && SHARED_BECAUSE[0] === 'g2');
});

// Proxmox: random user.cfg files over a small universe and random changes of every kind.
const PVE_USERS = ['u1@pve', 'u2@pve', 'u3@pve'];
const PVE_TOKENS = ['u1@pve!t1', 'u2@pve!t2'];
const PVE_ROLES = ['R1', 'PVEVMUser', 'PVEAuditor', 'PVEDatastoreUser', 'NoAccess'];
const PVE_PATHS = ['/', '/vms', '/vms/100', '/vms/101', '/storage', '/storage/s1', '/pool/p1', '/nodes/n1'];
const pveCfg = fc.record({
  privsep: fc.boolean(),
  members: fc.subarray(PVE_USERS),
  r1: fc.subarray(['VM.Audit', 'VM.Console', 'VM.PowerMgmt', 'Datastore.Audit', 'Sys.Console'], { minLength: 1 }),
  pool: fc.boolean(),
  acl: fc.array(fc.record({ prop: fc.boolean(), path: fc.constantFrom(...PVE_PATHS), ugid: fc.constantFrom(...PVE_USERS, ...PVE_TOKENS, '@g1'), role: fc.constantFrom(...PVE_ROLES) }), { maxLength: 10 }),
}).map((c) => [
  ...PVE_USERS.map((u) => `user:${u}:1:`),
  `token:${PVE_TOKENS[0]}::${c.privsep ? 1 : 0}:`, `token:${PVE_TOKENS[1]}::1:`,
  `group:g1:${c.members.join(',')}:`, `pool:p1::${c.pool ? '100' : ''}:s1:`, `role:R1:${c.r1.join(',')}:`,
  ...c.acl.map((a) => `acl:${a.prop ? 1 : 0}:${a.path}:${a.ugid}:${a.role}:`),
].join('\n'));
const pveGrant = fc.record({
  principal: fc.constantFrom(...PVE_USERS, ...PVE_TOKENS, 'g1'),
  role: fc.constantFrom(...PVE_ROLES),
  resource: fc.constantFrom(...PVE_PATHS, '/vms/300'),
  propagate: fc.boolean(),
}).map((g): GrantSpec => ({ ...g, effect: g.role === 'NoAccess' ? 'deny' : 'allow' }));

/** Items whose removals and replacements name grants that exist, so the change is valid. */
function itemsFor(model: AccessModel, picks: { op: 'add' | 'remove' | 'replace'; n: number; to: GrantSpec }[]): ChangeItem[] {
  return picks.flatMap(({ op, n, to }, i): ChangeItem[] => {
    const g = model.grants[n % Math.max(1, model.grants.length)];
    const spec = (x: NonNullable<typeof g>): GrantSpec => ({ principal: x.principal, resource: x.resource, propagate: x.propagate, effect: x.effect, ...(x.role ? { role: x.role } : {}) });
    if (op === 'add' || !g) return [{ id: `i${i}`, op: 'add', grant: to }];
    if (op === 'remove') return [{ id: `i${i}`, op: 'remove', grant: spec(g) }];
    return [{ id: `i${i}`, op: 'replace', from: spec(g), to }];
  });
}
const picks = (grant: fc.Arbitrary<GrantSpec>) => fc.array(fc.record({ op: fc.constantFrom('add' as const, 'remove' as const, 'replace' as const), n: fc.nat(), to: grant }), { minLength: 1, maxLength: 4 });

/** Apply the items one by one, keeping those the backend accepts (removing one grant twice is refused). */
function validChange(backend: Backend, model: AccessModel, items: ChangeItem[]): ChangeSet {
  const kept: ChangeItem[] = [];
  for (const item of items) {
    try {
      backend.validateChange(model, { backend: model.backend, items: [...kept, item] });
      kept.push(item);
    } catch { /* an item that does not apply after the earlier ones: left out */ }
  }
  return { backend: model.backend, items: kept };
}

test('property: identical to the naive reference on random Proxmox models and changes', () => {
  let both = 0;
  fc.assert(fc.property(pveCfg, picks(pveGrant), (text, p) => {
    const model = proxmox.import([{ path: 'user.cfg', text }]);
    const change = validChange(proxmox, model, itemsFor(model, p));
    const br = blastRadius(proxmox, model, change);
    assert.deepEqual(br, naiveBlastRadius(proxmox, model, change));
    if (br.gained.length > 0 && br.lost.length > 0) both += 1;
  }), { numRuns: 200 });
  assert.ok(both > 10, `changes with both gains and losses: ${both}`);
});

// vSphere: random permissions on a small two-parent inventory (shared, frozen `because` arrays).
const VS_TREE = ['/', ...Object.keys(EXAMPLE_TREE)];
const VS_WHO = ['CORP\\alice', 'CORP\\bob', 'CORP\\ops', 'CORP\\dev'];
const vsPerm = fc.record({ on: fc.constantFrom(...VS_TREE), who: fc.constantFrom(...VS_WHO), role: fc.constantFrom('Admin', 'ReadOnly', 'NoAccess', 'op'), propagate: fc.boolean() })
  .map((p): Perm => ({ ...p, group: p.who.endsWith('ops') || p.who.endsWith('dev') }));
const vsGrant = fc.record({ principal: fc.constantFrom(...VS_WHO), role: fc.constantFrom('Admin', 'ReadOnly', 'NoAccess', 'op'), resource: fc.constantFrom(...VS_TREE), propagate: fc.boolean() })
  .map((g): GrantSpec => ({ ...g, effect: g.role === 'NoAccess' ? 'deny' : 'allow' }));

test('property: identical to the naive reference on random vSphere models and changes', () => {
  let both = 0;
  fc.assert(fc.property(fc.uniqueArray(vsPerm, { selector: (p) => `${p.on} ${p.who}`, maxLength: 8 }), picks(vsGrant), (perms, p) => {
    const model = importWorld({
      tree: EXAMPLE_TREE,
      roles: { op: ['VirtualMachine.Interact.PowerOn', 'VirtualMachine.Interact.ConsoleInteract'] },
      groups: { 'CORP\\ops': ['CORP\\alice', 'CORP\\dev'], 'CORP\\dev': ['CORP\\bob'] },
      perms,
    });
    const change = validChange(vsphere, model, itemsFor(model, p));
    const br = blastRadius(vsphere, model, change);
    assert.deepEqual(br, naiveBlastRadius(vsphere, model, change));
    if (br.gained.length > 0 && br.lost.length > 0) both += 1;
  }), { numRuns: 200 });
  assert.ok(both > 10, `changes with both gains and losses: ${both}`);
});
