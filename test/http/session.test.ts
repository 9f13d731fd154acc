import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, connected, startTestServer } from '../helpers/server.ts';

describe('HTTP API: health and web sessions', () => {
  it('answers health once ready', async () => {
    const { url } = await startTestServer();
    const res = await fetch(`${url}/api/health`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual({ ...body, node: typeof body.node }, { ok: true, service: 'accord', database: 'ok', redis: 'off', node: 'string' });
  });

  it('signs in with a password, sets an HttpOnly cookie that works for REST and Socket.io, and signs out', async () => {
    const server = await startTestServer();
    await server.user('carol', 'approver', 'correct horse battery');
    const wrong = await fetch(`${server.url}/api/session`, {
      method: 'POST', headers: { 'content-type': 'application/json', origin: server.url }, body: JSON.stringify({ username: 'carol', password: 'nope-nope' }),
    });
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'unauthorized');
    assert.equal(wrong.headers.get('set-cookie'), null);

    const ok = await fetch(`${server.url}/api/session`, {
      method: 'POST', headers: { 'content-type': 'application/json', origin: server.url }, body: JSON.stringify({ username: 'carol', password: 'correct horse battery' }),
    });
    assert.equal(ok.status, 200);
    const setCookie = ok.headers.get('set-cookie')!;
    assert.match(setCookie, /accord_session=ses_/);
    assert.match(setCookie, /HttpOnly/i);
    assert.match(setCookie, /SameSite=Lax/i);
    const cookie = setCookie.split(';')[0]!;

    const me = await fetch(`${server.url}/api/me`, { headers: { cookie } });
    assert.deepEqual(await me.json(), { user: { id: 1, username: 'carol', role: 'approver' } });
    const socket = connect(server.url, undefined, { cookie, origin: server.url });
    await connected(socket);
    socket.disconnect();

    const out = await fetch(`${server.url}/api/session`, { method: 'DELETE', headers: { cookie, origin: server.url } });
    assert.equal(out.status, 204);
    assert.equal((await fetch(`${server.url}/api/me`, { headers: { cookie } })).status, 401);
    const after = connect(server.url, undefined, { cookie, origin: server.url });
    await assert.rejects(connected(after), /unauthorized/);
  });

  it('accepts a Bearer API token and refuses bad ones', async () => {
    const server = await startTestServer();
    const token = await server.user('dan', 'reviewer');
    const me = await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.status, 200);
    for (const bad of ['Bearer nope', `Bearer ${token}x`, token, '']) {
      const res = await fetch(`${server.url}/api/me`, { headers: { authorization: bad } });
      assert.equal(res.status, 401, bad);
    }
  });

  it('answers malformed and oversized bodies and unknown endpoints with catalogue errors', async () => {
    const server = await startTestServer();
    const { url } = server;
    const token = await server.user('probe', 'viewer');
    const post = (body: string) => fetch(`${url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json', origin: url }, body });
    const cases: [Response, number, string][] = [
      [await post('{"username":'), 400, 'invalid_payload'],
      [await post(JSON.stringify({ username: 'a', password: 'b', admin: true })), 400, 'invalid_payload'],
      [await post(JSON.stringify({ username: 'a'.repeat(300_000), password: 'b' })), 413, 'too_large'],
      [await fetch(`${url}/api/nothing-here`), 401, 'unauthorized'],
      [await fetch(`${url}/api/nothing-here`, { headers: { authorization: `Bearer ${token}` } }), 404, 'not_found'],
    ];
    for (const [res, status, code] of cases) {
      assert.equal(res.status, status);
      const json = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(json.error.code, code);
      assert.doesNotMatch(json.error.message, /at .*\.ts|Error:/, 'no internals leak');
    }
  });
});
