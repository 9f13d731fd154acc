import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AccessModel, ChangeSet, Grant } from '../../../server/domain/access/model.ts';
import { backend, toPermissionsJson } from '../../../server/backends/vsphere/index.ts';
import { ALL_FIXTURES, fixtureFiles } from './world.ts';

const withoutProvenance = (grants: Grant[]): Omit<Grant, 'provenance'>[] =>
  grants.map(({ provenance: _provenance, ...g }) => g).sort((a, b) => a.id.localeCompare(b.id));

const reimport = (model: AccessModel, casing: 'upstream' | 'go'): AccessModel =>
  backend.import([
    ...fixtureFiles('inventory.json', 'groups.json'),
    { path: 'permissions.json', text: JSON.stringify(toPermissionsJson(model, casing)) },
  ]);

const example = JSON.parse(readFileSync(new URL('../../../examples/vsphere-change.json', import.meta.url), 'utf8')) as ChangeSet;

for (const casing of ['upstream', 'go'] as const) {
  test(`import → apply the example change → permissions.ls -json (${casing} keys) → import gives the same grants`, () => {
    const model = backend.import(fixtureFiles(...ALL_FIXTURES));
    const after = backend.applyChange(model, example);
    const again = reimport(after, casing);
    assert.deepEqual(withoutProvenance(again.grants), withoutProvenance(after.grants));
    assert.deepEqual(backend.effective(again), backend.effective(after));
    const created = after.roles.filter((r) => r.name.startsWith('ACR_'));
    assert.ok(created.length > 0, 'the example creates a role');
    for (const r of created) assert.deepEqual(again.roles.find((x) => x.name === r.name)?.privileges, r.privileges);
  });
}

test('the rendered commands and the applied model agree on every permission the change sets', () => {
  const model = backend.import(fixtureFiles(...ALL_FIXTURES));
  const after = backend.applyChange(model, example);
  const text = backend.render(model, example).text;
  for (const line of text.split('\n').filter((l) => l.startsWith('govc permissions.set'))) {
    const principal = /-principal '([^']+)'/.exec(line)![1]!;
    const entity = line.split(' ').at(-1)!.replace(/^'|'$/g, '');
    const role = / -role (\S+) /.exec(line)![1]!;
    const propagate = / -propagate=(\w+) /.exec(line)![1] === 'true';
    const g = after.grants.find((x) => x.principal === principal && x.resource === entity);
    assert.deepEqual([g?.role, g?.propagate], [role, propagate], line);
  }
});

test('the example change validates against the fixtures', () => {
  const model = backend.import(fixtureFiles(...ALL_FIXTURES));
  assert.doesNotThrow(() => backend.validateChange(model, example));
});
