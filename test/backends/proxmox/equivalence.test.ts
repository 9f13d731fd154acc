/**
 * The per-subject tree walk (server/backends/proxmox/resolve.ts) against the pair-by-pair resolver it
 * replaced (reference-resolve.ts): the same rows, in the same order, with the same `because`, on the
 * fixture, on random models (fast-check) and on a small model from the access bench's generator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { backend } from '../../../server/backends/proxmox/index.ts';
import { effectiveRows, rolesOf } from '../../../server/backends/proxmox/resolve.ts';
import { isLevel, parentPath, pathLevels } from '../../../server/backends/proxmox/paths.ts';
import { poolsOf } from '../../../server/backends/proxmox/resources.ts';
import { pveNative } from '../../../server/backends/proxmox/native.ts';
import type { AccessModel, ChangeSet, Grant } from '../../../server/domain/access/model.ts';
import { blastRadius } from '../../../server/domain/access/blast-radius.ts';
import { proxmox as generate, validChange } from '../../../bench/access/generate.ts';
import * as reference from './reference-resolve.ts';

const NOW = Date.parse('2025-06-01T00:00:00Z');
const load = (text: string): AccessModel => backend.import([{ path: 'user.cfg', text }]);
/** Paths `roles()` treats oddly (not normalized) or that no line names. */
const ODD_PATHS = ['/vms/100/', 'vms', '', '/vms//100', '/vms/999', '/storage/s9', '/pool/nope', '/pool/p1/sub/'];

function assertSame(model: AccessModel, query: { principals?: string[]; resources?: string[] } = {}): void {
  const fast = effectiveRows(model, query, NOW);
  const slow = reference.effectiveRows(model, query, NOW);
  assert.equal(fast.length, slow.length, 'row count');
  assert.deepEqual(fast, slow);
}

test('equivalence: the fixture, every principal × every resource, and odd paths', () => {
  const model = load(readFileSync(new URL('../../fixtures/proxmox/user.cfg', import.meta.url), 'utf8'));
  assertSame(model);
  const principals = [...model.principals.map((p) => p.id), 'nobody@pve', 'root@pam', 'ops'];
  assertSame(model, { principals, resources: [...model.resources.map((r) => r.id), ...ODD_PATHS] });
  for (const p of principals) for (const y of [...model.resources.map((r) => r.id), ...ODD_PATHS]) assert.deepEqual(rolesOf(model, p, y), reference.rolesOf(model, p, y), `${p} ${y}`);
});

const USERS = ['u1@pve', 'u2@pve', 'u3@pve', 'u4@ldap'];
const TOKENS = ['u1@pve!t1', 'u2@pve!t2', 'u3@pve!t3', 'root@pam!rt'];
const GROUPS = ['g1', 'g2', 'g3'];
const POOLS = ['p1', 'p1/sub', 'p2'];
const VMS = ['100', '101', '102', '103'];
const STORAGES = ['s1', 's2'];
const ROLES = ['R1', 'R2', 'PVEVMUser', 'PVEAuditor', 'PVEDatastoreUser', 'PVEAdmin', 'NoAccess'];
const PRIVS = ['VM.Audit', 'VM.Console', 'VM.PowerMgmt', 'Datastore.Audit', 'VM.Snapshot', 'Sys.Audit', 'Pool.Audit'];
const PATHS = ['/', '/vms', ...VMS.map((v) => `/vms/${v}`), '/storage', ...STORAGES.map((s) => `/storage/${s}`), '/pool', ...POOLS.map((p) => `/pool/${p}`), '/nodes/n1'];
const EXPIRE = ['0', '0', '1600000000', '4000000000'];

const entry = fc.record({
  prop: fc.boolean(),
  path: fc.constantFrom(...PATHS),
  ugid: fc.constantFrom(...USERS, ...TOKENS, 'root@pam', ...GROUPS.map((g) => `@${g}`), '@ghost'),
  role: fc.constantFrom(...ROLES),
});
const expire = fc.constantFrom(...EXPIRE);

/** Random user.cfg: disabled and expired users and tokens, nested pools, storages in several pools. */
const cfg = fc.record({
  users: fc.tuple(...USERS.map(() => fc.record({ enabled: fc.constantFrom(true, true, true, false), expire }))),
  tokens: fc.tuple(...TOKENS.map(() => fc.record({ privsep: fc.boolean(), expire }))),
  members: fc.tuple(...GROUPS.map(() => fc.subarray(USERS))),
  vmPool: fc.tuple(...VMS.map(() => fc.constantFrom(undefined, ...POOLS))),
  storagePools: fc.tuple(...STORAGES.map(() => fc.subarray(POOLS))),
  r1: fc.subarray(PRIVS, { minLength: 1 }),
  r2: fc.subarray(PRIVS, { minLength: 1 }),
  acl: fc.array(entry, { maxLength: 25 }),
}).map((c) => [
  'user:root@pam:1:0:',
  ...USERS.map((u, i) => `user:${u}:${c.users[i]!.enabled ? 1 : 0}:${c.users[i]!.expire}:`),
  ...TOKENS.map((t, i) => `token:${t}:${c.tokens[i]!.expire}:${c.tokens[i]!.privsep ? 1 : 0}:`),
  ...GROUPS.map((g, i) => `group:${g}:${c.members[i]!.join(',')}:`),
  ...POOLS.map((p) => `pool:${p}::${VMS.filter((_, i) => c.vmPool[i] === p).join(',')}:${STORAGES.filter((_, i) => c.storagePools[i]!.includes(p)).join(',')}:`),
  `role:R1:${c.r1.join(',')}:`, `role:R2:${c.r2.join(',')}:`,
  ...c.acl.map((a) => `acl:${a.prop ? 1 : 0}:${a.path}:${a.ugid}:${a.role}:`),
].join('\n'));

/** Entries no importer writes (odd paths, a group id that is also spelt like nothing known), added raw. */
const rawGrant = fc.record({
  principal: fc.constantFrom(...USERS, ...TOKENS, ...GROUPS),
  role: fc.constantFrom(...ROLES),
  resource: fc.constantFrom(...PATHS, '/vms/100/', 'vms', '/pool/p1/sub/'),
  propagate: fc.boolean(),
}).map((g): Grant => ({ id: `raw:${g.resource}:${g.principal}:${g.role}:${g.propagate}`, effect: g.role === 'NoAccess' ? 'deny' : 'allow', provenance: { apiId: 'raw' }, ...g }));

test('property: the tree walk and the pair-by-pair reference give identical rows on random models', () => {
  fc.assert(fc.property(cfg, fc.array(rawGrant, { maxLength: 3 }), (text, raw) => {
    const imported = load(text);
    const model = { ...imported, grants: [...imported.grants, ...raw] };
    const principals = [...model.principals.map((p) => p.id), 'nobody@pve', 'root@pam'];
    const resources = [...model.resources.map((r) => r.id), ...ODD_PATHS];
    assertSame(model);
    assertSame(model, { principals, resources });
    for (const p of principals) for (const y of resources) assert.deepEqual(rolesOf(model, p, y), reference.rolesOf(model, p, y), `${p} ${y}`);
  }), { numRuns: 300 });
});

test('property: blast radius with the tree walk equals the one computed with the reference', () => {
  const slowBackend = { ...backend, effective: (m: AccessModel, q?: { principals?: readonly string[]; resources?: readonly string[] }) => reference.effectiveRows(m, q) };
  const spec = fc.record({
    principal: fc.constantFrom(...USERS, ...TOKENS, ...GROUPS),
    role: fc.constantFrom(...ROLES),
    resource: fc.constantFrom(...PATHS),
    propagate: fc.boolean(),
  });
  fc.assert(fc.property(cfg, fc.array(fc.tuple(fc.boolean(), spec), { minLength: 1, maxLength: 4 }), (text, items) => {
    const model = load(text);
    const change: ChangeSet = {
      backend: 'proxmox',
      items: items.map(([remove, g], i) => ({ id: `c${i}`, op: remove ? 'remove' : 'add', grant: { ...g, effect: g.role === 'NoAccess' ? 'deny' : 'allow' } })),
    };
    assert.deepEqual(blastRadius(backend, model, change), blastRadius(slowBackend, model, change));
  }), { numRuns: 150 });
});

test('property: isLevel and parentPath agree with pathLevels; poolsOf with a scan of every pool', () => {
  const seg = fc.constantFrom('', 'vms', '100', 'pool', 'p1', 'a.b');
  fc.assert(fc.property(fc.array(seg, { maxLength: 5 }), fc.boolean(), (parts, lead) => {
    const path = `${lead ? '/' : ''}${parts.join('/')}`;
    const levels = pathLevels(path);
    assert.equal(isLevel(path), levels[levels.length - 1] === path, path);
    assert.equal(parentPath(path), levels.length > 1 ? levels[levels.length - 2] : undefined, path);
  }), { numRuns: 500 });
  fc.assert(fc.property(cfg, fc.constantFrom(...PATHS, ...ODD_PATHS), (text, path) => {
    const pools = pveNative(load(text)).pools;
    assert.deepEqual(poolsOf(path, pools), reference.poolsOf(path, pools));
  }), { numRuns: 200 });
});

test('equivalence: a small model from the access bench generator, full table and the blast radius of its change', () => {
  const g = generate({ vms: 300, users: 120, groups: 12, grants: 1500 }, 7);
  const model = load(g.files[0]!.text);
  assertSame(model);
  const change = validChange(backend, model, g.change(model).items);
  const after = backend.applyChange(model, change);
  const principals = backend.affectedPrincipals(model, change);
  const resources = [...new Set([...model.resources, ...after.resources].map((r) => r.id))].sort();
  assertSame(after, { principals, resources });
});
