import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { io } from 'socket.io-client';
import Provider from 'oidc-provider';
import { oidcRouter } from '../../server/auth/oidc/oidc-router.ts';
import { parseOidcConfig } from '../../server/auth/oidc/oidc-config.ts';
import { OidcUsers, sanitiseName, type OidcIdentity } from '../../server/auth/oidc/oidc-users.ts';
import { UserStore } from '../../server/auth/user-store.ts';
import { errorHandler } from '../../server/http/routes.ts';
import { createLogger } from '../../server/log.ts';
import { connected, startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';
import { frameParser } from '../../server/protocol/frame-parser.ts';
import { onEachDatabase, openTestStorage } from '../helpers/databases.ts';

/**
 * End to end against a real OpenID provider (oidc-provider on 127.0.0.1:0): the browser is played by
 * fetch with a cookie jar and manual redirects; the provider's login interaction is driven through
 * its (development) interaction form, consent is granted by a first-party `loadExistingGrant`.
 */

const ACCOUNTS: Record<string, { preferred_username: string; groups: string[] }> = {
  'sub-alice': { preferred_username: 'Alice', groups: ['accord-approvers', 'Platform Ops'] },
  'sub-bob': { preferred_username: 'bob@corp', groups: ['/hypervisor/oncall'] },
  'sub-cara': { preferred_username: 'cara', groups: [] },
};

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** A browser's cookies, per host (ports ignored, as browsers do; all paths sent — enough for these hosts). */
class Browser {
  readonly jar = new Map<string, string>();
  async get(url: string, init: RequestInit = {}): Promise<Response> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string> | undefined), ...(cookie ? { cookie } : {}) } });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }
}

const location = (res: Response, base: string): string => {
  const to = res.headers.get('location');
  assert.ok(to, `expected a redirect, got ${res.status}`);
  return new URL(to, base).href;
};

describe('OIDC single sign-on against a real provider', () => {
  let server: TestServer;
  let host = '';
  let host2 = '';
  let issuer = '';
  const teardown = suiteTeardown();

  before(async () => {
    server = await startTestServer({}, (fn) => teardown.push(fn));
    const idp = createServer();
    issuer = `http://127.0.0.1:${await listen(idp)}`;
    teardown.push(() => new Promise((r) => idp.close(r)));

    // Accord's OIDC routes on their own listener, sharing the test server's database: the session they
    // open must work on the real server's REST API and Socket.io. A second listener is a second node: its
    // own OIDC router (its own memory) on the same database, for a callback that reaches another node than
    // the one the sign-in started on. Both name the first one's callback, as nodes behind one address do.
    const log = createLogger('silent');
    const node = async (redirectHost: () => string): Promise<string> => {
      const web = express();
      const accordHost = createServer(web);
      const url = `http://127.0.0.1:${await listen(accordHost)}`;
      teardown.push(() => { accordHost.closeAllConnections(); return new Promise((r) => accordHost.close(r)); });
      web.use('/api/auth/oidc', oidcRouter({
        users: server.app.users, db: server.app.db, log, sessionTtlMs: 60_000, audit: server.app.accord.audit,
        config: parseOidcConfig({
          issuer, clientId: 'accord', clientSecret: 'a-long-enough-client-secret-for-tests',
          redirectUrl: `${redirectHost() || url}/api/auth/oidc/callback`, scopes: 'openid profile groups', groupsClaim: 'groups',
          defaultRole: 'viewer', roleMapping: { 'accord-approvers': 'approver' },
        }),
      }));
      web.use(errorHandler(log));
      return url;
    };
    host = await node(() => '');
    host2 = await node(() => host);

    const provider = new Provider(issuer, {
      clients: [{
        client_id: 'accord', client_secret: 'a-long-enough-client-secret-for-tests',
        redirect_uris: [`${host}/api/auth/oidc/callback`], grant_types: ['authorization_code'], response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      }],
      claims: { openid: ['sub'], profile: ['preferred_username'], groups: ['groups'] },
      findAccount: async (_ctx, id) => {
        const account = ACCOUNTS[id];
        return account ? { accountId: id, claims: async () => ({ sub: id, ...account }) } : undefined;
      },
      // PKCE is required of this confidential client too: a sign-in that completes proves the verifier was sent.
      pkce: { required: () => true },
      // First-party client: consent is implied.
      loadExistingGrant: async (ctx) => {
        const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
        if (grantId) return ctx.oidc.provider.Grant.find(grantId);
        const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
        grant.addOIDCScope('openid profile groups');
        await grant.save();
        return grant;
      },
      cookies: { keys: ['test-cookie-key-for-the-provider-only'] },
      features: { devInteractions: { enabled: true } },
    });
    idp.on('request', provider.callback());
  });

  /** Runs the browser from /login to the provider's redirect back to Accord; returns the callback URL. */
  async function toCallback(browser: Browser, account: string): Promise<{ callback: string; authorize: URL }> {
    const login = await browser.get(`${host}/api/auth/oidc/login`);
    assert.equal(login.status, 302);
    const authorize = new URL(location(login, host));
    let res = await browser.get(authorize.href);
    let url = location(res, issuer);
    assert.match(url, /\/interaction\//);
    res = await browser.get(url, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ prompt: 'login', login: account, password: 'any' }).toString(),
    });
    url = location(res, issuer);
    for (let hops = 0; hops < 5 && !url.startsWith(host); hops++) {
      res = await browser.get(url);
      url = location(res, issuer);
    }
    assert.ok(url.startsWith(`${host}/api/auth/oidc/callback?`), url);
    return { callback: url, authorize };
  }

  it('advertises itself for the web app’s SSO button', async () => {
    const res = await fetch(`${host}/api/auth/oidc/config`);
    assert.deepEqual(await res.json(), { enabled: true, loginUrl: '/api/auth/oidc/login' });
  });

  it('signs in with code + PKCE (S256) + state + nonce, creates the user just in time with mapped groups and role, and the session works for REST and Socket.io', async () => {
    // A local admin called "alice" exists: the provider's "Alice" must not become her.
    await server.user('alice', 'admin');
    const browser = new Browser();
    const { callback, authorize } = await toCallback(browser, 'sub-alice');
    const q = authorize.searchParams;
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.match(q.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.ok((q.get('state') ?? '').length >= 16 && (q.get('nonce') ?? '').length >= 16);
    assert.equal(q.get('code_verifier'), null, 'the verifier never leaves the server');
    assert.ok(browser.jar.has('accord_oidc'), 'the flow is bound to this browser');

    const done = await browser.get(callback);
    assert.equal(done.status, 302, await done.clone().text());
    assert.equal(done.headers.get('location'), '/');
    const setCookie = done.headers.getSetCookie().find((c) => c.startsWith('accord_session='))!;
    assert.match(setCookie, /HttpOnly/i);
    assert.match(setCookie, /SameSite=Lax/i);
    assert.match(setCookie, /Path=\//);
    const cookie = `accord_session=${browser.jar.get('accord_session')}`;

    const me = await fetch(`${server.url}/api/me`, { headers: { cookie } });
    assert.equal(me.status, 200);
    const user = ((await me.json()) as { user: { username: string; role: string } }).user;
    assert.deepEqual(user, { ...user, username: 'alice-2', role: 'approver' }, 'collision rule: alice-2; role from the mapping, not the local admin\'s');
    const reviewer = (await server.app.users.reviewers()).find((r) => r.username === 'alice-2');
    assert.deepEqual([...(reviewer?.groups ?? [])].sort(), ['accord-approvers', 'platform-ops']);
    assert.equal((await server.app.users.reviewers()).find((r) => r.username === 'alice')?.role, 'admin', 'the local admin is untouched');

    // Same-origin, as a browser on Accord's page sends it (cookie handshakes from other origins are refused).
    const socket = io(server.url, { transports: ['websocket'], parser: frameParser, query: { frames: 'packed' }, forceNew: true, reconnection: false, extraHeaders: { cookie, origin: server.url } });
    teardown.push(() => socket.disconnect());
    await connected(socket);
    const ack = await socket.timeout(5_000).emitWithAck('vote:cast', { changeId: 'nope', choice: 'approve', revision: 1 });
    assert.equal(ack.ok, false, 'authenticated as a real principal: the command reached the rule book');
    socket.disconnect();

    const audit = await server.app.db.all<{ actor: string; detail: string }>("SELECT actor, detail FROM audit_log WHERE action = 'session.sso'");
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.actor, 'alice-2');
    assert.match(audit[0]!.detail, /"created":true/);

    // Second sign-in: same user (linked by issuer + subject), no new row.
    const again = new Browser();
    const second = await toCallback(again, 'sub-alice');
    assert.equal((await again.get(second.callback)).status, 302);
    const count = await server.app.db.get<{ n: number }>("SELECT count(*) AS n FROM users WHERE username LIKE 'alice%'");
    assert.equal(Number(count!.n), 2);
  });

  it('completes a sign-in whose callback reaches another node than the one it started on (several nodes)', async () => {
    const browser = new Browser();
    const { callback } = await toCallback(browser, 'sub-cara');
    const elsewhere = callback.replace(host, host2);
    const done = await browser.get(elsewhere);
    assert.equal(done.status, 302, await done.clone().text());
    assert.ok(browser.jar.has('accord_session'), 'signed in by the other node');
    const replay = await browser.get(callback);
    assert.equal(replay.status, 401, 'and the flow was used up for every node');
  });

  it('uses the default role and sanitised groups when no mapping matches', async () => {
    const browser = new Browser();
    const { callback } = await toCallback(browser, 'sub-bob');
    assert.equal((await browser.get(callback)).status, 302);
    const bob = (await server.app.users.reviewers()).find((r) => r.username === 'bob-corp');
    assert.deepEqual(bob, { username: 'bob-corp', role: 'viewer', groups: ['hypervisor-oncall'] });
  });

  it('refuses a callback whose state does not match, one without the browser’s flow cookie, and a replayed one — no session, no user', async () => {
    const count = async (table: 'users' | 'web_sessions') => Number((await server.app.db.get<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))!.n);
    const users = () => count('users');
    const sessions = () => count('web_sessions');
    const before = { users: await users(), sessions: await sessions() };

    const browser = new Browser();
    const { callback } = await toCallback(browser, 'sub-bob');
    const forged = new URL(callback);
    forged.searchParams.set('state', 'attacker-chosen-state-value');
    const res = await browser.get(forged.href);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unauthorized');
    assert.equal(res.headers.getSetCookie().some((c) => c.startsWith('accord_session=')), false);
    // The flow is spent even though it failed: the genuine callback cannot be used after a forged one.
    assert.equal((await browser.get(callback)).status, 401);

    // Login CSRF: an attacker's own callback URL opened in a victim's browser (no flow cookie there).
    const attacker = new Browser();
    const attackers = await toCallback(attacker, 'sub-bob');
    const victim = new Browser();
    assert.equal((await victim.get(attackers.callback)).status, 401);

    // Replay: the callback completes once, never twice.
    const ok = new Browser();
    const good = await toCallback(ok, 'sub-bob');
    const flowCookie = ok.jar.get('accord_oidc')!;
    assert.equal((await ok.get(good.callback)).status, 302);
    ok.jar.set('accord_oidc', flowCookie);
    assert.equal((await ok.get(good.callback)).status, 401);

    assert.equal(await users(), before.users, 'bob already existed; nothing created');
    assert.equal(await sessions(), before.sessions + 1, 'only the one genuine sign-in opened a session');
  });

  it('sanitises provider names into Accord usernames', () => {
    assert.equal(sanitiseName('Zoë.Smith@Example.org'), 'zoe.smith-example.org');
    assert.equal(sanitiseName('  __root__ '), 'root');
    assert.equal(sanitiseName('---'), null);
    assert.equal(sanitiseName('x'.repeat(100))?.length, 64);
  });

  it('validates its configuration and refuses a plain-http issuer off loopback', () => {
    assert.throws(() => parseOidcConfig({ issuer: 'http://idp.example.org', clientId: 'a', redirectUrl: 'https://a.example/cb' }), /https/);
    assert.throws(() => parseOidcConfig({ issuer: 'https://idp.example.org', clientId: 'a', redirectUrl: 'https://a.example/cb', defaultRole: 'root' }), /defaultRole/);
    assert.equal(parseOidcConfig({ issuer: 'https://idp.example.org', clientId: 'a', redirectUrl: 'https://a.example/cb', scopes: 'profile' }).scopes, 'openid profile');
  });
});

describe('OIDC routes mounted by the server', () => {
  it('GET /api/auth/oidc/config answers without credentials (SSO disabled in tests)', async () => {
    const server = await startTestServer();
    const res = await fetch(`${server.url}/api/auth/oidc/config`);
    assert.equal(res.status, 200, 'the lead mounts oidcRouter at /api/auth/oidc, outside requireAuth');
    assert.deepEqual(await res.json(), { enabled: false, loginUrl: null });
  });
});

onEachDatabase('OIDC just-in-time users', (kind) => {
  const identity: OidcIdentity = { issuer: 'https://idp.example', subject: 'sub-xavier', preferredUsername: 'Xavier', groups: ['Ops'] };

  it('three first sign-ins of one identity at once make one user and one link', async () => {
    const { db } = await openTestStorage(kind);
    const oidc = new OidcUsers(db, new UserStore(db));
    // On PostgreSQL they run side by side and all find no link: the later ones fail on the unique
    // username and are run again, finding the link the first committed.
    const results = await Promise.all([1, 2, 3].map(() => oidc.signIn(identity, { defaultRole: 'viewer' })));
    assert.deepEqual(results.map((r) => r.created).sort(), [false, false, true]);
    assert.deepEqual(new Set(results.map((r) => r.principal.username)), new Set(['xavier']));
    assert.equal((await db.get<{ n: number }>('SELECT count(*) AS n FROM users'))!.n, 1);
    assert.equal((await db.get<{ n: number }>('SELECT count(*) AS n FROM oidc_identities'))!.n, 1);
  });

  it('a sign-in whose audit entry fails leaves nothing behind', async () => {
    const { db } = await openTestStorage(kind);
    const oidc = new OidcUsers(db, new UserStore(db));
    await assert.rejects(oidc.signIn(identity, { defaultRole: 'viewer' }, async () => {
      throw new Error('audit log unavailable');
    }), /audit log unavailable/);
    assert.equal((await db.get<{ n: number }>('SELECT count(*) AS n FROM users'))!.n, 0);
    assert.equal((await db.get<{ n: number }>('SELECT count(*) AS n FROM oidc_identities'))!.n, 0);
    assert.equal((await db.get<{ n: number }>('SELECT count(*) AS n FROM user_groups'))!.n, 0);
  });
});
