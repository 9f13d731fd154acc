import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { blastRadius } from '../../server/domain/access/blast-radius.ts';
import { backend as proxmox } from '../../server/backends/proxmox/index.ts';
import type { AccessModel, Backend, ChangeSet, EffectiveQuery, EffectiveRow } from '../../server/domain/access/model.ts';

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
