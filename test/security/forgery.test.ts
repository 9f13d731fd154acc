import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { frameSync, SYNC_UPDATE } from '../../server/sync/yjs-messages.ts';
import * as Y from 'yjs';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';
import { auditCounts, fingerprint, ORIGIN, outcome, restRoutes, socketAs, unchangedBy, world, type World } from './attack.ts';
import { suiteTeardown } from '../helpers/server.ts';

type Opts = Parameters<SoftAuthenticator['getAssertion']>[0];

/**
 * Authenticated attackers: forging other users' votes, sign-offs and annotation edits, replaying
 * commands and passkey assertions, and climbing to Accord's admin role.
 */
describe('forged, replayed and escalating commands', () => {
  let w: World;
  const teardown = suiteTeardown();
  before(async () => {
    w = await world((fn) => teardown.push(fn));
  });
  const on = (token: string) => socketAs(w.server.url, { token }, (fn) => teardown.push(fn));

  it('refuses votes in another user’s name, and annotation edits of another user’s annotation, over REST and Socket.io', async () => {
    const ben = on(w.tokens.ben);
    assert.equal(await outcome(ben), 'connected');
    const { changeId, annotationId, revisionHash } = w;
    await unchangedBy(w.server.app, 'any', async () => {
      const rest: [keyof World['api'], string, string, unknown, number][] = [
        ['ben', 'POST', `/changes/${changeId}/votes`, { choice: 'approve', revisionHash, voter: 'ana' }, 400],
        ['ben', 'POST', `/changes/${changeId}/votes`, { choice: 'approve', revisionHash, user: 'ana', userId: 2 }, 400],
        ['ben', 'PATCH', `/annotations/${annotationId}`, { body: 'ana never said this' }, 403],
        ['ben', 'DELETE', `/annotations/${annotationId}`, undefined, 403],
        ['ben', 'PATCH', `/annotations/${annotationId}`, { body: 'x', author: 'ben' }, 400],
        ['vic', 'PATCH', `/annotations/${annotationId}`, { resolved: true }, 403],
        ['ben', 'POST', `/changes/${changeId}/annotations`, { anchor: { kind: 'item', itemId: 'i1' }, body: 'as ana', author: 'ana' }, 400],
      ];
      for (const [who, method, path, body, status] of rest) {
        const res = await w.api[who](method, path, body);
        assert.equal(res.status, status, `${who} ${method} ${path} ${JSON.stringify(body)} → ${JSON.stringify(res.body)}`);
      }
      const commands: [string, unknown, string][] = [
        ['vote:cast', { changeId, choice: 'approve', revisionHash, revision: 1, voter: 'ana' }, 'invalid_payload'],
        ['annotation:edit', { annotationId, body: 'ana never said this' }, 'forbidden'],
        ['annotation:delete', { annotationId }, 'forbidden'],
        ['annotation:create', { changeId, annotation: { anchor: { kind: 'item', itemId: 'i1' }, body: 'x', author: 'ana' } }, 'invalid_payload'],
      ];
      for (const [name, payload, code] of commands) {
        const ack = await ben.timeout(5_000).emitWithAck(name as 'vote:cast', payload);
        assert.equal(ack.ok, false, name);
        if (!ack.ok) assert.equal(ack.error.code, code, `${name}: ${ack.error.message}`);
      }
    });
  });

  it('drops Yjs writes into the server-written review document, even from its requester', async () => {
    const rita = on(w.tokens.rita);
    assert.equal(await outcome(rita), 'connected');
    const join = await rita.timeout(5_000).emitWithAck('doc:join', `review:${w.changeId}`);
    assert.equal(join.ok && join.access, 'read');
    const forged = new Y.Doc();
    forged.getMap('review').set('status', 'approved');
    forged.getArray('votes').push([{ voter: 'ana', choice: 'approve' }]);
    await unchangedBy(w.server.app, 0, async () => {
      const ack = await rita.timeout(5_000).emitWithAck('doc:message', `review:${w.changeId}`, frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(forged)));
      assert.equal(ack.ok, false);
      if (!ack.ok) assert.equal(ack.error.code, 'read_only');
    });
    const live = w.server.app.sync.registry.get(`review:${w.changeId}`)!;
    assert.equal(live.doc.getMap('review').get('status'), 'in_review');
  });

  it('applies a replayed command (same idempotency key) once, over REST and Socket.io', async () => {
    const db = w.server.app.db;
    const votes = async () => (JSON.parse((await db.get<{ data: string }>('SELECT data FROM changes WHERE id = ?', [w.changeId]))!.data) as { votes: unknown[] }).votes.length;
    const audit = await auditCounts(db);
    const before = await votes();
    const key = 'vote-once-0001';
    const first = await w.api.ana('POST', `/changes/${w.changeId}/votes`, { choice: 'approve', revisionHash: w.revisionHash }, { 'idempotency-key': key });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const again = await w.api.ana('POST', `/changes/${w.changeId}/votes`, { choice: 'approve', revisionHash: w.revisionHash }, { 'idempotency-key': key });
    assert.equal(again.status, 201);
    assert.equal(await votes(), before + 1);
    const ana = on(w.tokens.ana);
    assert.equal(await outcome(ana), 'connected');
    const payload = { changeId: w.changeId, annotation: { anchor: { kind: 'item', itemId: 'i2' }, body: 'once' }, idempotencyKey: 'note-once-0001' };
    const a = await ana.timeout(5_000).emitWithAck('annotation:create', payload);
    const b = await ana.timeout(5_000).emitWithAck('annotation:create', payload);
    assert.ok(a.ok && b.ok);
    if (a.ok && b.ok) assert.deepEqual(b.data, a.data, 'the replay returns the first result');
    const notes = await db.get<{ n: number }>("SELECT count(*) AS n FROM annotations WHERE data LIKE '%\"once\"%'");
    assert.equal(Number(notes!.n), 1);
    assert.equal((await auditCounts(db)).ok - audit.ok, 2, 'one audited success per command, none for the replays');
    // Another user's key is another user's: the same key from ben is a fresh command of ben's.
    const ben = await w.api.ben('POST', `/changes/${w.changeId}/votes`, { choice: 'abstain', revisionHash: w.revisionHash }, { 'idempotency-key': key });
    assert.equal(ben.status, 201);
    assert.equal(await votes(), before + 2);
    // The same vote again without a key (a double click, a retry) is the same fact: answered, not appended.
    const repeated = await w.api.ben('POST', `/changes/${w.changeId}/votes`, { choice: 'abstain', revisionHash: w.revisionHash });
    assert.equal(repeated.status, 201, JSON.stringify(repeated.body));
    assert.equal(await votes(), before + 2, 'a repeated identical vote is not appended again');
  });

  it('refuses a replayed passkey assertion and an assertion presented by another user', async () => {
    // ana approved above; ben's approval completes the policy.
    assert.equal((await w.api.ben('POST', `/changes/${w.changeId}/votes`, { choice: 'approve', revisionHash: w.revisionHash })).status, 201);
    const status = (await w.api.rita('GET', `/changes/${w.changeId}`)).body as { change: { status: string } };
    assert.equal(status.change.status, 'approved', JSON.stringify(status));
    const device = new SoftAuthenticator();
    const reg = (await w.api.paul('POST', '/passkeys/options')).body as { options: Parameters<SoftAuthenticator['createCredential']>[0] };
    assert.equal((await w.api.paul('POST', '/passkeys', { response: device.createCredential(reg.options, ORIGIN) })).status, 201);
    const { revisionHash } = w;
    const options = ((await w.api.paul('POST', `/changes/${w.changeId}/signoffs/options`, { revisionHash })).body as { options: Opts }).options;
    const assertion = device.getAssertion(options, ORIGIN);
    // Presented by root (an admin, so allowed to sign off, but not the passkey's owner) before paul uses it.
    await unchangedBy(w.server.app, 'any', async () => {
      const stolen = await w.api.root('POST', `/changes/${w.changeId}/signoffs`, { response: assertion, revisionHash });
      assert.ok([401, 403, 409].includes(stolen.status), JSON.stringify(stolen.body));
    });
    const signed = await w.api.paul('POST', `/changes/${w.changeId}/signoffs`, { response: assertion, revisionHash });
    assert.equal(signed.status, 201, JSON.stringify(signed.body));
    await unchangedBy(w.server.app, 'any', async () => {
      const replay = await w.api.paul('POST', `/changes/${w.changeId}/signoffs`, { response: assertion, revisionHash });
      assert.ok([401, 409].includes(replay.status), JSON.stringify(replay.body));
    });
  });

  it('offers no way for a reviewer to become admin: no role endpoint, role fields refused, scoped and admin-only routes closed', async () => {
    // Account routes exist (passwords, disable, own tokens), but none sets a role or a group.
    const roleRoutes = restRoutes().filter((r) => /role|group|scope/i.test(r.path));
    assert.deepEqual(roleRoutes, [], 'no REST route sets roles or groups (the CLI on the server does)');
    await unchangedBy(w.server.app, 'any', async () => {
      const attempts: [string, string, unknown, number][] = [
        ['POST', '/changes', { role: 'admin' }, 400],
        ['POST', `/changes/${w.changeId}/recusals`, { reason: 'x', revisionHash: w.revisionHash, role: 'admin' }, 400],
        ['PUT', '/inventories/proxmox', { files: [{ path: 'user.cfg', text: 'user:rita@pve:1:0::::::\nacl:1:/:rita@pve:Administrator:\n' }] }, 403],
        ['PUT', '/policies/p1', { yaml: 'name: p1\nrequire: []\n' }, 403],
        ['POST', `/changes/${w.changeId}/apply`, { outcome: 'applied' }, 403],
        ['POST', '/users/rita/enable', undefined, 403],
        ['POST', '/users/root/password', { password: 'taken-over-by-rita' }, 403],
        ['POST', '/tokens', { label: 'x', scope: 'full' }, 400],
      ];
      for (const [method, path, body, status] of attempts) {
        const res = await w.api.rita(method, path, body);
        assert.equal(res.status, status, `${method} ${path} → ${JSON.stringify(res.body)}`);
      }
      const session = await fetch(`${w.server.url}/api/session`, {
        method: 'POST', headers: { 'content-type': 'application/json', origin: ORIGIN },
        body: JSON.stringify({ username: 'rita', password: 'rita-password-long', role: 'admin' }),
      });
      assert.equal(session.status, 400);
      assert.equal(session.headers.get('set-cookie'), null);
    });
    // A token of scope `admin` only narrows what rita's role allows: it never lifts her to admin.
    const minted = await w.api.rita('POST', '/tokens', { label: 'probe', scope: 'admin' });
    assert.equal(minted.status, 201);
    const adminScoped = (minted.body as { token: string }).token;
    const tryImport = await fetch(`${w.server.url}/api/inventories/proxmox`, {
      method: 'PUT', headers: { authorization: `Bearer ${adminScoped}`, 'content-type': 'application/json' },
      body: JSON.stringify({ files: [{ path: 'user.cfg', text: 'acl:1:/:rita@pve:Administrator:\n' }] }),
    });
    assert.equal(tryImport.status, 403);
    const me = await w.api.rita('GET', '/me');
    assert.equal((me.body as { user: { role: string } }).user.role, 'reviewer');
    assert.equal((await fingerprint(w.server.app.db)).includes('"username":"rita","role":"reviewer"'), true);
  });
});
