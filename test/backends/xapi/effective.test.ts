import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backend } from '../../../server/backends/xapi/index.ts';
import { XAPI_ROLES, permissionsOf } from '../../../server/backends/xapi/roles.ts';
import type { NativeFile } from '../../../server/domain/access/model.ts';
import { formatXeRecords } from '../../../server/backends/xapi/xe-format.ts';
import { allFixtures, privilegesOf } from './helpers.ts';

function subjectList(subjects: { uuid: string; name: string; group?: boolean; roles: string[] }[]): NativeFile {
  return {
    path: 'subject-list.txt',
    text: formatXeRecords(subjects.map((s) => [
      { key: 'uuid', qualifier: 'RO', value: s.uuid },
      { key: 'subject-identifier', qualifier: 'RO', value: `S-1-5-21-${s.uuid.slice(0, 4)}` },
      { key: 'other-config', qualifier: 'MRO', value: `subject-name: ${s.name}; subject-is-group: ${s.group === true}` },
      { key: 'roles', qualifier: 'SRO', value: s.roles.join('; ') },
    ])),
  };
}

const membership = (groups: Record<string, string[]>): NativeFile =>
  ({ path: 'membership.json', text: JSON.stringify({ format: 'accord-xapi-membership/1', groups }) });

const cases: { name: string; user: string[]; group: string[]; expect: string }[] = [
  { name: 'group role higher than user role', user: ['vm-operator'], group: ['pool-operator'], expect: 'pool-operator' },
  { name: 'user role higher than group role', user: ['vm-power-admin'], group: ['read-only'], expect: 'vm-power-admin' },
  { name: 'only the group holds a role', user: [], group: ['vm-admin'], expect: 'vm-admin' },
  { name: 'only the user holds a role', user: ['read-only'], group: [], expect: 'read-only' },
  { name: 'two roles on the user itself', user: ['vm-admin', 'vm-operator'], group: ['read-only'], expect: 'vm-admin' },
  { name: 'same role both ways', user: ['pool-admin'], group: ['pool-admin'], expect: 'pool-admin' },
];

for (const c of cases) {
  test(`highest role wins: ${c.name}`, () => {
    const model = backend.import([
      subjectList([
        { uuid: '11111111-0000-4000-8000-000000000001', name: 'CORP\\u1', roles: c.user },
        { uuid: '22222222-0000-4000-8000-000000000002', name: 'CORP\\g1', group: true, roles: c.group },
      ]),
      membership({ 'CORP\\g1': ['CORP\\u1'] }),
    ]);
    const rows = backend.effective(model, { principals: ['CORP\\u1'] });
    assert.deepEqual(privilegesOf(rows, 'CORP\\u1'), new Set(permissionsOf(c.expect as (typeof XAPI_ROLES)[number])));
    const winners = model.grants.filter((g) => g.role === c.expect).map((g) => g.id).sort();
    assert.deepEqual([...new Set(rows.flatMap((r) => r.because))].sort(), winners);
  });
}

test('role order: each role strictly contains the next lower one', () => {
  for (let i = 0; i + 1 < XAPI_ROLES.length; i++) {
    const hi = new Set(permissionsOf(XAPI_ROLES[i] as (typeof XAPI_ROLES)[number]));
    const lo = permissionsOf(XAPI_ROLES[i + 1] as (typeof XAPI_ROLES)[number]);
    assert.ok(lo.every((x) => hi.has(x)), `${XAPI_ROLES[i]} ⊇ ${XAPI_ROLES[i + 1]}`);
    assert.ok(hi.size > lo.length, `${XAPI_ROLES[i]} has more than ${XAPI_ROLES[i + 1]}`);
  }
  assert.deepEqual([...XAPI_ROLES], ['pool-admin', 'pool-operator', 'vm-power-admin', 'vm-admin', 'vm-operator', 'read-only']);
});

test('landmark permissions sit at their source-given minimum roles', () => {
  const at = (role: (typeof XAPI_ROLES)[number], perm: string) => permissionsOf(role).includes(perm);
  assert.ok(at('vm-operator', 'http/connect_console') && !at('read-only', 'http/connect_console'));
  assert.ok(at('pool-admin', 'http/connect_console/host_console') && !at('pool-operator', 'http/connect_console/host_console'));
  assert.ok(at('vm-power-admin', 'vm.pool_migrate') && !at('vm-admin', 'vm.pool_migrate'));
  assert.ok(at('vm-admin', 'vm.clone') && !at('vm-operator', 'vm.clone'));
  assert.ok(at('pool-admin', 'subject.add_to_roles') && !at('pool-operator', 'subject.add_to_roles'));
});

test('roles apply pool-wide: the same privileges on the pool, every host and every VM', () => {
  const model = backend.import(allFixtures());
  const rows = backend.effective(model, { principals: ['CORP\\bob'] });
  const onPool = privilegesOf(rows, 'CORP\\bob', 'pool');
  assert.ok(onPool.size > 0);
  for (const r of model.resources) assert.deepEqual(privilegesOf(rows, 'CORP\\bob', r.id), onPool, r.id);
  assert.deepEqual(new Set(rows.map((r) => r.resource)), new Set(['pool', 'host/xs-node1', 'host/xs-node2', 'vm/web01', 'vm/db01']));
});

test('fixture: nested groups, non-subject members, disabled accounts, local root', () => {
  const model = backend.import(allFixtures());
  const rows = backend.effective(model, { resources: ['vm/web01'] });
  const op = new Set(permissionsOf('pool-operator'));
  assert.deepEqual(privilegesOf(rows, 'CORP\\alice', 'vm/web01'), op); // vm-operator itself, pool-operator via xen-ops
  assert.deepEqual(privilegesOf(rows, 'CORP\\carol', 'vm/web01'), op); // not a subject, member of xen-ops
  assert.deepEqual(privilegesOf(rows, 'CORP\\frank', 'vm/web01'), op); // xen-leads ⊂ xen-ops
  assert.deepEqual(privilegesOf(rows, 'CORP\\erin', 'vm/web01'), new Set()); // disabled pool-admin
  assert.deepEqual(privilegesOf(rows, 'root', 'vm/web01'), new Set(permissionsOf('pool-admin')));
  assert.deepEqual(rows.find((r) => r.principal === 'root')?.because, ['builtin:local-root']);
});

test('an unknown role grants nothing and does not hide a known one', () => {
  const model = backend.import(allFixtures());
  const rows = backend.effective(model, { principals: ['CORP\\dave'] });
  assert.deepEqual(privilegesOf(rows, 'CORP\\dave'), new Set(permissionsOf('read-only')));
});
