import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startTestServer, tempDir } from '../helpers/server.ts';

/** Raw GET (fetch would decompress and hide the encoding). */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('hashed web assets are served gzipped to clients that accept it, as they are to others, and never from outside the web dir', async () => {
  const outside = tempDir();
  const webDir = join(outside, 'web');
  mkdirSync(join(webDir, 'assets'), { recursive: true });
  const js = `export const answer = ${JSON.stringify('x'.repeat(5_000))};\n`;
  writeFileSync(join(webDir, 'assets', 'index-abc123.js'), js);
  writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>Accord</title>');
  writeFileSync(join(outside, 'secret.txt'), 'not an asset');
  writeFileSync(join(outside, 'secret.js'), 'not an asset');
  const server = await startTestServer({ webDir });

  const zipped = await get(`${server.url}/assets/index-abc123.js`, { 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(zipped.status, 200);
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.match(String(zipped.headers['content-type']), /^text\/javascript/);
  assert.match(String(zipped.headers['cache-control']), /immutable/);
  assert.equal(zipped.headers.vary, 'Accept-Encoding');
  assert.ok(zipped.body.length < js.length / 10, `compressed: ${zipped.body.length} of ${js.length} bytes`);
  assert.equal(gunzipSync(zipped.body).toString(), js);

  const plain = await get(`${server.url}/assets/index-abc123.js`);
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.body.toString(), js);

  for (const path of ['/assets/..%2F..%2Fsecret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/assets/..%2F..%2Fsecret.js', '/assets/%E0%A4%A', '/assets/missing.js']) {
    const res = await get(`${server.url}${path}`, { 'accept-encoding': 'gzip' });
    assert.notEqual(res.headers['content-encoding'], 'gzip', path);
    assert.ok(!res.body.toString().includes('not an asset'), `${path} must not leak a file outside the web dir`);
    assert.ok(res.status < 500, `${path}: ${res.status}`);
  }
});
