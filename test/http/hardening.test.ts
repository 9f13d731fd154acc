import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, connected, startTestServer, until } from '../helpers/server.ts';

async function signIn(url: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${url}/api/session`, {
    method: 'POST', headers: { 'content-type': 'application/json', origin: url }, body: JSON.stringify({ username, password }),
  });
  assert.equal(res.status, 200);
  return res.headers.get('set-cookie')!.split(';')[0]!;
}

describe('hardening: headers, CSRF, cross-site WebSocket, limits, sessions, scoped tokens', () => {
  it('sends a strict CSP and the other security headers', async () => {
    const { url } = await startTestServer();
    const res = await fetch(`${url}/api/health`);
    const csp = res.headers.get('content-security-policy')!;
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /script-src[^;]*unsafe-inline/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('access-control-allow-origin'), null, 'CORS is closed');
    assert.equal(res.headers.get('x-powered-by'), null);
  });

  it('refuses cookie-authenticated state changes from another origin (CSRF) but not token clients', async () => {
    const server = await startTestServer();
    await server.user('cara', 'reviewer', 'long enough pass');
    const token = await server.user('tina', 'reviewer');
    const cookie = await signIn(server.url, 'cara', 'long enough pass');
    const body = JSON.stringify({ title: 'x', backend: 'proxmox', items: [] });
    for (const origin of ['http://evil.example', undefined, 'null']) {
      const res = await fetch(`${server.url}/api/changes`, {
        method: 'POST', body, headers: { cookie, 'content-type': 'application/json', ...(origin ? { origin } : {}) },
      });
      assert.equal(res.status, 403, `origin ${origin}`);
    }
    const login = await fetch(`${server.url}/api/session`, {
      method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://evil.example' }, body: JSON.stringify({ username: 'cara', password: 'long enough pass' }),
    });
    assert.equal(login.status, 403, 'login CSRF is refused too');
    const sameOrigin = await fetch(`${server.url}/api/changes`, { method: 'POST', body, headers: { cookie, 'content-type': 'application/json', origin: server.url } });
    assert.notEqual(sameOrigin.status, 403);
    const withToken = await fetch(`${server.url}/api/changes`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', origin: 'http://evil.example' } });
    assert.notEqual(withToken.status, 403, 'a bearer token cannot be sent by another site, so no origin check');
    const count = await server.app.db.get<{ n: number }>('SELECT count(*) AS n FROM changes');
    assert.equal(count!.n, 0, 'the refused requests wrote nothing (the allowed ones failed validation)');
  });

  it('refuses a WebSocket handshake that carries the session cookie from another origin', async () => {
    const server = await startTestServer();
    await server.user('wes', 'reviewer', 'long enough pass');
    const cookie = await signIn(server.url, 'wes', 'long enough pass');
    const hijack = connect(server.url, undefined, { cookie, origin: 'http://evil.example' });
    await assert.rejects(connected(hijack), /unauthorized/);
    const noOrigin = connect(server.url, undefined, { cookie });
    await assert.rejects(connected(noOrigin), /unauthorized/);
    const own = connect(server.url, undefined, { cookie, origin: server.url });
    await connected(own);
  });

  it('limits sign-in attempts per account', async () => {
    const server = await startTestServer();
    await server.user('lim', 'reviewer', 'the right password');
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${server.url}/api/session`, {
        method: 'POST', headers: { 'content-type': 'application/json', origin: server.url }, body: JSON.stringify({ username: 'lim', password: `wrong-${i}` }),
      });
      statuses.push(res.status);
    }
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
    assert.deepEqual(statuses.slice(10), [429, 429]);
    const right = await fetch(`${server.url}/api/session`, {
      method: 'POST', headers: { 'content-type': 'application/json', origin: server.url }, body: JSON.stringify({ username: 'lim', password: 'the right password' }),
    });
    assert.equal(right.status, 429, 'even the right password waits out the window');
  });

  it('signs out everywhere: every session ends and its sockets are disconnected', async () => {
    const server = await startTestServer();
    await server.user('eve', 'reviewer', 'long enough pass');
    const laptop = await signIn(server.url, 'eve', 'long enough pass');
    const phone = await signIn(server.url, 'eve', 'long enough pass');
    assert.notEqual(laptop, phone, 'each sign-in gets a fresh session id');
    const socket = connect(server.url, undefined, { cookie: phone, origin: server.url });
    await connected(socket);
    socket.io.reconnection(false);
    const gone = new Promise((r) => socket.once('disconnect', r));
    const res = await fetch(`${server.url}/api/sessions`, { method: 'DELETE', headers: { cookie: laptop, origin: server.url } });
    assert.deepEqual(await res.json(), { ended: 2 });
    await gone;
    for (const cookie of [laptop, phone]) assert.equal((await fetch(`${server.url}/api/me`, { headers: { cookie } })).status, 401);
  });

  it('ends an idle session and disconnects its sockets', async () => {
    const server = await startTestServer({ sessionIdleMs: 1_500 });
    await server.user('idle', 'reviewer', 'long enough pass');
    const cookie = await signIn(server.url, 'idle', 'long enough pass');
    const socket = connect(server.url, undefined, { cookie, origin: server.url });
    await connected(socket);
    socket.io.reconnection(false);
    await new Promise((r) => setTimeout(r, 1_700));
    assert.equal((await fetch(`${server.url}/api/me`, { headers: { cookie } })).status, 401);
    server.app.revalidateSockets();
    await until(() => socket.disconnected, 'idle socket disconnected');
  });

  it('scoped tokens: a read token reads but cannot vote or create, a revoked or expired token is refused', async () => {
    const server = await startTestServer();
    await server.user('sam', 'reviewer');
    const id = (await server.app.users.userId('sam'))!;
    const read = await server.app.users.issueToken(id, 'dashboard', 'read');
    const expired = await server.app.users.issueToken(id, 'old', 'full', Date.now() - 1);
    const revoked = await server.app.users.issueToken(id, 'leaked', 'full');
    const leakedId = (await server.app.users.tokens(id)).find((t) => t.label === 'leaked')!.id;
    assert.equal(await server.app.users.revokeToken(id, leakedId), 1);
    const get = (t: string) => fetch(`${server.url}/api/changes`, { headers: { authorization: `Bearer ${t}` } });
    assert.equal((await get(read)).status, 200);
    assert.equal((await get(expired)).status, 401);
    assert.equal((await get(revoked)).status, 401);
    const create = await fetch(`${server.url}/api/changes`, {
      method: 'POST', headers: { authorization: `Bearer ${read}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'scoped', backend: 'proxmox', items: [] }),
    });
    assert.equal(create.status, 403);
    assert.match(((await create.json()) as { error: { message: string } }).error.message, /scope \(read\)/);
    assert.ok((await server.app.users.tokens(id)).find((t) => t.label === 'dashboard')!.lastUsedAt, 'last use is recorded');
  });

  it('caps the sockets one user may hold', async () => {
    const server = await startTestServer({ maxSocketsPerUser: 3 });
    const token = await server.user('many', 'reviewer');
    for (let i = 0; i < 3; i++) await connected(connect(server.url, token));
    await assert.rejects(connected(connect(server.url, token)), /too_many_connections/);
  });
});

describe('hardening: credential rate limit, Secure cookies behind TLS, secrets never logged', () => {
  it('limits how often one credential may be used, reads included', async () => {
    const server = await startTestServer({ requestsPerMinute: 5 });
    const token = await server.user('busy', 'viewer');
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await fetch(`${server.url}/api/changes`, { headers: { authorization: `Bearer ${token}` } })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    const other = await server.user('calm', 'viewer');
    assert.equal((await fetch(`${server.url}/api/changes`, { headers: { authorization: `Bearer ${other}` } })).status, 200, 'per credential, not global');
  });

  it('marks the session cookie Secure when the public URL is https (TLS ends at a proxy)', async () => {
    const server = await startTestServer({ publicUrl: 'https://accord.example.com' });
    await server.user('tls', 'reviewer', 'long enough pass');
    const res = await fetch(`${server.url}/api/session`, {
      method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://accord.example.com' }, body: JSON.stringify({ username: 'tls', password: 'long enough pass' }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('set-cookie')!, /;\s*Secure/i);
  });

  it('never writes passwords, tokens, cookies or session ids into the log', async () => {
    const lines: string[] = [];
    const { Writable } = await import('node:stream');
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    const { createLogger } = await import('../../server/log.ts');
    const server = await startTestServer({}, undefined, createLogger('trace', sink));
    const password = 'a very secret password';
    const token = await server.user('logme', 'reviewer', password);
    const login = await fetch(`${server.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json', origin: server.url }, body: JSON.stringify({ username: 'logme', password }) });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    await fetch(`${server.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json', origin: server.url }, body: JSON.stringify({ username: 'logme', password: `${password}-wrong` }) });
    await fetch(`${server.url}/api/changes`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"broken":' });
    await fetch(`${server.url}/api/changes`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', origin: 'http://evil.example' }, body: '{}' });
    const socket = connect(server.url, token);
    await connected(socket);
    socket.emit('doc:message', 'notes:x', new Uint8Array([1, 2, 3]));
    await new Promise((r) => setTimeout(r, 100));
    const log = lines.join('');
    assert.ok(log.length > 200, 'something was logged');
    for (const secret of [password, token, cookie.split('=')[1]!]) assert.equal(log.includes(secret), false, `leaked ${secret.slice(0, 6)}…`);
  });
});
