import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessInputError, COMMON_PRIVILEGES, HIGH_RISK_PRIVILEGES } from '../../server/domain/access/model.ts';

test('the common vocabulary has about 25 privileges and every high-risk one is in it', () => {
  assert.equal(COMMON_PRIVILEGES.length, 25);
  for (const p of HIGH_RISK_PRIVILEGES) assert.ok((COMMON_PRIVILEGES as readonly string[]).includes(p), p);
});

test('AccessInputError names file and line', () => {
  const e = new AccessInputError('unknown role Foo', { file: 'user.cfg', line: 7 });
  assert.equal(e.message, 'user.cfg:7: unknown role Foo');
});
