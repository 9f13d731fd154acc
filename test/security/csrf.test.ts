import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ORIGIN, outcome, signIn, socketAs, unchangedBy, world, type World } from './attack.ts';
import { suiteTeardown } from '../helpers/server.ts';

/**
 * Cross-site request forgery and cross-site WebSocket hijacking: a page on http://evil.example makes the
 * victim's browser send requests that carry the victim's session cookie. The server must refuse every
 * cookie-authenticated state change and every cookie handshake whose Origin is not Accord's own.
 */
describe('CSRF and cross-site WebSocket hijacking', () => {
  let w: World;
  let cookie = '';
  const EVIL = 'http://evil.example';
  const teardown = suiteTeardown();
  before(async () => {
    w = await world((fn) => teardown.push(fn));
    cookie = await signIn(w.server.url, 'ana', 'ana-password-long', ORIGIN);
  });

  const post = (path: string, body: unknown, origin: string | undefined, method = 'POST') => fetch(`${w.server.url}/api${path}`, {
    method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { cookie, 'content-type': 'application/json', ...(origin === undefined ? {} : { origin }) },
  });

  it('refuses cookie-authenticated state changes from another origin with 403, writing nothing', async () => {
    await unchangedBy(w.server.app, 0, async () => {
      for (const origin of [EVIL, 'null', `${ORIGIN}.evil.example`, 'http://localhost:8081']) {
        for (const [method, path, body] of [
          ['POST', `/changes/${w.changeId}/votes`, { choice: 'reject', reason: 'csrf', revisionHash: w.revisionHash }],
          ['POST', `/changes/${w.changeId}/annotations`, { anchor: { kind: 'item', itemId: 'i1' }, body: 'csrf' }],
          ['PATCH', `/annotations/${w.annotationId}`, { body: 'csrf' }],
          ['DELETE', '/session', undefined],
        ] as const) {
          const res = await post(path, body, origin, method);
          assert.equal(res.status, 403, `${method} ${path} from ${origin}`);
          assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'forbidden');
        }
      }
      // A form post (text/plain, no preflight) is the classic CSRF vehicle.
      const form = await fetch(`${w.server.url}/api/changes/${w.changeId}/votes`, {
        method: 'POST', headers: { cookie, origin: EVIL, 'content-type': 'text/plain' }, body: JSON.stringify({ choice: 'reject', reason: 'csrf', revisionHash: w.revisionHash }),
      });
      assert.equal(form.status, 403);
    });
    // The session still works (DELETE /session from evil did not sign the victim out), and from our own origin a write succeeds.
    assert.equal((await fetch(`${w.server.url}/api/me`, { headers: { cookie } })).status, 200);
    const ok = await post(`/changes/${w.changeId}/votes`, { choice: 'abstain', revisionHash: w.revisionHash }, ORIGIN);
    assert.equal(ok.status, 201, await ok.text());
  });

  it('refuses login CSRF (a sign-in posted from another origin)', async () => {
    const res = await fetch(`${w.server.url}/api/session`, {
      method: 'POST', headers: { 'content-type': 'application/json', origin: EVIL },
      body: JSON.stringify({ username: 'ana', password: 'ana-password-long' }),
    });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('set-cookie'), null);
  });

  it('refuses a cookie-authenticated Socket.io handshake from another origin (or none), accepts our own', async () => {
    for (const origin of [EVIL, undefined]) {
      const socket = socketAs(w.server.url, { cookie, ...(origin ? { origin } : {}) }, (fn) => teardown.push(fn));
      assert.equal(await outcome(socket), 'unauthorized', `origin ${origin}`);
      socket.disconnect();
    }
    const own = socketAs(w.server.url, { cookie, origin: ORIGIN }, (fn) => teardown.push(fn));
    assert.equal(await outcome(own), 'connected');
  });

  it('a handshake token that is not a string neither counts as a token nor opens the way for the cookie', async () => {
    // Such a token used to skip the origin check, and authentication then fell back to the cookie.
    for (const token of [null, 0, 42, { token: 'x' }, ['a'], true]) {
      const socket = socketAs(w.server.url, { cookie, origin: EVIL, token }, (fn) => teardown.push(fn));
      assert.equal(await outcome(socket), 'unauthorized', `token ${JSON.stringify(token)}`);
      socket.disconnect();
    }
    const withToken = socketAs(w.server.url, { token: w.tokens.ana, origin: EVIL }, (fn) => teardown.push(fn));
    assert.equal(await outcome(withToken), 'connected', 'a real API token needs no origin');
  });

  it('an Authorization header that is not a Bearer token does not exempt a cookie request from the origin check', async () => {
    await unchangedBy(w.server.app, 0, async () => {
      for (const authorization of ['Basic YW5hOnB3', 'Bearer', 'token abc', '']) {
        const res = await fetch(`${w.server.url}/api/changes/${w.changeId}/votes`, {
          method: 'POST', body: JSON.stringify({ choice: 'reject', reason: 'csrf', revisionHash: w.revisionHash }),
          headers: { cookie, authorization, origin: EVIL, 'content-type': 'application/json' },
        });
        assert.equal(res.status, 403, `authorization ${JSON.stringify(authorization)}`);
      }
    });
  });
});
