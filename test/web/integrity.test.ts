/**
 * The integrity contract from the web app's side (no browser): every vote, recusal, submit and sign-off
 * names the content hash the user saw when they clicked, the hash stays fixed while the command waits
 * offline, and a refusal because the content moved (`revision_changed`, `draft_changed`) is explained
 * with what changed and never re-sent by itself.
 */
import './svelte-loader.ts';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiAs, importProxmox, PROXMOX_CONTENT } from '../helpers/api.ts';
import { connect, connected, startTestServer, until, type TestServer } from '../helpers/server.ts';
import { amendAndSubmit, currentRevision, readDraftOverRest, submitDraft } from '../e2e/hash-helpers.ts';
import type { ReviewView } from '../../server/commands/review-view.ts';
import type { AccordSocket } from '../../web/lib/socket-provider.ts';
import { summarizeChanges } from '../../web/lib/diff.ts';

const { LiveConnection } = await import('../../web/state/live-connection.svelte.ts');
const { ReviewSession } = await import('../../web/state/review-session.svelte.ts');
const { DraftEditor } = await import('../../web/state/draft-editor.svelte.ts');
const { SignOffState } = await import('../../web/state/signoff.svelte.ts');

class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem(key: string) { return this.map.get(key) ?? null; }
  setItem(key: string, value: string) { this.map.set(key, value); }
  removeItem(key: string) { this.map.delete(key); }
}

/** Every command payload this socket sends, by event name (what actually goes on the wire). */
function recordCommands(socket: AccordSocket): Map<string, Record<string, unknown>[]> {
  const sent = new Map<string, Record<string, unknown>[]>();
  socket.onAnyOutgoing((event: string, ...args: unknown[]) => {
    if (event.startsWith('doc:')) return;
    sent.set(event, [...(sent.get(event) ?? []), args[0] as Record<string, unknown>]);
  });
  return sent;
}

const CONTENT = { ...PROXMOX_CONTENT, durationHours: 4 };

async function setup(): Promise<{ server: TestServer; tokens: Record<string, string>; rita: ReturnType<typeof apiAs>; changeId: string }> {
  const server = await startTestServer();
  const tokens: Record<string, string> = {};
  for (const [name, role] of [['root', 'admin'], ['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer']] as const) tokens[name] = await server.user(name, role);
  await importProxmox(server, tokens.root!);
  const rita = apiAs(server.url, tokens.rita!);
  const created = await rita<{ change: ReviewView }>('POST', '/changes', CONTENT);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { server, tokens, rita, changeId: created.body.change.id };
}

function live(server: TestServer, name: string, token: string) {
  const storage = new MemoryStorage();
  const connection = new LiveConnection(name, { socket: connect(server.url, token), storage });
  after(() => connection.dispose());
  return { connection, storage, sent: recordCommands(connection.socket) };
}

describe('votes and recusals name the revision the user saw', () => {
  it('a vote queued offline keeps its revision hash; amended meanwhile, it is refused, explained with what changed, and voted again only on a click', async () => {
    const { server, tokens, rita, changeId } = await setup();
    assert.equal((await submitDraft(rita, changeId)).status, 201);
    const rev1 = await currentRevision(rita, changeId);

    const ana = live(server, 'ana', tokens.ana!);
    const session = new ReviewSession(changeId, { id: 0, username: 'ana', role: 'reviewer' }, ana.connection);
    after(() => session.dispose());
    const ben = live(server, 'ben', tokens.ben!);
    const bens = new ReviewSession(changeId, { id: 0, username: 'ben', role: 'reviewer' }, ben.connection);
    after(() => bens.dispose());
    await until(() => session.current?.number === 1 && bens.current?.number === 1, 'both see revision 1');

    // Offline, ana approves the whole revision and approves item i2: both commands carry revision 1's hash.
    ana.connection.socket.disconnect();
    const whole = session.castVote('approve');
    const item = session.castItemVote('i2', 'approve');
    const stored = JSON.parse(ana.storage.getItem('accord:commands:ana')!) as { name: string; payload: Record<string, unknown> }[];
    assert.deepEqual(stored.map((c) => c.payload), [
      { changeId, choice: 'approve', revisionHash: rev1.hash, revision: 1 },
      { changeId, choice: 'approve', revisionHash: rev1.hash, revision: 1, itemId: 'i2' },
    ]);
    assert.deepEqual(session.pendingItemVote('i2'), { choice: 'approve', revision: 1, revisionHash: rev1.hash });

    // Meanwhile the requester amends the duration: 4 h becomes a year.
    await amendAndSubmit(rita, changeId, { ...CONTENT, durationHours: 8760 });
    const rev2 = await currentRevision(rita, changeId);
    assert.notEqual(rev2.hash, rev1.hash);

    ana.connection.socket.connect();
    await connected(ana.connection.socket);
    const [w, i] = await Promise.all([whole, item]);
    assert.equal(!w.ok && w.error.code, 'revision_changed', JSON.stringify(w));
    assert.equal(!i.ok && i.error.code, 'revision_changed', JSON.stringify(i));
    // On the wire, too, the hash is the one ana saw, not the one current when the queue flushed.
    assert.deepEqual(ana.sent.get('vote:cast')!.map((p) => p.revisionHash), [rev1.hash, rev1.hash]);

    await until(() => session.current?.number === 2, 'ana sees revision 2');
    const [group, ...more] = session.outdated;
    assert.equal(more.length, 0, 'one group: both decisions named revision 1');
    assert.equal(group!.seen?.number, 1);
    assert.equal(group!.current.number, 2);
    assert.deepEqual(group!.decisions.map((d) => [d.kind, d.choice, d.itemId, d.stillThere]), [['vote', 'approve', undefined, true], ['item-vote', 'approve', 'i2', true]]);
    assert.deepEqual(summarizeChanges(group!.changes!), ['Duration: 4 h → 8,760 h']);
    assert.ok(session.refused.every((r) => session.isOutdatedRefusal(r)));
    assert.equal(session.outdatedItemVote('i2')?.choice, 'approve');
    assert.deepEqual(bens.tally?.whole.approve, [], 'nothing was counted');

    // Nothing is re-sent by itself: a while later the server still has no vote of ana's.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await rita<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change.votes.length, 0);

    // Ana votes again on revision 2 (a click): counted, and the notice for the whole-revision vote goes.
    const again = await session.castVote('approve', undefined, group!.current);
    assert.equal(again.ok, true, JSON.stringify(again));
    assert.equal(ana.sent.get('vote:cast')!.at(-1)!.revisionHash, rev2.hash);
    await until(() => bens.tally?.whole.approve.includes('ana') === true, 'ben sees ana counted on revision 2');
    assert.deepEqual(session.outdated[0]!.decisions.map((d) => d.kind), ['item-vote'], 'the item vote still waits for her');

    // A reject whose reason form opened on revision 1 names revision 1 even if sent later: refused too.
    const late = await session.castVote('reject', 'too long', session.revisions[0]);
    assert.equal(!late.ok && late.error.code, 'revision_changed');
    assert.equal(session.outdated[0]!.decisions.some((d) => d.kind === 'vote' && d.reason === 'too long'), true);

    // A recusal names the revision too.
    const recused = await bens.recuse('I wrote the on-call rota');
    assert.equal(recused.ok, true, JSON.stringify(recused));
    assert.deepEqual(ben.sent.get('change:recuse'), [{ changeId, reason: 'I wrote the on-call rota', revisionHash: rev2.hash, idempotencyKey: ben.sent.get('change:recuse')![0]!.idempotencyKey }]);
  });

  it('does not offer Approve to someone who wrote into the revision (the server refuses it too)', async () => {
    const { server, tokens, rita, changeId } = await setup();
    assert.equal((await submitDraft(rita, changeId)).status, 201);
    const ben = live(server, 'ben', tokens.ben!);
    const me = { id: 0, username: 'ben', role: 'reviewer' };
    const review = new ReviewSession(changeId, me, ben.connection);
    after(() => review.dispose());
    await until(() => review.current?.number === 1, 'ben sees revision 1');
    assert.equal(review.canApprove, true);
    assert.equal(review.whyNoApprove, null);

    // Ben, a reviewer, amends the draft in review (allowed), then the requester submits it.
    const editor = new DraftEditor(changeId, me, ben.connection);
    after(() => editor.dispose());
    await until(() => editor.status === 'synced' && editor.canEdit && editor.backend === 'proxmox', 'ben edits the draft');
    editor.setTicket('OPS-4321');
    await until(() => editor.unsaved === 0, 'the edit is stored');
    assert.equal((await submitDraft(rita, changeId)).status, 201);
    await until(() => review.current?.number === 2, 'ben sees revision 2');
    assert.ok(review.current!.authors?.includes('ben'), JSON.stringify(review.current!.authors));
    assert.equal(review.isRevisionAuthor, true);
    assert.equal(review.canVote, true, 'he may still reject or abstain');
    assert.equal(review.canApprove, false);
    assert.match(review.whyNoApprove ?? '', /edited the draft of revision 2/);
    const refused = await review.castVote('approve');
    assert.equal(refused.ok, false, 'the server refuses it anyway');
  });
});

describe('submit names the draft the user saw', () => {
  it('hashes the draft as the server does, submits after the edits are stored, and explains a draft that moved before the submit arrived', async () => {
    const { server, tokens, rita, changeId } = await setup();
    const side = live(server, 'rita', tokens.rita!);
    const editor = new DraftEditor(changeId, { id: 0, username: 'rita', role: 'reviewer' }, side.connection);
    after(() => editor.dispose());
    await until(() => editor.status === 'synced' && editor.backend === 'proxmox', 'the draft loaded');
    assert.equal(editor.snapshot().draftHash, (await readDraftOverRest(rita, changeId)).draftHash, 'same hash as the server computes');

    // An edit typed just before the click is part of what is submitted (and of the hash).
    editor.setDurationHours(12);
    const seen = editor.snapshot().draftHash;
    const first = await editor.submit();
    assert.equal(first.ok, true, JSON.stringify(first));
    assert.deepEqual(side.sent.get('change:submit')!.map((p) => p.draftHash), [seen]);
    const view = (await rita<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change;
    assert.equal(view.revisions[0]!.content.durationHours, 12);

    // Offline, rita clicks Submit; meanwhile someone changes the draft (here: a REST replace).
    side.connection.socket.disconnect();
    await until(() => editor.status === 'offline', 'offline');
    const before = editor.snapshot();
    const submitting = editor.submit();
    assert.equal((await rita('PUT', `/changes/${changeId}/draft`, { ...CONTENT, durationHours: 48 })).status, 204);
    side.connection.socket.connect();
    const refused = await submitting;
    assert.equal(!refused.ok && refused.error.code, 'draft_changed', JSON.stringify(refused));
    assert.equal(side.sent.get('change:submit')!.at(-1)!.draftHash, before.draftHash, 'the hash of the draft as it was at the click');
    assert.equal(editor.submitRefusal?.seen.draftHash, before.draftHash);
    await until(() => editor.durationHours === 48, 'the other edit reaches the page');
    assert.deepEqual(summarizeChanges(editor.draftChanges!), ['Duration: 12 h → 48 h']);
    assert.equal((await rita<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change.revisions.length, 1, 'nothing was submitted');

    // Submitting again, after reading it, names the draft as it is now and goes through.
    const again = await editor.submit();
    assert.equal(again.ok, true, JSON.stringify(again));
    assert.equal(editor.draftChanges, null);
    const after2 = (await rita<{ change: ReviewView }>('GET', `/changes/${changeId}`)).body.change;
    assert.equal(after2.revisions.length, 2);
    assert.equal(after2.revisions[1]!.content.durationHours, 48);
  });
});

describe('sign-off names the revision on the sign-off screen', () => {
  /** Stands in for the browser: fetch answered by `answer`, a passkey that signs anything. */
  function fakeBrowser(answer: (path: string, body: Record<string, unknown> | undefined) => { status: number; body: unknown }) {
    const calls: { path: string; body: Record<string, unknown> | undefined }[] = [];
    const saved = { fetch: globalThis.fetch, window: (globalThis as Record<string, unknown>).window, pkc: (globalThis as Record<string, unknown>).PublicKeyCredential };
    globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      const path = String(input);
      const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
      calls.push({ path, body });
      const out = answer(path, body);
      return new Response(JSON.stringify(out.body), { status: out.status, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
    Object.assign(globalThis, { window: { isSecureContext: true }, PublicKeyCredential: class {} });
    const bytes = new Uint8Array([1, 2, 3]).buffer;
    Object.defineProperty(globalThis.navigator, 'credentials', {
      configurable: true,
      value: { get: async () => ({ id: 'cred', rawId: bytes, type: 'public-key', response: { clientDataJSON: bytes, authenticatorData: bytes, signature: bytes }, getClientExtensionResults: () => ({}), authenticatorAttachment: null }) },
    });
    after(() => {
      globalThis.fetch = saved.fetch;
      Object.assign(globalThis, { window: saved.window, PublicKeyCredential: saved.pkc });
      Reflect.deleteProperty(globalThis.navigator, 'credentials');
    });
    return calls;
  }
  const HASH = 'a'.repeat(64);

  it('sends the same revision hash for the challenge and the answer, and reports an amendment as such', async () => {
    let refuse = false;
    const calls = fakeBrowser((path, body) => {
      if (path === '/api/passkeys') return { status: 200, body: { passkeys: [{ id: 1 }] } };
      if (path.endsWith('/signoffs/options')) {
        return refuse
          ? { status: 409, body: { error: { code: 'revision_changed', message: 'revision 3 is current; changed: duration 4 h → 8,760 h' } } }
          : { status: 200, body: { options: { challenge: 'AAAA', allowCredentials: [] } } };
      }
      if (path.endsWith('/signoffs')) return { status: 201, body: { receipt: { revisionHash: body?.revisionHash }, seen: {} } };
      return { status: 404, body: { error: { code: 'not_found', message: path } } };
    });
    const ceremony = new SignOffState('c1');
    await ceremony.signOff({ number: 2, hash: HASH });
    assert.equal(ceremony.phase, 'done', ceremony.error ?? '');
    assert.deepEqual(calls.map((c) => c.path), ['/api/passkeys', '/api/changes/c1/signoffs/options', '/api/changes/c1/signoffs']);
    assert.deepEqual(calls[1]!.body, { revisionHash: HASH });
    assert.equal(calls[2]!.body!.revisionHash, HASH);
    assert.ok(calls[2]!.body!.response, 'the passkey answer goes with it');

    refuse = true;
    ceremony.reset();
    await ceremony.signOff({ number: 2, hash: HASH });
    assert.equal(ceremony.phase, 'failed');
    assert.deepEqual(ceremony.amended?.from, { number: 2, hash: HASH });
    assert.match(ceremony.error ?? '', /Nothing was signed: revision 2 is no longer the current revision\. revision 3 is current/);
  });
});
