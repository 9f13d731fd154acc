import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { apiAs } from '../helpers/api.ts';
import { connect, connected, spawnServer, startTestServer, tempDir, until } from '../helpers/server.ts';

const run = promisify(execFile);
const accord = (...args: string[]) => run(process.execPath, ['server/cli.ts', ...args]);

async function signIn(url: string, username: string, password: string): Promise<Response> {
  return fetch(`${url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json', origin: url }, body: JSON.stringify({ username, password }) });
}

describe('accounts: passwords, disable, scoped tokens', () => {
  it('changes a password with the current one; every session ends; the new one works', async () => {
    const server = await startTestServer();
    await server.user('pia', 'reviewer', 'first password');
    const cookie = (await signIn(server.url, 'pia', 'first password')).headers.get('set-cookie')!.split(';')[0]!;
    const change = (body: unknown) => fetch(`${server.url}/api/me/password`, {
      method: 'PUT', headers: { cookie, origin: server.url, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    assert.equal((await change({ current: 'not it', next: 'second password' })).status, 401);
    assert.equal((await change({ current: 'first password', next: 'short' })).status, 400);
    assert.equal((await change({ current: 'first password', next: 'second password' })).status, 204);
    assert.equal((await fetch(`${server.url}/api/me`, { headers: { cookie } })).status, 401, 'the old session ended');
    assert.equal((await signIn(server.url, 'pia', 'first password')).status, 401);
    assert.equal((await signIn(server.url, 'pia', 'second password')).status, 200);
    const audit = await server.app.db.get<{ n: number }>("SELECT count(*) AS n FROM audit_log WHERE action = 'user.password.change'");
    assert.equal(audit!.n, 1);
  });

  it('lets only an admin reset passwords and disable accounts; a disabled account is cut off at once', async () => {
    const server = await startTestServer();
    const admin = apiAs(server.url, await server.user('boss', 'admin'));
    const dana = await server.user('dana', 'reviewer', 'dana password');
    const rev = apiAs(server.url, await server.user('rev', 'reviewer'));
    assert.equal((await rev('POST', '/users/dana/disable')).status, 403);
    assert.equal((await rev('POST', '/users/dana/password', { password: 'taken over' })).status, 403);
    assert.equal((await admin('POST', '/users/boss/disable')).status, 409, 'an admin cannot lock themselves out');

    const socket = connect(server.url, dana);
    await connected(socket);
    socket.io.reconnection(false);
    assert.equal((await admin('POST', '/users/dana/disable')).status, 204);
    await until(() => socket.disconnected, 'the disabled user\'s socket is disconnected');
    assert.equal((await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${dana}` } })).status, 401);
    assert.equal((await signIn(server.url, 'dana', 'dana password')).status, 401);
    assert.equal((await admin('POST', '/users/dana/enable')).status, 204);
    assert.equal((await admin('POST', '/users/dana/password', { password: 'a fresh password' })).status, 204);
    assert.equal((await signIn(server.url, 'dana', 'a fresh password')).status, 200);
    assert.equal((await admin('POST', '/users/nobody/disable')).status, 404);
  });

  it('mints, lists and revokes scoped tokens; a scoped token cannot mint more', async () => {
    const server = await startTestServer();
    const me = apiAs(server.url, await server.user('tom', 'reviewer'));
    const minted = await me('POST', '/tokens', { label: 'ci', scope: 'read', expiresInDays: 30 });
    assert.equal(minted.status, 201);
    const { token, tokens } = minted.body as { token: string; tokens: { id: string; label: string; scope: string; expiresAt: number }[] };
    const ci = tokens.find((t) => t.label === 'ci')!;
    assert.equal(ci.scope, 'read');
    assert.ok(ci.expiresAt > Date.now() + 29 * 86_400_000);
    const scoped = apiAs(server.url, token);
    assert.equal((await scoped('GET', '/changes')).status, 200);
    assert.equal((await scoped('POST', '/tokens', { label: 'more', scope: 'admin' })).status, 403);
    assert.equal((await me('POST', '/tokens', { label: 'x', scope: 'root' })).status, 400);
    assert.equal((await me('DELETE', `/tokens/${ci.id}`)).status, 204);
    assert.equal((await scoped('GET', '/changes')).status, 401);
    assert.equal((await me('DELETE', `/tokens/${ci.id}`)).status, 404, 'revoking twice finds nothing to revoke');
  });

  it('the CLI resets passwords, disables accounts and manages tokens on the data directory', async () => {
    const dataDir = tempDir();
    await accord('user', 'add', 'cli-user', '--role', 'reviewer', '--password', 'cli password 1', '--data', dataDir);
    await accord('user', 'passwd', 'cli-user', '--password', 'cli password 2', '--data', dataDir);
    const added = await accord('token', 'add', 'cli-user', '--scope', 'vote', '--expires-days', '7', '--label', 'bot', '--data', dataDir);
    const token = added.stdout.trim().split('\n').at(-1)!;
    const listed = await accord('token', 'list', 'cli-user', '--data', dataDir);
    const botLine = listed.stdout.split('\n').find((l) => l.includes('bot'))!;
    assert.match(botLine, /vote/);
    const server = await spawnServer(dataDir);
    assert.equal((await signIn(server.url, 'cli-user', 'cli password 2')).status, 200);
    assert.equal((await fetch(`${server.url}/api/changes`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    await accord('token', 'revoke', 'cli-user', botLine.split(' ')[0]!, '--data', dataDir);
    assert.equal((await fetch(`${server.url}/api/changes`, { headers: { authorization: `Bearer ${token}` } })).status, 401);
    await accord('user', 'disable', 'cli-user', '--data', dataDir);
    assert.equal((await signIn(server.url, 'cli-user', 'cli password 2')).status, 401);
    await assert.rejects(accord('token', 'add', 'cli-user', '--scope', 'root', '--data', dataDir), /--scope must be one of/);
    server.child.kill('SIGTERM');
    await server.exited;
  });
});
