import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { COMMANDS } from '../../server/protocol/events.ts';
import { suiteTeardown } from '../helpers/server.ts';
import {
  bodyFor, concrete, ORIGIN, outcome, PUBLIC_ROUTES, restRoutes, signIn, socketAs, unchangedBy, world, type World,
} from './attack.ts';

/**
 * The attacker without (valid) credentials: every REST route and every Socket.io command and document
 * event, with no credential, forged, tampered, oversized, disabled-user, expired and signed-out ones.
 * Each is refused with 401/`unauthorized`, and nothing is written — not even an audit entry, since no
 * principal exists to attribute one to.
 */
describe('attacks without valid credentials', () => {
  let w: World;
  /** name → headers to send; cookie variants carry our own Origin so that only the credential is wrong. */
  const credentials: Record<string, Record<string, string>> = {};
  const teardown = suiteTeardown();
  before(async () => {
    w = await world((fn) => teardown.push(fn));
    const users = w.server.app.users;
    const ghost = await w.server.user('ghost', 'admin', 'ghost-password-long');
    const ghostId = Number((await w.server.app.db.get<{ id: number }>("SELECT id FROM users WHERE username = 'ghost'"))!.id);
    const expiredSid = await users.openSession(ghostId, 1_000);
    const signedOut = await signIn(w.server.url, 'rita', 'rita-password-long', ORIGIN);
    const out = await fetch(`${w.server.url}/api/session`, { method: 'DELETE', headers: { cookie: signedOut, origin: ORIGIN } });
    assert.equal(out.status, 204);
    await w.server.app.db.run("UPDATE users SET disabled = 1 WHERE username = 'ghost'"); // setup, not the attack
    await new Promise((r) => setTimeout(r, 1_100));
    Object.assign(credentials, {
      none: {},
      'forged token': { authorization: 'Bearer acc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
      'tampered token': { authorization: `Bearer ${w.tokens.root}x` },
      'oversized token': { authorization: `Bearer ${'a'.repeat(5_000)}` },
      'token without Bearer': { authorization: w.tokens.root },
      'disabled admin token': { authorization: `Bearer ${ghost}` },
      'expired session': { cookie: `accord_session=${expiredSid}`, origin: ORIGIN },
      'signed-out session': { cookie: signedOut, origin: ORIGIN },
      'forged session': { cookie: 'accord_session=ses_forged', origin: ORIGIN },
    });
  });

  it('refuses every non-public REST route with 401 for every bad credential, writing nothing', async () => {
    const routes = restRoutes().filter((r) => !PUBLIC_ROUTES.has(`${r.method} ${r.path}`));
    assert.ok(routes.length >= 20, `enumerated ${routes.length} routes`);
    await unchangedBy(w.server.app, 0, async () => {
      for (const route of routes) {
        for (const [name, headers] of Object.entries(credentials)) {
          const body = bodyFor(route, w);
          const res = await fetch(`${w.server.url}/api${concrete(route.path, w)}`, {
            method: route.method,
            // Our own Origin throughout: the credential is the only thing wrong (CSRF has its own test).
            headers: { origin: ORIGIN, ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          const text = await res.text();
          assert.equal(res.status, 401, `${route.method} ${route.path} with ${name}: ${text}`);
          assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'unauthorized');
        }
      }
    });
  });

  it('refuses the Socket.io handshake for every bad credential', async () => {
    const cases: [string, { token?: unknown; cookie?: string; origin?: string }][] = [
      ...Object.entries(credentials).map(([name, h]): [string, { token?: unknown; cookie?: string; origin?: string }] => [
        name, h.authorization ? { token: h.authorization.replace(/^Bearer /, '') } : { ...(h.cookie ? { cookie: h.cookie } : {}), ...(h.origin ? { origin: h.origin } : {}) },
      ]),
      ['non-string token', { token: { $ne: null } }],
      ['numeric token', { token: 12345 }],
    ];
    await unchangedBy(w.server.app, 0, async () => {
      for (const [name, opts] of cases) {
        if (name === 'token without Bearer') continue; // a raw token in auth.token is the normal form; covered by the REST case
        const socket = socketAs(w.server.url, opts, (fn) => teardown.push(fn));
        assert.equal(await outcome(socket), 'unauthorized', name);
        socket.disconnect();
      }
    });
  });

  it('refuses a malformed (badly percent-encoded) session cookie with 401 on REST and at the handshake, and keeps serving', async () => {
    const cookie = 'accord_session=%E0%A4%A';
    await unchangedBy(w.server.app, 0, async () => {
      const res = await fetch(`${w.server.url}/api/changes`, { headers: { cookie, origin: ORIGIN } });
      assert.equal(res.status, 401, `readCookie must not throw on bad percent-encoding: ${await res.text()}`);
      const socket = socketAs(w.server.url, { cookie, origin: ORIGIN }, (fn) => teardown.push(fn));
      assert.equal(await outcome(socket), 'unauthorized', 'the handshake answers (an exception here is an unhandled rejection: a crash in production)');
      socket.disconnect();
    });
    assert.equal((await fetch(`${w.server.url}/api/health`)).status, 200);
  });

  it('answers no command or document event sent on a refused connection (raw engine.io frames)', async () => {
    await unchangedBy(w.server.app, 0, async () => {
      const ws = new WebSocket(`${w.server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
      teardown.push(() => ws.terminate());
      const frames: string[] = [];
      ws.on('message', (data) => frames.push(String(data)));
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      ws.send('40'); // CONNECT to "/" with no auth
      const start = Date.now();
      while (!frames.some((f) => f.startsWith('44')) && Date.now() - start < 3_000) await new Promise((r) => setTimeout(r, 10));
      assert.ok(frames.some((f) => f.startsWith('44') && f.includes('unauthorized')), `connect refused: ${frames.join(' | ')}`);
      // The attacker ignores the refusal and sends every event anyway.
      const payloads: Record<string, unknown> = {
        'change:create': { content: {} }, 'change:submit': { changeId: w.changeId, draftHash: w.draftHash }, 'change:withdraw': { changeId: w.changeId },
        'change:recuse': { changeId: w.changeId, reason: 'x', revisionHash: w.revisionHash },
        'vote:cast': { changeId: w.changeId, choice: 'approve', revisionHash: w.revisionHash, revision: 1 },
        'annotation:create': { changeId: w.changeId, annotation: { anchor: { kind: 'item', itemId: 'i1' }, body: 'x' } },
        'annotation:edit': { annotationId: w.annotationId, body: 'mine now' }, 'annotation:delete': { annotationId: w.annotationId },
        'annotation:resolve': { annotationId: w.annotationId, resolved: true },
      };
      let ackId = 0;
      for (const name of COMMANDS) ws.send(`42${ackId++}${JSON.stringify([name, payloads[name]])}`);
      ws.send(`42${ackId++}${JSON.stringify(['doc:join', `review:${w.changeId}`])}`);
      ws.send(`42${ackId++}${JSON.stringify(['doc:join', 'notes:secret'])}`);
      ws.send(`451-${ackId++}${JSON.stringify(['doc:message', 'notes:secret', { _placeholder: true, num: 0 }])}`);
      ws.send(Buffer.from([0, 0, 1, 0]));
      ws.send(`42${JSON.stringify(['doc:leave', 'notes:secret'])}`);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(frames.filter((f) => /^43\d/.test(f)).length, 0, `no command was acknowledged: ${frames.join(' | ')}`);
      assert.ok(!w.server.app.sync.registry.get('notes:secret'), 'no document was loaded or created');
    });
    const health = await fetch(`${w.server.url}/api/health`);
    assert.equal(health.status, 200);
  });
});
