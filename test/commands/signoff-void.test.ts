import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReviewView } from '../../server/commands/review-view.ts';
import { apiAs, currentHash, importProxmox, PROXMOX_CONTENT, submitDraft, voteOnCurrent } from '../helpers/api.ts';
import { startTestServer, suiteTeardown, type TestServer } from '../helpers/server.ts';
import { SoftAuthenticator } from '../helpers/soft-authenticator.ts';

const ORIGIN = 'http://localhost:8080';

describe('editing after sign-off voids it; "waiting for me" lists', () => {
  let server: TestServer;
  const api: Record<string, ReturnType<typeof apiAs>> = {};
  const teardown = suiteTeardown();
  let id = '';
  before(async () => {
    server = await startTestServer({ publicUrl: ORIGIN }, (fn) => teardown.push(fn));
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['paul', 'approver']] as const) {
      api[name] = apiAs(server.url, await server.user(name, role));
    }
    await importProxmox(server, await server.user('importer', 'admin'));
    id = ((await api.rita!('POST', '/changes', PROXMOX_CONTENT)).body as { change: ReviewView }).change.id;
    assert.equal((await submitDraft(api.rita!, id)).status, 201);
  });

  const waiting = async (who: string, kind: string) =>
    ((await api[who]!('GET', `/changes?waitingFor=${kind}`)).body as { changes: { id: string }[] }).changes.map((c) => c.id);
  const view = async () => ((await api.rita!('GET', `/changes/${id}`)).body as { change: ReviewView }).change;

  it('lists the change as waiting for the reviewers\' votes, not the requester\'s, until they vote', async () => {
    assert.deepEqual(await waiting('ana', 'vote'), [id]);
    assert.deepEqual(await waiting('rita', 'vote'), [], 'the requester never votes to approve her own change');
    assert.deepEqual(await waiting('paul', 'signoff'), [], 'nothing to sign yet');
    assert.equal((await voteOnCurrent(api.ana!, id, { choice: 'approve' })).status, 201);
    assert.deepEqual(await waiting('ana', 'vote'), []);
    assert.equal((await voteOnCurrent(api.ben!, id, { choice: 'approve' })).status, 201);
    assert.equal((await view()).status, 'approved');
    assert.deepEqual(await waiting('paul', 'signoff'), [id]);
  });

  it('a sign-off stops counting once the change is amended, and the change must be approved and signed again', async () => {
    const auth = new SoftAuthenticator();
    const reg = (await api.paul!('POST', '/passkeys/options')).body as { options: Parameters<SoftAuthenticator['createCredential']>[0] };
    assert.equal((await api.paul!('POST', '/passkeys', { response: auth.createCredential(reg.options, ORIGIN) })).status, 201);
    const revisionHash = await currentHash(api.paul!, id);
    const opts = (await api.paul!('POST', `/changes/${id}/signoffs/options`, { revisionHash })).body as { options: Parameters<SoftAuthenticator['getAssertion']>[0] };
    assert.equal((await api.paul!('POST', `/changes/${id}/signoffs`, { response: auth.getAssertion(opts.options, ORIGIN), revisionHash })).status, 201);
    assert.deepEqual(await waiting('paul', 'signoff'), []);

    const amended = { ...PROXMOX_CONTENT, justification: `${PROXMOX_CONTENT.justification} Limited to the on-call rota.` };
    assert.equal((await api.rita!('PUT', `/changes/${id}/draft`, amended)).status, 204);
    assert.equal((await submitDraft(api.rita!, id)).status, 201);
    let v = await view();
    assert.equal(v.status, 'in_review', 'a new revision reopens the decided change');
    assert.equal(v.signoffs[0]!.valid, false, 'the sign-off bound to revision 1 no longer counts');
    assert.ok(v.votes.every((vote) => vote.stale), 'whole-revision votes on revision 1 are stale');
    assert.equal((await api.root!('POST', `/changes/${id}/apply`, { outcome: 'applied' })).status, 409);

    // A vote still naming revision 1 is refused, saying what changed; naming revision 2 counts.
    const stale = await api.ana!('POST', `/changes/${id}/votes`, { choice: 'approve', revisionHash });
    assert.equal(stale.status, 409, JSON.stringify(stale.body));
    assert.equal(stale.body.error?.code, 'revision_changed');
    assert.match(stale.body.error!.message, /justification changed/);
    assert.equal((await voteOnCurrent(api.ana!, id, { choice: 'approve' })).status, 201);
    assert.equal((await voteOnCurrent(api.ben!, id, { choice: 'approve' })).status, 201);
    v = await view();
    assert.equal(v.status, 'approved');
    const noSignOff = await api.root!('POST', `/changes/${id}/apply`, { outcome: 'applied' });
    assert.equal(noSignOff.status, 409);
    assert.match(noSignOff.body.error!.message, /sign-off/);
    assert.deepEqual(await waiting('paul', 'signoff'), [id], 'waiting for a fresh sign-off on revision 2');
    assert.equal(v.rules.requireRejectReason, true);
  });
});

describe('co-authors', () => {
  it('the requester invites a co-author who may then edit the draft live; the co-author never approves', async () => {
    const teardown = suiteTeardown();
    const server = await startTestServer({}, (fn) => teardown.push(fn));
    const tokens: Record<string, string> = {};
    for (const [name, role] of [['rita', 'reviewer'], ['cole', 'reviewer'], ['ana', 'reviewer'], ['vic', 'viewer']] as const) tokens[name] = await server.user(name, role);
    const api = (who: string) => apiAs(server.url, tokens[who]!);
    await importProxmox(server, await server.user('adm', 'admin'));
    const id = ((await api('rita')('POST', '/changes', PROXMOX_CONTENT)).body as { change: ReviewView }).change.id;

    const { connect, connected } = await import('../helpers/server.ts');
    const { SocketProvider } = await import('../../web/lib/socket-provider.ts');
    const socket = connect(server.url, tokens.cole!, {}, (fn) => teardown.push(fn));
    await connected(socket);
    const draft = new SocketProvider(socket, `draft:${id}`);
    teardown.push(() => draft.destroy());
    await draft.whenSynced();
    assert.equal(draft.access, 'read', 'not an author yet: the draft is read-only');

    assert.equal((await api('ana')('POST', `/changes/${id}/authors`, { username: 'cole' })).status, 403, 'only the requester invites');
    assert.equal((await api('rita')('POST', `/changes/${id}/authors`, { username: 'vic' })).status, 400, 'viewers cannot author');
    assert.equal((await api('rita')('POST', `/changes/${id}/authors`, { username: 'nobody' })).status, 400);
    const invited = await api('rita')('POST', `/changes/${id}/authors`, { username: 'cole' });
    assert.equal(invited.status, 201);
    assert.deepEqual((invited.body as { change: ReviewView }).change.authors, ['rita', 'cole']);
    const { until } = await import('../helpers/server.ts');
    await until(() => draft.access === 'write', 're-admitted as a writer');
    draft.doc.getText('justification').insert(0, 'Co-authored. ');
    await draft.whenAcked();
    assert.equal((await submitDraft(api('cole'), id)).status, 201);
    const view = ((await api('rita')('GET', `/changes/${id}`)).body as { change: ReviewView }).change;
    assert.match(view.revisions[0]!.content.justification, /^Co-authored\. /);
    assert.equal((await voteOnCurrent(api('cole'), id, { choice: 'approve' })).status, 403, 'an author never approves');
  });
});
