/**
 * `npm start` as a new user runs it: with no `--host`, Accord listens on loopback only and says so, with
 * the port the user chose (issue 23, "a new user's first ten minutes").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { loadConfig } from '../../server/config.ts';
import { tempDir } from '../helpers/server.ts';

test('without --host the server binds to 127.0.0.1 and its first line says where it listens', async () => {
  assert.equal(loadConfig([], {}).host, '127.0.0.1');
  assert.equal(loadConfig(['--host', '0.0.0.0'], {}).host, '0.0.0.0');
  const child = spawn(process.execPath, ['server/main.ts', '--port', '0', '--data', tempDir()], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ACCORD_LOG_LEVEL: 'info', HOST: '' },
  });
  try {
    const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const found = out.split('\n').find((l) => l.includes('Accord listening'));
        if (found) resolve(JSON.parse(found) as Record<string, unknown>);
      });
      child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${out}`)));
    });
    assert.equal(line.host, '127.0.0.1');
    assert.match(String(line.msg), new RegExp(`^Accord listening on http://localhost:${line.port} \\(this machine only`));
    const health = await fetch(`http://127.0.0.1:${line.port}/api/health`);
    assert.equal(health.status, 200);
  } finally {
    child.kill('SIGKILL');
  }
});
