/**
 * Integrity of live documents (the integrity issue, findings 2 over Yjs, 6, 7 and 10): a Yjs update is
 * checked before it is applied; refused updates change nothing and are stored nowhere. Real server, real
 * SQLite, real socket.io-client peers speaking y-websocket frames.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import type { ReviewView } from '../../server/commands/review-view.ts';
import type { ErrorBody } from '../../server/protocol/errors.ts';
import { frameSync, SYNC_UPDATE } from '../../server/sync/yjs-messages.ts';
import type { AccordSocket } from '../../web/lib/socket-provider.ts';
import { apiAs, currentHash, importProxmox, PROXMOX_CONTENT, submitDraft } from '../helpers/api.ts';
import { connect, connected, openProvider, startTestServer, tempDir, until } from '../helpers/server.ts';

type Ack = { ok: true } | { ok: false; error: ErrorBody };

async function join(socket: AccordSocket, docId: string): Promise<void> {
  await connected(socket);
  const res = (await socket.timeout(5_000).emitWithAck('doc:join', docId)) as Ack;
  assert.equal(res.ok, true, JSON.stringify(res));
}

/** Sends one raw update built from `doc` (everything it holds beyond `base`) and returns the server's ack. */
async function send(socket: AccordSocket, docId: string, update: Uint8Array): Promise<Ack> {
  return (await socket.timeout(5_000).emitWithAck('doc:message', docId, frameSync(SYNC_UPDATE, update))) as Ack;
}

async function setup(overrides: Record<string, unknown> = {}) {
  const server = await startTestServer(overrides);
  const tokens: Record<string, string> = {};
  for (const [name, role] of [['rita', 'reviewer'], ['ana', 'reviewer'], ['ben', 'reviewer'], ['mal', 'reviewer']] as const) tokens[name] = await server.user(name, role);
  await importProxmox(server, await server.user('adm', 'admin'));
  const api = (who: string) => apiAs(server.url, tokens[who]!);
  const id = ((await api('rita')('POST', '/changes', PROXMOX_CONTENT)).body as { change: ReviewView }).change.id;
  return { server, tokens, api, id };
}

describe('integrity: live documents', () => {
  it('finding 6: an update that would leave the draft unreadable is refused with doc:error; submit and PUT /draft keep working', async () => {
    const { server, tokens, api, id } = await setup();
    const mal = connect(server.url, tokens.rita!);
    const errors: ErrorBody[] = [];
    mal.on('doc:error', (_d, e) => errors.push(e));
    const provider = await openProvider(mal, `draft:${id}`);
    const before = provider.doc.getMap('meta').toJSON();

    // An unknown key in meta: before the fix every later submit failed with "Unrecognized key".
    const attacker = new Y.Doc();
    Y.applyUpdate(attacker, Y.encodeStateAsUpdate(provider.doc));
    const sv = Y.encodeStateVector(attacker);
    attacker.getMap('meta').set('sneaky', 'x');
    const raw = connect(server.url, tokens.rita!);
    await join(raw, `draft:${id}`);
    const refused = await send(raw, `draft:${id}`, Y.encodeStateAsUpdate(attacker, sv));
    assert.equal(refused.ok, false);
    assert.equal((refused as { error: ErrorBody }).error.code, 'invalid_payload');
    assert.match((refused as { error: ErrorBody }).error.message, /unreadable.*sneaky/);
    const live = server.app.sync.registry.get(`draft:${id}`)!;
    assert.deepEqual(live.doc.getMap('meta').toJSON(), before, 'nothing was applied');

    // Other shapes a reader cannot use: a foreign root, an item that is a shared type, an unknown item field.
    for (const mutate of [
      (d: Y.Doc) => d.getText('extra').insert(0, 'x'),
      (d: Y.Doc) => d.getArray('items').push([new Y.Map()]),
      (d: Y.Doc) => d.getArray('items').push([{ id: 'i9', op: 'add', grant: { principal: 'x', resource: '/', privileges: ['vm.view'] }, note: 'x' }]),
      (d: Y.Doc) => d.getMap('meta').set('durationHours', 'forever'),
    ]) {
      const d = new Y.Doc();
      Y.applyUpdate(d, Y.encodeStateAsUpdate(live.doc));
      const base = Y.encodeStateVector(d);
      mutate(d);
      const ack = await send(raw, `draft:${id}`, Y.encodeStateAsUpdate(d, base));
      assert.equal(ack.ok, false, `refused: ${mutate.toString()}`);
    }
    // An unfinished item is fine while editing (empty principal), and the valid edit still goes through.
    provider.doc.getArray('items').push([{ id: 'i3', op: 'add', grant: { principal: '', privileges: ['vm.view'], resource: '', propagate: false, effect: 'allow' } }]);
    await provider.whenAcked();
    assert.equal(live.doc.getArray('items').length, 3);
    provider.doc.getArray('items').delete(2, 1);
    await provider.whenAcked();
    assert.equal((await submitDraft(api('rita'), id)).status, 201, 'the draft stayed submittable');

    // A draft stored before the guard with a stray key (written into the store as an old server would have):
    // submit names it, PUT /draft replaces the whole map and repairs it.
    provider.destroy();
    mal.disconnect();
    raw.disconnect();
    const registry = server.app.sync.registry;
    await until(() => registry.get(`draft:${id}`) === undefined, 'the draft unloaded once nobody is on it');
    const stored = (await server.app.storage.documents.load(`draft:${id}`))!;
    const old = new Y.Doc();
    for (const u of [stored.snapshot, ...stored.updates]) if (u) Y.applyUpdate(old, u);
    const oldState = Y.encodeStateVector(old);
    old.getMap('meta').set('legacy', true);
    await server.app.storage.documents.append([{ docId: `draft:${id}`, update: Y.encodeStateAsUpdate(old, oldState) }]);
    const legacy = await submitDraft(api('rita'), id);
    assert.equal(legacy.status, 400, JSON.stringify(legacy.body));
    assert.match(legacy.body.error!.message, /legacy/);
    assert.equal((await api('rita')('PUT', `/changes/${id}/draft`, { ...PROXMOX_CONTENT, ticket: undefined })).status, 204);
    const repaired = (await api('rita')<{ draft: Record<string, unknown> }>('GET', `/changes/${id}/draft`)).body.draft;
    assert.deepEqual(Object.keys(repaired).sort(), ['backend', 'items', 'justification', 'title'], 'stray and omitted keys are gone');
    assert.equal((await submitDraft(api('rita'), id)).status, 201);
  });

  it('finding 2 over Yjs: a reviewer who types into the draft becomes an author; one who only opens it does not', async () => {
    const { server, tokens, api, id } = await setup();
    assert.equal((await submitDraft(api('rita'), id)).status, 201);
    // ben opens the draft (a sync step 2 with nothing new) but writes nothing.
    await openProvider(connect(server.url, tokens.ben!), `draft:${id}`);
    const mal = await openProvider(connect(server.url, tokens.mal!), `draft:${id}`);
    mal.doc.getText('justification').insert(0, 'Also urgent. ');
    await mal.whenAcked();
    assert.equal((await submitDraft(api('rita'), id)).status, 201);
    const view = (await api('rita')<{ change: ReviewView }>('GET', `/changes/${id}`)).body.change;
    assert.deepEqual(view.revisions.at(-1)!.authors, ['mal', 'rita']);
    const hash = await currentHash(api('mal'), id);
    assert.equal((await api('mal')('POST', `/changes/${id}/votes`, { choice: 'approve', revisionHash: hash })).status, 403);
    assert.equal((await api('ben')('POST', `/changes/${id}/votes`, { choice: 'approve', revisionHash: hash })).status, 201);
  });

  it('finding 7: a document may not grow past its size limit; the refused update is stored nowhere', async () => {
    const { server, tokens } = await setup({ maxDocumentBytes: 64 * 1024 });
    const provider = await openProvider(connect(server.url, tokens.ana!), 'notes:big');
    provider.doc.getText('body').insert(0, 'x'.repeat(40 * 1024));
    await provider.whenAcked();
    const raw = connect(server.url, tokens.ana!);
    await join(raw, 'notes:big');
    const d = new Y.Doc();
    Y.applyUpdate(d, Y.encodeStateAsUpdate(provider.doc));
    const base = Y.encodeStateVector(d);
    d.getText('body').insert(0, 'y'.repeat(40 * 1024));
    const ack = await send(raw, 'notes:big', Y.encodeStateAsUpdate(d, base));
    assert.equal(ack.ok, false);
    assert.equal((ack as { error: ErrorBody }).error.code, 'too_large');
    assert.match((ack as { error: ErrorBody }).error.message, /may not grow past 0\.1 MB/);
    await server.app.settle();
    const stored = await server.app.sync.registry.get('notes:big');
    assert.equal(stored!.doc.getText('body').length, 40 * 1024, 'the live document is unchanged');
    // What a new reader downloads is bounded too: a fresh load from the store holds only the first write.
    const loaded = await server.app.storage.documents.load('notes:big');
    const copy = new Y.Doc();
    for (const u of [loaded!.snapshot, ...loaded!.updates]) if (u) Y.applyUpdate(copy, u);
    assert.equal(copy.getText('body').length, 40 * 1024);
    // Deleting content makes room again.
    provider.doc.getText('body').delete(0, 30 * 1024);
    await provider.whenAcked();
    provider.doc.getText('body').insert(0, 'z'.repeat(20 * 1024));
    await provider.whenAcked();
    assert.equal(stored!.doc.getText('body').length, 30 * 1024);
  });

  it('finding 7: one user may create only so many documents an hour; joining existing ones is not limited', async () => {
    const { server, tokens } = await setup({ documentsPerUserPerHour: 5 });
    const socket = connect(server.url, tokens.ana!);
    await connected(socket);
    const results: Ack[] = [];
    for (let i = 0; i < 8; i++) results.push((await socket.timeout(5_000).emitWithAck('doc:join', `notes:many-${i}`)) as Ack);
    assert.deepEqual(results.map((r) => r.ok), [true, true, true, true, true, false, false, false]);
    assert.equal((results[5] as { error: ErrorBody }).error.code, 'rate_limited');
    assert.equal(await server.app.sync.registry.get('notes:many-6'), undefined);
    const other = connect(server.url, tokens.ana!);
    await join(other, 'notes:many-1');
    const ben = connect(server.url, tokens.ben!);
    await join(ben, 'notes:many-2');
  });

  it('finding 10: after a restart, the first status change re-admits the sockets already on the draft', async () => {
    const dataDir = tempDir();
    const first = await setup({ dataDir });
    await first.server.app.close();
    const server = await startTestServer({ dataDir });
    const rita = apiAs(server.url, first.tokens.rita!);
    const ben = connect(server.url, first.tokens.ana!);
    const rejoins: string[] = [];
    ben.on('doc:rejoin', (docId) => rejoins.push(docId));
    await join(ben, `draft:${first.id}`);
    assert.equal((await submitDraft(rita, first.id)).status, 201, 'draft → in_review: reviewers may now propose amendments');
    await until(() => rejoins.includes(`draft:${first.id}`), 'doc:rejoin after the first status change since the restart');
  });
});
