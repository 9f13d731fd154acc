import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
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

  it('--password-stdin reads the password from standard input, so it never stands on a command line npm echoes', async () => {
    const dataDir = tempDir();
    const child = spawn(process.execPath, ['server/cli.ts', 'user', 'add', 'fay', '--role', 'approver', '--password-stdin', '--data', dataDir], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end('a long piped secret\n');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0);
    const server = await spawnServer(dataDir);
    const signIn = (password: string) => fetch(`${server.url}/api/session`, {
      method: 'POST', headers: { 'content-type': 'application/json', origin: server.url }, body: JSON.stringify({ username: 'fay', password }),
    });
    assert.equal((await signIn('a long piped secret')).status, 200, 'the piped password (without its newline) signs in');
    assert.equal((await signIn('a long piped secret\n')).status, 401);
    server.child.kill('SIGTERM');
    await server.exited;
    await assert.rejects(run(process.execPath, ['server/cli.ts', 'user', 'add', 'gus', '--role', 'viewer', '--password', 'x', '--password-stdin', '--data', dataDir]), /not both/);
  });
});
