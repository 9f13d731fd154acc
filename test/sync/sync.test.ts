import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import type { SocketProvider } from '../../web/lib/socket-provider.ts';
import { connect, connected, openProvider, startTestServer, until } from '../helpers/server.ts';
import type { Ack } from '../../server/protocol/errors.ts';
import type { JoinInfo } from '../../server/protocol/events.ts';
import { frameSync, SYNC_UPDATE } from '../../server/sync/yjs-messages.ts';

function body(p: SocketProvider): string {
  return p.doc.getText('body').toString();
}

function open(url: string, token: string, docId: string): Promise<SocketProvider> {
  return openProvider(connect(url, token), docId);
}

describe('sync core', () => {
  it('converges concurrent edits from several peers and a late joiner sees them all', async () => {
    const server = await startTestServer();
    const tokens = await Promise.all(['ana', 'ben', 'cai'].map((n) => server.user(n, 'reviewer')));
    const peers = await Promise.all(tokens.map((t) => open(server.url, t, 'notes:standup')));
    for (let round = 0; round < 20; round++) {
      peers.forEach((p, i) => p.doc.getText('body').insert(round % 3 === 0 ? 0 : body(p).length, `${i}:${round};`));
    }
    await Promise.all(peers.map((p) => p.whenAcked()));
    await until(() => peers.every((p) => body(p) === body(peers[0]!)) && body(peers[0]!).length > 0, 'convergence');
    for (let i = 0; i < 3; i++) for (let r = 0; r < 20; r++) assert.ok(body(peers[0]!).includes(`${i}:${r};`), `${i}:${r}`);

    const late = await open(server.url, await server.user('dee', 'viewer'), 'notes:standup');
    assert.equal(body(late), body(peers[0]!));
  });

  it('relays updates to others and acks the sender only once durable', async () => {
    const server = await startTestServer();
    const [a, b] = await Promise.all([server.user('a1', 'reviewer'), server.user('b1', 'reviewer')]);
    const alice = await open(server.url, a, 'notes:relay');
    const bob = await open(server.url, b, 'notes:relay');
    alice.doc.getText('body').insert(0, 'hello bob');
    await alice.whenAcked();
    await server.app.sync.registry.batcher.whenDurable();
    const stored = (await server.app.db.get<{ n: number }>("SELECT count(*) AS n FROM document_updates WHERE doc_id = 'notes:relay'"))!;
    assert.ok(Number(stored.n) >= 1, 'the acked update is in the database');
    await until(() => body(bob) === 'hello bob', 'bob receives the update');
  });

  it('resyncs after a network cut: each side sends only what the other misses', async () => {
    const server = await startTestServer();
    const [a, b] = await Promise.all([server.user('ra', 'reviewer'), server.user('rb', 'reviewer')]);
    const alice = await open(server.url, a, 'notes:cut');
    const bob = await open(server.url, b, 'notes:cut');
    alice.doc.getText('body').insert(0, 'x'.repeat(50_000)); // a large base both already have
    await alice.whenAcked();
    await until(() => body(bob).length === 50_000, 'bob has the base');

    const bobSocket = bob.socket;
    const received: number[] = [];
    bobSocket.on('doc:message', (_id: string, data: Uint8Array) => received.push(data.byteLength));
    bobSocket.io.engine.close(); // the network drops; socket.io reconnects by itself
    await until(() => bob.status === 'offline', 'bob offline');
    bob.doc.getText('body').insert(0, 'offline-edit;'); // bob edits while cut off
    alice.doc.getText('body').insert(50_000, ';alice-while-bob-away');
    await alice.whenAcked();
    await until(() => bob.status === 'synced', 'bob resynced');
    await bob.whenAcked();
    await until(() => body(alice) === body(bob) && body(alice).startsWith('offline-edit;'), 'both converge');
    assert.ok(body(alice).endsWith(';alice-while-bob-away'));
    const biggest = Math.max(...received);
    assert.ok(biggest < 1_000, `bob received only the missing part (largest message ${biggest} B, base is 50 kB)`);
  });

  it('loads a document once however many clients join at the same moment', async () => {
    const server = await startTestServer();
    const token = await server.user('storm', 'reviewer');
    const seed = await open(server.url, token, 'notes:storm');
    seed.doc.getText('body').insert(0, 'seeded');
    await seed.whenAcked();
    seed.destroy();
    await until(() => server.app.sync.registry.get('notes:storm') === undefined, 'unloaded after the last client left');
    const loadsBefore = server.app.sync.registry.loads;
    const peers = await Promise.all(Array.from({ length: 12 }, () => open(server.url, token, 'notes:storm')));
    assert.equal(server.app.sync.registry.loads - loadsBefore, 1);
    for (const p of peers) assert.equal(body(p), 'seeded');
  });

  it('unloads an idle document once its last client leaves, and keeps its content', async () => {
    const server = await startTestServer();
    const token = await server.user('idle', 'reviewer');
    const p = await open(server.url, token, 'notes:idle');
    p.doc.getText('body').insert(0, 'kept');
    await p.whenAcked();
    assert.ok(server.app.sync.registry.get('notes:idle'));
    p.destroy();
    await until(() => server.app.sync.registry.get('notes:idle') === undefined, 'unload');
    const again = await open(server.url, token, 'notes:idle');
    assert.equal(body(again), 'kept');
  });

  it('refuses a connection without valid credentials', async () => {
    const server = await startTestServer();
    for (const token of [undefined, 'acc_not-a-token', 'x'.repeat(5_000)]) {
      const socket = connect(server.url, token);
      await assert.rejects(connected(socket), (err: Error) => err.message === 'unauthorized');
      socket.disconnect();
    }
  });

  it('lets a viewer read but drops its writes with an error', async () => {
    const server = await startTestServer();
    const writer = await open(server.url, await server.user('w', 'reviewer'), 'notes:ro');
    writer.doc.getText('body').insert(0, 'official');
    await writer.whenAcked();
    const viewer = await open(server.url, await server.user('v', 'viewer'), 'notes:ro');
    assert.equal(viewer.access, 'read');
    assert.equal(body(viewer), 'official');
    // A hostile viewer sends an update anyway, bypassing the provider's read-only guard.
    const other = new Y.Doc();
    other.getText('body').insert(0, 'forged ');
    const socket = viewer.socket;
    const ack = await socket.timeout(5_000).emitWithAck('doc:message', 'notes:ro', frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(other)));
    assert.deepEqual((ack as Ack).ok, false);
    assert.equal((ack as { error: { code: string } }).error.code, 'read_only');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(writer.doc.getText('body').toString(), 'official');
    assert.equal(server.app.sync.registry.get('notes:ro')!.doc.getText('body').toString(), 'official');
  });

  it('does not create a document for a viewer, and refuses unknown kinds', async () => {
    const server = await startTestServer();
    const socket = connect(server.url, await server.user('vv', 'viewer'));
    await connected(socket);
    const missing = (await socket.timeout(5_000).emitWithAck('doc:join', 'notes:never-made')) as Ack<JoinInfo>;
    assert.equal(missing.ok, false);
    assert.equal(!missing.ok && missing.error.code, 'not_found');
    const unknown = (await socket.timeout(5_000).emitWithAck('doc:join', 'ledger:one')) as Ack<JoinInfo>;
    assert.equal(!unknown.ok && unknown.error.code, 'unknown_kind');
    assert.equal(await server.app.sync.registry.get('notes:never-made'), undefined);
    const row = (await server.app.db.get<{ n: number }>("SELECT count(*) AS n FROM documents WHERE id = 'notes:never-made'"))!;
    assert.equal(Number(row.n), 0);
  });

  it('stamps presence with the authenticated identity', async () => {
    const server = await startTestServer();
    const alice = await open(server.url, await server.user('alice', 'reviewer'), 'notes:presence');
    const bob = await open(server.url, await server.user('bob', 'approver'), 'notes:presence');
    alice.awareness.setLocalStateField('user', { name: 'the CEO', role: 'admin' }); // a lie
    alice.awareness.setLocalStateField('looking', 'item-3');
    await until(() => bob.awareness.getStates().get(alice.doc.clientID)?.looking === 'item-3', 'bob sees alice');
    const seen = bob.awareness.getStates().get(alice.doc.clientID)!;
    assert.deepEqual(seen.user, { id: 1, name: 'alice', role: 'reviewer' });
    alice.destroy();
    await until(() => !bob.awareness.getStates().has(alice.doc.clientID), 'presence removed when alice leaves');
  });
});

