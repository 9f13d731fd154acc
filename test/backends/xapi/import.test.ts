import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backend } from '../../../server/backends/xapi/index.ts';
import { AccessInputError } from '../../../server/domain/access/model.ts';
import { formatXeRecords, parseXeMap, parseXeRecords } from '../../../server/backends/xapi/xe-format.ts';
import { allFixtures, fixture } from './helpers.ts';

test('subject-list: principals, kinds, directories and grants with file and line', () => {
  const model = backend.import([fixture('subject-list.txt')]);
  const alice = model.principals.find((p) => p.id === 'CORP\\alice');
  assert.deepEqual(alice, { kind: 'user', id: 'CORP\\alice', directory: 'CORP', memberOf: [] });
  assert.equal(model.principals.find((p) => p.id === 'CORP\\xen-ops')?.kind, 'group');
  assert.equal(model.principals.find((p) => p.id === 'CORP\\erin')?.enabled, false);
  const g = model.grants.find((x) => x.principal === 'CORP\\xen-ops');
  assert.deepEqual(g, {
    id: '8a2e4f60-1c3b-4d5e-8f70-9b1a2c3d4e52/pool-operator', principal: 'CORP\\xen-ops', role: 'pool-operator',
    resource: 'pool', propagate: true, effect: 'allow', provenance: { file: 'subject-list.txt', line: 7 },
  });
  assert.deepEqual(model.grants.filter((x) => x.principal === 'CORP\\dave').map((x) => x.role), ['read-only', 'vm-superuser']);
  assert.deepEqual(model.resources, [{ id: 'pool', kind: 'pool', name: 'pool', parents: [] }]);
});

test('unknown roles are warned about with file and line', () => {
  const model = backend.import([fixture('subject-list.txt')]);
  assert.deepEqual(model.warnings, [{ file: 'subject-list.txt', line: 25, message: 'unknown role vm-superuser on subject CORP\\dave: kept verbatim, grants nothing Accord can compute' }]);
});

test('inventory: pool name, hosts, VMs under their resident host, dom0 skipped', () => {
  const model = backend.import(allFixtures());
  assert.deepEqual(model.resources.map((r) => [r.id, r.kind, r.parents.join(',')]), [
    ['pool', 'pool', ''], ['host/xs-node1', 'host', 'pool'], ['host/xs-node2', 'host', 'pool'],
    ['vm/web01', 'vm', 'host/xs-node1'], ['vm/db01', 'vm', 'pool'],
  ]);
  assert.equal(model.resources[0]?.name, 'prod-pool');
  assert.deepEqual(model.roles.find((r) => r.name === 'vm-admin')?.provenance, { file: 'role-list.txt', line: 16, apiId: 'aaa00ab5-7340-bfbc-0d1b-7cf342639a6e' });
});

test('records without blank lines between them (as printed in the docs) still split on uuid', () => {
  const text = 'uuid( RO): 0165f154-ba3e-034e-6b27-5d271af109ba\n   name ( RO): pool-admin\nuuid ( RO): 7955168d-7bec-10ed-105f-c6a7e6e63249\n   name ( RO): vm-super\n';
  const model = backend.import([{ path: 'roles.txt', text }]);
  assert.deepEqual(model.warnings.map((w) => [w.line, w.message.startsWith('unknown role vm-super')]).filter(([, x]) => x), [[3, true]]);
});

test('unreadable subject records are skipped with a warning', () => {
  const text = 'uuid ( RO): 1b2c3d4e-0000-4000-8000-000000000009\n  other-config (MRO): subject-is-group: false\n         roles (SRO): vm-admin\n';
  const model = backend.import([{ path: 's.txt', text }]);
  assert.equal(model.grants.length, 0);
  assert.equal(model.warnings[0]?.line, 1);
  assert.match(model.warnings[0]?.message ?? '', /unreadable subject record/);
});

const malformed: { name: string; file: string; text: string; line: number | undefined; re: RegExp }[] = [
  { name: 'a stray line', file: 'subject-list.txt', text: 'uuid ( RO): 1\n  roles (SRO): vm-admin\nthis is not xe\n', line: 3, re: /not an xe record line/ },
  { name: '--minimal output', file: 'subject-list.txt', text: '3f1c2a8e-5b7d-4c1e-9a2f-0d6b8e4c7a11,8a2e4f60-1c3b-4d5e-8f70-9b1a2c3d4e52\n', line: 1, re: /--minimal/ },
  { name: 'a duplicate field', file: 's.txt', text: 'uuid ( RO): 1\n  roles (SRO): a\n  roles (SRO): b\n', line: 3, re: /duplicate field roles/ },
  { name: 'bad JSON in membership', file: 'm.json', text: '{\n  "format": "accord-xapi-membership/1",\n  "groups": {,}\n}\n', line: 3, re: /not valid JSON/ },
  { name: 'a non-list membership entry', file: 'm.json', text: '{\n  "format": "accord-xapi-membership/1",\n  "groups": {\n    "CORP\\\\ops": "CORP\\\\alice"\n  }\n}\n', line: 4, re: /groups\.CORP\\ops/ },
];

for (const c of malformed) {
  test(`malformed input throws AccessInputError naming file and line: ${c.name}`, () => {
    assert.throws(() => backend.import([{ path: c.file, text: c.text }]), (e: unknown) => {
      assert.ok(e instanceof AccessInputError);
      assert.equal(e.file, c.file);
      assert.equal(e.line, c.line);
      assert.match(e.message, c.re);
      return true;
    });
  });
}

test('membership names match subjects case-insensitively and nested groups are kept', () => {
  const model = backend.import([fixture('subject-list.txt'), {
    path: 'm.json', text: JSON.stringify({ format: 'accord-xapi-membership/1', groups: { 'corp\\XEN-OPS': ['corp\\ALICE'] } }),
  }]);
  assert.deepEqual(model.principals.find((p) => p.id === 'CORP\\alice')?.memberOf, ['CORP\\xen-ops']);
  assert.equal(model.principals.filter((p) => p.id.toLowerCase() === 'corp\\alice').length, 1);
});

test('xe layout: formatXeRecords prints exactly what xe prints (xen-api cli_printer.ml multi_line_record, newcli.ml print_endline)', () => {
  // cli_printer.ml: maxlen = 4 + longest "key (QUAL)"; first key padded right, the rest left; "k: v";
  // each record is Print (record ^ "\n") and newcli.ml prints it with print_endline.
  const text = formatXeRecords([
    [{ key: 'uuid', qualifier: 'RO', value: 'u1' }, { key: 'name', qualifier: 'RO', value: 'pool-admin' }],
    [{ key: 'uuid', qualifier: 'RO', value: 'u2' }, { key: 'other-config', qualifier: 'MRW', value: 'a: b' }],
  ]);
  assert.equal(text, [
    'uuid ( RO)    : u1',
    '    name ( RO): pool-admin',
    '',
    '',
    'uuid ( RO)            : u2',
    '    other-config (MRW): a: b',
    '',
    '',
    '',
  ].join('\n'));
  assert.deepEqual(parseXeRecords(text, 'x').map((r) => r.fields.get('uuid')?.value), ['u1', 'u2']);
});

test('xe maps: an empty last value (`k: ` trimmed to `k:`) is the key k, not "k:" (records.ml get_from_map "%s: %s")', () => {
  assert.deepEqual(parseXeMap('subject-name: CORP\\x; subject-gecos: ; subject-is-group: true'), { 'subject-name': 'CORP\\x', 'subject-gecos': '', 'subject-is-group': 'true' });
  const [rec] = parseXeRecords('uuid ( RO)                : u\n    other-config (MRO): subject-name: CORP\\x; subject-gecos: \n', 'x');
  assert.deepEqual(parseXeMap(rec?.fields.get('other-config')?.value ?? ''), { 'subject-name': 'CORP\\x', 'subject-gecos': '' });
});
