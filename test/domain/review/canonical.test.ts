import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson, hashContent, hashItem, hashItems, sha256Hex } from '../../../server/domain/review/canonical.ts';
import { content, item } from './build.ts';

test('canonical JSON sorts keys at every depth, drops undefined and has no whitespace', () => {
  assert.equal(canonicalJson({ b: 1, a: [{ d: 'x', c: null }, true], e: undefined }), '{"a":[{"c":null,"d":"x"},true],"b":1}');
  assert.equal(canonicalJson('é"\n'), JSON.stringify('é"\n'));
  assert.equal(canonicalJson(-0), '0');
  assert.equal(canonicalJson(1e21), '1e+21');
  // UTF-16 code unit order, as RFC 8785: uppercase before lowercase, "é" after "z".
  assert.equal(canonicalJson({ z: 1, é: 2, Z: 3 }), '{"Z":3,"z":1,"é":2}');
  assert.equal(canonicalJson(Object.assign(Object.create(null) as object, { b: 2, a: 1 })), '{"a":1,"b":2}');
});

test('canonical JSON refuses values without one faithful JSON form', () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const cases: [string, unknown, RegExp][] = [
    ['NaN', { a: Number.NaN }, /\$\.a is not a finite number/],
    ['Infinity', [1, Infinity], /\$\[1\] is not a finite number/],
    ['undefined in an array', [undefined], /\$\[0\] is undefined/],
    ['a hole', [1, , 2], /\$\[1\] is undefined/],
    ['bigint', { n: 1n }, /bigint/],
    ['function', { f: () => 1 }, /function/],
    ['Date', { d: new Date(0) }, /not a plain object/],
    ['Map', new Map(), /not a plain object/],
    ['cycle', cyclic, /cycle/],
    ['top-level undefined', undefined, /undefined/],
  ];
  for (const [name, value, message] of cases) assert.throws(() => canonicalJson(value), message, name);
  // The same object twice (not a cycle) is fine.
  const shared = { x: 1 };
  assert.equal(canonicalJson({ a: shared, b: shared }), '{"a":{"x":1},"b":{"x":1}}');
});

test('sha256Hex matches the FIPS 180-2 "abc" vector', () => {
  assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('content hash ignores key order and undefined fields, and sees every field', () => {
  const a = content([item('i1', 'ops')]);
  const reordered = JSON.parse(JSON.stringify({ items: a.items, backend: a.backend, justification: a.justification, title: a.title }));
  assert.equal(hashContent(reordered), hashContent(a));
  assert.equal(hashContent({ ...a, ticket: undefined }), hashContent(a));
  assert.notEqual(hashContent({ ...a, durationHours: 8 }), hashContent(a));
  assert.notEqual(hashContent({ ...a, environment: ['prod'] }), hashContent(a));
  assert.notEqual(hashContent({ ...a, justification: 'other' }), hashContent(a));
});

test('item hashes are per id, change with the item, and refuse duplicate ids', () => {
  const i1 = item('i1', 'ops');
  const hashes = hashItems([i1, item('i2', 'ana@pve')]);
  assert.deepEqual(Object.keys(hashes), ['i1', 'i2']);
  assert.equal(hashes.i1, hashItem(i1));
  assert.notEqual(hashItem(item('i1', 'ops', '/vms/101')), hashes.i1);
  assert.throws(() => hashItems([i1, i1]), /duplicate item id "i1"/);
  // An id that is also an Object.prototype key is stored as an own property.
  const odd = hashItems([item('__proto__', 'ops')]);
  assert.ok(Object.hasOwn(odd, '__proto__'));
});

/** Rebuild a JSON value with every object's keys in a shuffled order. */
function shuffled(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v, i) => shuffled(v, seed + i));
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value);
  const order = keys.map((k, i) => [k, Math.sin(seed * 31 + i) ] as const).sort((x, y) => x[1] - y[1]).map(([k]) => k);
  const out: Record<string, unknown> = {};
  for (const k of order) Object.defineProperty(out, k, { value: shuffled((value as Record<string, unknown>)[k], seed + 7), enumerable: true, writable: true, configurable: true });
  return out;
}

test('property: canonical JSON is independent of key order and round-trips through JSON.parse', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.integer(), (value, seed) => {
      const text = canonicalJson(value);
      assert.equal(canonicalJson(shuffled(value, seed)), text);
      assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(value)));
      assert.equal(/\s/.test(text.replace(/"(?:[^"\\]|\\.)*"/g, '')), false);
    }),
    { numRuns: 300 },
  );
});
