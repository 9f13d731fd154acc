import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect, connected, spawnServer, tempDir } from '../helpers/server.ts';

const run = promisify(execFile);

describe('accord user add', () => {
  it('creates a user whose printed token (last line) signs in to a running server', async () => {
    const dataDir = tempDir();
    const { stdout } = await run(process.execPath, ['server/cli.ts', 'user', 'add', 'erin', '--role', 'reviewer', '--data', dataDir]);
    const token = stdout.trim().split('\n').at(-1)!;
    assert.match(token, /^acc_[A-Za-z0-9_-]{40,}$/);
    const server = await spawnServer(dataDir);
    const socket = connect(server.url, token);
    await connected(socket);
    const me = await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(((await me.json()) as { user: { username: string; role: string } }).user, { id: 1, username: 'erin', role: 'reviewer' });
    socket.disconnect();
    server.child.kill('SIGTERM');
    await server.exited;
  });

  it('refuses an unknown role or a duplicate user, exiting non-zero with a message', async () => {
    const dataDir = tempDir();
    await assert.rejects(run(process.execPath, ['server/cli.ts', 'user', 'add', 'x', '--role', 'root', '--data', dataDir]), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /--role must be one of viewer, reviewer, approver, admin/);
      return true;
    });
    await run(process.execPath, ['server/cli.ts', 'user', 'add', 'dup', '--role', 'viewer', '--data', dataDir]);
    await assert.rejects(run(process.execPath, ['server/cli.ts', 'user', 'add', 'dup', '--role', 'viewer', '--data', dataDir]), /already exists/);
  });
});
