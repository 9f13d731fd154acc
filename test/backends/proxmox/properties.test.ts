/**
 * Properties of the Proxmox engine over random user.cfg files (fast-check).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backend, writeUserCfg } from '../../../server/backends/proxmox/index.ts';
import { pathLevels } from '../../../server/backends/proxmox/paths.ts';
import { poolsOf } from '../../../server/backends/proxmox/resources.ts';
import { pveNative } from '../../../server/backends/proxmox/native.ts';
import type { AccessModel, ChangeSet, GrantSpec } from '../../../server/domain/access/model.ts';

const USERS = ['u1@pve', 'u2@pve', 'u3@pve'];
const TOKENS = ['u1@pve!t1', 'u2@pve!t2'];
const GROUPS = ['g1', 'g2'];
const ROLES = ['R1', 'R2', 'PVEVMUser', 'PVEAuditor', 'PVEDatastoreUser', 'NoAccess'];
const PATHS = ['/', '/vms', '/vms/100', '/vms/101', '/storage', '/storage/s1', '/pool/p1', '/pool/p1/sub'];
const QUERY_PATHS = [...PATHS, '/vms/999', '/storage/s2'];
const PRIVS = ['VM.Audit', 'VM.Console', 'VM.PowerMgmt', 'Datastore.Audit', 'VM.Snapshot'];

const entry = fc.record({ prop: fc.boolean(), path: fc.constantFrom(...PATHS), ugid: fc.constantFrom(...USERS, ...TOKENS, ...GROUPS.map((g) => `@${g}`)), role: fc.constantFrom(...ROLES) });

/** A random but well-formed user.cfg over a small universe, so that entries collide often. */
const cfg = fc.record({
  privsep: fc.tuple(fc.boolean(), fc.boolean()),
  members: fc.tuple(fc.subarray(USERS), fc.subarray(USERS)),
  r1: fc.subarray(PRIVS, { minLength: 1 }),
  r2: fc.subarray(PRIVS, { minLength: 1 }),
  pool: fc.record({ vm100: fc.boolean(), s1: fc.boolean(), vm101sub: fc.boolean() }),
  acl: fc.array(entry, { maxLength: 12 }),
}).map((c) => [
  ...USERS.map((u) => `user:${u}:1:`),
  `token:${TOKENS[0]}::${c.privsep[0] ? 1 : 0}:`, `token:${TOKENS[1]}::${c.privsep[1] ? 1 : 0}:`,
  `group:g1:${c.members[0].join(',')}:`, `group:g2:${c.members[1].join(',')}:`,
  `pool:p1::${c.pool.vm100 ? '100' : ''}:${c.pool.s1 ? 's1' : ''}:`, `pool:p1/sub::${c.pool.vm101sub ? '101' : ''}::`,
  `role:R1:${c.r1.join(',')}:`, `role:R2:${c.r2.join(',')}:`,
  ...c.acl.map((a) => `acl:${a.prop ? 1 : 0}:${a.path}:${a.ugid}:${a.role}:`),
].join('\n'));

const allowGrant = fc.record({
  principal: fc.constantFrom(...USERS, ...TOKENS, ...GROUPS),
  role: fc.constantFrom(...ROLES.filter((r) => r !== 'NoAccess')),
  resource: fc.constantFrom(...PATHS),
  propagate: fc.boolean(),
}).map((g): GrantSpec => ({ ...g, effect: 'allow' }));

const load = (text: string): AccessModel => backend.import([{ path: 'user.cfg', text }]);
const privs = (m: AccessModel, s: string, y: string) => new Set(backend.effective(m, { principals: [s], resources: [y] }).map((r) => r.privilege));

/**
 * Can adding ACL entry g take privileges from (subject, y)? Only in two ways:
 * - replacement: g sits on the path walked for y (y's own levels, or those of a pool holding y), counts
 *   there (at the target itself, or propagate=1), and names the subject, one of its groups, or, for a
 *   token, its user or one of the user's groups; it then replaces the inherited or group roles there;
 * - overwrite: g repeats an existing (path, principal, role) with propagate=0, which clears that entry's
 *   propagation below its path.
 */
function isRelevant(m: AccessModel, g: GrantSpec, subject: string, y: string): boolean {
  const overwrites = m.grants.some((x) => x.resource === g.resource && x.principal === g.principal && x.role === g.role && x.propagate && !g.propagate);
  return overwrites || replaces(m, g, subject, y);
}

function replaces(m: AccessModel, g: GrantSpec, subject: string, y: string): boolean {
  const targets = [y, ...poolsOf(y, pveNative(m).pools).map((p) => `/pool/${p}`)];
  const onPath = targets.some((t) => pathLevels(t).includes(g.resource) && (g.resource === t || g.propagate));
  const who = (id: string) => [id, ...(m.principals.find((p) => p.id === id)?.memberOf ?? [])];
  const owner = m.principals.find((p) => p.id === subject)?.owner;
  return onPath && [...who(subject), ...(owner ? who(owner) : [])].includes(g.principal);
}

test('property: adding an allow grant removes a privilege only by replacement on the walked path or a propagate overwrite', () => {
  fc.assert(fc.property(cfg, allowGrant, (text, g) => {
    const before = load(text);
    const after = backend.applyChange(before, { backend: 'proxmox', items: [{ id: 'p', op: 'add', grant: g }] });
    for (const s of [...USERS, ...TOKENS]) {
      for (const y of QUERY_PATHS) {
        const now = privs(after, s, y);
        const lost = [...privs(before, s, y)].filter((p) => !now.has(p));
        if (lost.length > 0) assert.ok(isRelevant(before, g, s, y), `${s} lost ${lost.join(',')} on ${y} from unrelated ${JSON.stringify(g)}`);
      }
    }
  }), { numRuns: 150 });
});

test('property: an allow grant on a path with no entry, whose role covers all the subject held, takes nothing away', () => {
  fc.assert(fc.property(cfg, allowGrant, (text, g) => {
    const before = load(text);
    fc.pre(before.grants.every((x) => x.resource !== g.resource) && g.resource !== '/');
    const after = backend.applyChange(before, { backend: 'proxmox', items: [{ id: 'p', op: 'add', grant: g }] });
    for (const s of [...USERS, ...TOKENS]) {
      for (const y of QUERY_PATHS) {
        // Even on an empty level a new entry replaces what was inherited, so only a role covering all of
        // it is sure to add without taking.
        const inherited = privs(before, s, y);
        const role = after.roles.find((r) => r.name === g.role)?.privileges ?? [];
        if ([...inherited].every((p) => role.includes(p))) {
          for (const p of inherited) assert.ok(privs(after, s, y).has(p), `${s} lost ${p} on ${y}`);
        }
      }
    }
  }), { numRuns: 100 });
});

test('property: the blast radius of an empty change is empty', async () => {
  const { blastRadius } = await import('../../../server/domain/access/blast-radius.ts');
  fc.assert(fc.property(cfg, (text) => {
    assert.deepEqual(blastRadius(backend, load(text), { backend: 'proxmox', items: [] }), { gained: [], lost: [] });
  }), { numRuns: 100 });
});

test('property: scoping the blast radius to affectedPrincipals loses nothing', async () => {
  const { blastRadius } = await import('../../../server/domain/access/blast-radius.ts');
  fc.assert(fc.property(cfg, allowGrant, fc.boolean(), (text, g, remove) => {
    const before = load(text);
    const change: ChangeSet = { backend: 'proxmox', items: [{ id: 'p', op: remove ? 'remove' : 'add', grant: g }] };
    const after = backend.applyChange(before, change);
    const key = (r: { principal: string; resource: string; privilege: string }) => `${r.principal} ${r.resource} ${r.privilege}`;
    const resources = after.resources.map((r) => r.id);
    const all = (m: AccessModel) => new Set(backend.effective(m, { resources }).map(key));
    const [b, a] = [all(before), all(after)];
    const br = blastRadius(backend, before, change);
    assert.deepEqual(br.gained.map(key).sort(), [...a].filter((k) => !b.has(k)).sort());
    assert.deepEqual(br.lost.map(key).sort(), [...b].filter((k) => !a.has(k)).sort());
  }), { numRuns: 100 });
});

test('property: import → write → import keeps every grant', () => {
  fc.assert(fc.property(cfg, (text) => {
    const first = load(text);
    const second = load(writeUserCfg(first));
    const norm = (m: AccessModel) => m.grants.map((g) => `${g.id} ${g.propagate}`).sort();
    assert.deepEqual(norm(second), norm(first));
  }), { numRuns: 150 });
});
