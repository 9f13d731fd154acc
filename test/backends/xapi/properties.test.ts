import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backend } from '../../../server/backends/xapi/index.ts';
import { XAPI_ROLES } from '../../../server/backends/xapi/roles.ts';
import { formatXeRecords } from '../../../server/backends/xapi/xe-format.ts';
import type { AccessModel, ChangeSet, NativeFile } from '../../../server/domain/access/model.ts';
import { rowKeys } from './helpers.ts';

const USERS = ['CORP\\u0', 'CORP\\u1', 'CORP\\u2', 'CORP\\u3'];
const GROUPS = ['CORP\\g0', 'CORP\\g1'];

/** A random pool: some users and groups are subjects with random roles; random group membership. */
const arbModel = fc.record({
  roles: fc.array(fc.subarray([...XAPI_ROLES]), { minLength: USERS.length + GROUPS.length, maxLength: USERS.length + GROUPS.length }),
  subject: fc.array(fc.boolean(), { minLength: USERS.length + GROUPS.length, maxLength: USERS.length + GROUPS.length }),
  members: fc.array(fc.subarray(USERS), { minLength: GROUPS.length, maxLength: GROUPS.length }),
}).map(({ roles, subject, members }): AccessModel => {
  const names = [...USERS, ...GROUPS];
  const records = names.flatMap((name, i) => subject[i] ? [[
    { key: 'uuid', qualifier: 'RO' as const, value: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` },
    { key: 'subject-identifier', qualifier: 'RO' as const, value: `S-1-5-21-${i}` },
    { key: 'other-config', qualifier: 'MRO' as const, value: `subject-name: ${name}; subject-is-group: ${GROUPS.includes(name)}` },
    { key: 'roles', qualifier: 'SRO' as const, value: (roles[i] ?? []).join('; ') },
  ]] : []);
  const files: NativeFile[] = [
    { path: 'subject-list.txt', text: formatXeRecords(records) },
    { path: 'membership.json', text: JSON.stringify({ format: 'accord-xapi-membership/1', groups: Object.fromEntries(GROUPS.map((g, i) => [g, members[i] ?? []])) }) },
    { path: 'vm-list.txt', text: 'uuid ( RO)           : 7d9f1b3d-5e6a-4b8c-ad2e-4f6a8b0c2d04\n     name-label ( RW): web01\n    power-state ( RO): running\n' },
  ];
  return backend.import(files);
});

/** effective(after) − effective(before), both ways, computed here rather than by the shared blast-radius code. */
function diff(before: AccessModel, after: AccessModel, principals: string[]) {
  const b = rowKeys(backend.effective(before, { principals }));
  const a = rowKeys(backend.effective(after, { principals }));
  return { gained: [...a].filter((k) => !b.has(k)), lost: [...b].filter((k) => !a.has(k)) };
}

test('the blast radius of an empty change is empty', () => {
  fc.assert(fc.property(arbModel, (model) => {
    const change: ChangeSet = { backend: 'xapi', items: [] };
    backend.validateChange(model, change);
    const after = backend.applyChange(model, change);
    const all = model.principals.map((p) => p.id);
    assert.deepEqual(diff(model, after, all), { gained: [], lost: [] });
    assert.deepEqual(backend.affectedPrincipals(model, change), []);
  }));
});

test('adding a role never removes a privilege, and only affected principals change', () => {
  fc.assert(fc.property(arbModel, fc.nat(), fc.constantFrom(...XAPI_ROLES), (model, pick, role) => {
    const known = model.principals.filter((p) => p.id !== 'root');
    if (known.length === 0) return;
    const principal = known[pick % known.length]?.id ?? '';
    const change: ChangeSet = { backend: 'xapi', items: [{ id: 'x', op: 'add', grant: { principal, role, resource: 'pool', propagate: true, effect: 'allow' } }] };
    backend.validateChange(model, change);
    const after = backend.applyChange(model, change);
    const all = model.principals.map((p) => p.id);
    const { gained, lost } = diff(model, after, all);
    assert.deepEqual(lost, []);
    const affected = new Set(backend.affectedPrincipals(model, change));
    for (const k of gained) assert.ok(affected.has(k.split('|')[0] ?? ''), k);
  }));
});

test('removing a held role never adds a privilege', () => {
  fc.assert(fc.property(arbModel, fc.nat(), (model, pick) => {
    if (model.grants.length === 0) return;
    const g = model.grants[pick % model.grants.length];
    if (!g?.role) return;
    const change: ChangeSet = { backend: 'xapi', items: [{ id: 'x', op: 'remove', grant: { principal: g.principal, role: g.role, resource: 'pool', propagate: true, effect: 'allow' } }] };
    const after = backend.applyChange(model, change);
    assert.deepEqual(diff(model, after, model.principals.map((p) => p.id)).gained, []);
  }));
});
