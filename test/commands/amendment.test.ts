import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import type { ReviewView } from '../../server/commands/review-view.ts';
import type { Annotation } from '../../server/domain/review/annotations.ts';
import type { Fact } from '../../server/protocol/events.ts';
import { SocketProvider, type AccordSocket } from '../../web/lib/socket-provider.ts';
import { apiAs, currentHash, draftHash, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { connect, connected, startTestServer, suiteTeardown, until, type TestServer } from '../helpers/server.ts';

describe('amendments, stale votes and annotations over Socket.io', () => {
  let server: TestServer;
  const sockets: Record<string, AccordSocket> = {};
  const api: Record<string, ReturnType<typeof apiAs>> = {};
  const teardown = suiteTeardown();
  let changeId = '';

  before(async () => {
    server = await startTestServer({}, (fn) => teardown.push(fn));
    const tokens: Record<string, string> = {};
    for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['vic', 'viewer']] as const) {
      tokens[name] = await server.user(name, role);
      api[name] = apiAs(server.url, tokens[name]);
    }
    await importProxmox(server, tokens.root!);
    for (const name of ['rita', 'ana', 'ben', 'vic']) {
      sockets[name] = connect(server.url, tokens[name]!, {}, (fn) => teardown.push(fn));
      await connected(sockets[name]!);
    }
  });

  const command = async (who: string, name: string, payload: unknown) =>
    (await sockets[who]!.timeout(5_000).emitWithAck(name as 'vote:cast', payload)) as { ok: boolean; data?: unknown; error?: { code: string } };

  it('creates and submits through commands; the caller gets the ack and others the fact', async () => {
    const facts: Fact[] = [];
    sockets.ana!.on('revision:submitted', (f) => facts.push(f));
    const created = await command('rita', 'change:create', { content: PROXMOX_CONTENT });
    assert.equal(created.ok, true, JSON.stringify(created));
    changeId = (created.data as ReviewView).id;
    const submitted = await command('rita', 'change:submit', { changeId, draftHash: await draftHash(api.rita!, changeId) });
    assert.equal(submitted.ok, true, JSON.stringify(submitted));
    await until(() => facts.some((f) => f.changeId === changeId && f.revision === 1), 'ana hears of revision 1');
  });

  it('carries item votes over an amendment of another item, and makes whole-revision votes stale', async () => {
    const revision1 = await currentHash(api.ben!, changeId);
    // Ben approves item i1 only; ana approves the whole revision, then amends it (which makes her an author).
    assert.equal((await command('ben', 'vote:cast', { changeId, choice: 'approve', revisionHash: revision1, revision: 1, itemId: 'i1' })).ok, true);
    assert.equal((await command('ana', 'vote:cast', { changeId, choice: 'approve', revisionHash: revision1, revision: 1 })).ok, true);

    // Ana proposes an amendment in the live draft: item i2 now propagates differently.
    const draft = new SocketProvider(sockets.ana!, `draft:${changeId}`);
    teardown.push(() => draft.destroy());
    await draft.whenSynced();
    assert.equal(draft.access, 'write', 'reviewers may amend a change in review');
    const items = draft.doc.getArray<Record<string, unknown>>('items');
    const i2 = items.get(1) as { grant: Record<string, unknown> };
    draft.doc.transact(() => {
      items.delete(1, 1);
      items.insert(1, [{ ...i2, grant: { ...i2.grant, propagate: false } }]);
    });
    await draft.whenAcked();
    const amended = await command('ana', 'change:submit', { changeId, draftHash: await draftHash(api.ana!, changeId) });
    assert.equal(amended.ok, true, JSON.stringify(amended));
    const view = amended.data as ReviewView;
    assert.equal(view.revisions.length, 2);
    assert.equal(view.revisions[0]!.itemHashes.i1, view.revisions[1]!.itemHashes.i1);
    assert.notEqual(view.revisions[0]!.itemHashes.i2, view.revisions[1]!.itemHashes.i2);
    const benVote = view.votes.find((v) => v.voter === 'ben')!;
    const anaVote = view.votes.find((v) => v.voter === 'ana')!;
    assert.equal(benVote.stale, false, 'the vote on unchanged item i1 carries over');
    assert.equal(anaVote.stale, true, 'the whole-revision vote on revision 1 is stale');
    assert.ok(view.evaluation!.notes.some((n) => /stale|revision 1/.test(n)), JSON.stringify(view.evaluation!.notes));
    assert.ok(view.revisions[1]!.authors?.includes('ana'), `whoever writes into the draft is an author of the revision: ${JSON.stringify(view.revisions[1]!.authors)}`);

    const stale = await command('ben', 'vote:cast', { changeId, choice: 'approve', revisionHash: revision1, revision: 1 });
    assert.equal(stale.error?.code, 'revision_changed', 'a vote on a revision that is not current is refused');
    assert.match((stale.error as { message?: string } | undefined)?.message ?? '', /item i2 changed/, 'the refusal says what changed');
    const revision2 = await currentHash(api.ben!, changeId);
    const ownAmendment = await command('ana', 'vote:cast', { changeId, choice: 'approve', revisionHash: revision2 });
    assert.equal(ownAmendment.error?.code, 'forbidden', 'ana wrote part of revision 2: she cannot approve it');
  });

  it('keeps the review document read-only for everyone and shows the new revision', async () => {
    const review = new SocketProvider(sockets.vic!, `review:${changeId}`);
    teardown.push(() => review.destroy());
    await review.whenSynced();
    await until(() => review.doc.getArray('revisions').length === 2, 'two revisions projected');
    const forged = new Y.Doc();
    Y.applyUpdate(forged, Y.encodeStateAsUpdate(review.doc));
    forged.getMap('review').set('status', 'approved');
    const rita = new SocketProvider(sockets.rita!, `review:${changeId}`);
    teardown.push(() => rita.destroy());
    await rita.whenSynced();
    assert.equal(rita.access, 'read', 'even the requester reads the review document only');
    rita.doc.getMap('review').set('status', 'approved'); // the provider will not even send it
    const direct = await sockets.rita!.timeout(5_000).emitWithAck('doc:message', `review:${changeId}`,
      (await import('../../server/sync/yjs-messages.ts')).frameSync(2, Y.encodeStateAsUpdate(forged, Y.encodeStateVector(review.doc))));
    assert.equal(!direct.ok && direct.error.code, 'read_only');
    assert.equal(server.app.sync.registry.get(`review:${changeId}`)!.doc.getMap('review').get('status'), 'in_review');
  });

  it('annotations: author from the session, only the author edits or deletes, reviewers resolve, all live', async () => {
    const created: Fact[] = [];
    sockets.ben!.on('annotation:created', (f) => created.push(f));
    const made = await command('ana', 'annotation:create', { changeId, annotation: { anchor: { kind: 'item', itemId: 'i1' }, body: 'Why console and not only power?' } });
    assert.equal(made.ok, true, JSON.stringify(made));
    const note = made.data as Annotation;
    assert.equal(note.author, 'ana');
    await until(() => created.some((f) => f.id === note.id), 'ben sees the annotation fact');

    const forgedAuthor = await command('ben', 'annotation:create', { changeId, annotation: { anchor: { kind: 'item', itemId: 'i1' }, body: 'x', author: 'ana' } });
    assert.equal(forgedAuthor.error?.code, 'invalid_payload');
    const notMine = await command('ben', 'annotation:edit', { annotationId: note.id, body: 'rewritten by ben' });
    assert.equal(notMine.error?.code, 'forbidden');
    const notMineDelete = await command('ben', 'annotation:delete', { annotationId: note.id });
    assert.equal(notMineDelete.error?.code, 'forbidden');
    const viewerResolve = await command('vic', 'annotation:resolve', { annotationId: note.id, resolved: true });
    assert.equal(viewerResolve.error?.code, 'forbidden');
    const reply = await command('rita', 'annotation:create', { changeId, annotation: { anchor: { kind: 'item', itemId: 'i1' }, body: 'Console is for the boot screen.', parentId: note.id } });
    assert.equal(reply.ok, true);
    const line = await command('ben', 'annotation:create', { changeId, annotation: { anchor: { kind: 'line', revision: 2, line: 1 }, body: 'first line' } });
    assert.equal(line.ok, true);
    const badLine = await command('ben', 'annotation:create', { changeId, annotation: { anchor: { kind: 'line', revision: 2, line: 9999 }, body: 'nowhere' } });
    assert.equal(badLine.error?.code, 'invalid_payload');
    assert.equal((await command('ana', 'annotation:edit', { annotationId: note.id, body: 'Why console, not only power?' })).ok, true);
    assert.equal((await command('ben', 'annotation:resolve', { annotationId: note.id, resolved: true })).ok, true);

    const review = new SocketProvider(sockets.vic!, `review:${changeId}`);
    teardown.push(() => review.destroy());
    await review.whenSynced();
    await until(() => {
      const list = review.doc.getMap('review').get('annotations') as Annotation[] | undefined;
      return list?.find((a) => a.id === note.id)?.resolved === true && list.length === 3;
    }, 'annotations projected live');
    const list = review.doc.getMap('review').get('annotations') as Annotation[];
    assert.equal(list.find((a) => a.id === note.id)!.body, 'Why console, not only power?');
    assert.equal(list.find((a) => a.parentId === note.id)!.author, 'rita');
  });

  it('answers commands without an ack, with garbage payloads or unknown ids without crashing', async () => {
    const revisionHash = await currentHash(api.vic!, changeId);
    sockets.vic!.emit('vote:cast', { changeId, choice: 'approve', revisionHash, revision: 2 }, undefined as never);
    for (const payload of [
      null, 42, 'x', [], { changeId: 5 }, { changeId, choice: 'maybe', revisionHash, revision: 2 }, { changeId, choice: 'approve', revision: 2 },
      { changeId, choice: 'approve', revisionHash: 'not-a-hash' }, { changeId: 'ch-none', choice: 'approve', revisionHash, revision: 1 },
    ]) {
      const res = await command('ben', 'vote:cast', payload);
      assert.equal(res.ok, false);
      assert.ok(['invalid_payload', 'not_found'].includes(res.error!.code), JSON.stringify(res));
    }
    const health = await fetch(`${server.url}/api/health`);
    assert.equal(health.status, 200);
    const view = (await apiAs(server.url, await server.user('late', 'viewer'))('GET', `/changes/${changeId}`)).body as { change: ReviewView };
    assert.equal(view.change.votes.length, 2, 'no vote was added by any of them');
  });
});
