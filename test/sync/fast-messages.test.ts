import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { Encoder as BaseEncoder, PacketType } from 'socket.io-parser';
import { Encoder, parseDocMessageFrame } from '../../server/protocol/frame-parser.ts';
import { ackPacket } from '../../server/sync/fast-messages.ts';
import { frameSync, SYNC_UPDATE } from '../../server/sync/yjs-messages.ts';
import { connect, connected, openProvider, startTestServer, until } from '../helpers/server.ts';

/** A doc:message packet as socket.io-client encodes it with Accord's parser (one packed frame). */
function packed(docId: unknown, message: Uint8Array, ackId?: number, nsp = '/', event = 'doc:message'): Uint8Array {
  const parts = new Encoder().encode({ type: PacketType.EVENT, nsp, id: ackId, data: [event, docId, message] });
  assert.equal(parts.length, 1);
  return parts[0] as Uint8Array;
}

function anUpdate(text: string): Uint8Array {
  const doc = new Y.Doc();
  doc.getText('body').insert(0, text);
  return frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(doc));
}

describe('fast path for doc:message: the parser', () => {
  it('reads the document id, ack id and message of the canonical packed frame', () => {
    const message = anUpdate('hello');
    for (const ackId of [undefined, 0, 7, 123_456_789]) {
      const parsed = parseDocMessageFrame(packed('notes:plan-B_2', message, ackId));
      assert.ok(parsed, `ack ${ackId}`);
      assert.equal(parsed.docId, 'notes:plan-B_2');
      assert.equal(parsed.ackId, ackId);
      assert.deepEqual([...parsed.message], [...message]);
    }
  });

  it('leaves every other form to Socket.io', () => {
    const message = anUpdate('x');
    const frame = packed('notes:a', message, 3);
    const cases: [string, Uint8Array][] = [
      ['another event', packed('notes:a', message, 3, '/', 'doc:join')],
      ['another namespace', packed('notes:a', message, 3, '/admin')],
      ['an id with an escape', packed('notes:a"b', message)],
      ['a non-ASCII id', packed('notes:café', message)],
      ['a non-string id', packed(42, message)],
      ['an id of 600 characters', packed(`notes:${'a'.repeat(594)}`, message)],
      ['a truncated frame', frame.subarray(0, frame.length - 1)],
      ['a trailing byte', Uint8Array.from([...frame, 0])],
      ['no marker', Uint8Array.from([0x00, ...frame.subarray(1)])],
      ['a header length past the end', Uint8Array.from([0xac, 0xff, 0xff, 0xff, 0x7f])],
      ['an ack id of 16 digits', packed('notes:a', message, 1_234_567_890_123_456)],
      ['empty', new Uint8Array()],
    ];
    for (const [what, bytes] of cases) assert.equal(parseDocMessageFrame(bytes), null, what);
    // Two attachments: a second binary argument.
    const two = new Encoder().encode({ type: PacketType.EVENT, nsp: '/', data: ['doc:message', 'notes:a', message, message] });
    assert.equal(parseDocMessageFrame(two[0] as Uint8Array), null, 'two attachments');
  });

  it('encodes acks exactly as socket.io-parser does', () => {
    for (const body of [{ ok: true }, { ok: false, error: { code: 'read_only', message: 'this document is read-only for you' } }]) {
      const expected = new BaseEncoder().encode({ type: PacketType.ACK, nsp: '/', id: 42, data: [body] });
      assert.deepEqual([ackPacket(42, body)], expected);
    }
  });
});

describe('fast path for doc:message: on a real server', () => {
  it('carries edits, presence and durable acks for real providers, and counts what it took', async () => {
    const server = await startTestServer();
    const token = await server.user('rita', 'reviewer');
    const a = await openProvider(connect(server.url, token), 'notes:fast');
    const b = await openProvider(connect(server.url, token), 'notes:fast');
    const before = { ...server.app.sync.fastPath };
    a.doc.getText('body').insert(0, 'typed fast');
    a.awareness.setLocalStateField('cursor', 3);
    await until(() => b.doc.getText('body').toString() === 'typed fast', 'the edit reaches the other client');
    await until(() => (b.awareness.getStates().get(a.awareness.clientID) as { cursor?: number } | undefined)?.cursor === 3, 'presence');
    assert.ok(server.app.sync.fastPath.fast >= before.fast + 2, 'the update and the presence took the fast path');
    // A durable ack through the fast path: the raw emit is exactly what the provider sends.
    const socket = connect(server.url, token);
    await connected(socket);
    assert.deepEqual(await socket.timeout(5_000).emitWithAck('doc:join', 'notes:fast').then((r) => (r as { ok: boolean }).ok), true);
    const ack = await socket.timeout(5_000).emitWithAck('doc:message', 'notes:fast', anUpdate('!'));
    assert.deepEqual(ack, { ok: true });
    await until(() => b.doc.getText('body').toString().includes('!'), 'the acked edit reaches the others');
  });

  it('answers a canonical frame with garbage inside as Socket.io would: an error, nothing applied, server alive', async () => {
    const server = await startTestServer();
    const token = await server.user('rita', 'reviewer');
    const socket = connect(server.url, token);
    const errors: { code: string }[] = [];
    socket.on('doc:error', (_id, e) => errors.push(e));
    await connected(socket);
    await socket.timeout(5_000).emitWithAck('doc:join', 'notes:garbage');
    const before = server.app.sync.fastPath.fast;
    const ack = await socket.timeout(5_000).emitWithAck('doc:message', 'notes:garbage', Uint8Array.of(0, 2, 5, 1, 2));
    assert.equal((ack as { ok: boolean; error: { code: string } }).error.code, 'malformed_message');
    assert.equal(server.app.sync.fastPath.fast, before + 1);
    const notJoined = await socket.timeout(5_000).emitWithAck('doc:message', 'notes:elsewhere', anUpdate('x'));
    assert.equal((notJoined as { error: { code: string } }).error.code, 'not_joined');
    assert.deepEqual(errors.map((e) => e.code), ['malformed_message', 'not_joined']);
    assert.equal(server.app.sync.registry.get('notes:garbage')!.doc.getText('body').toString(), '');
  });

  it('keeps the order of a doc:leave (Socket.io path) and the doc:message sent right after it (fast path)', async () => {
    const server = await startTestServer();
    const token = await server.user('rita', 'reviewer');
    const watcher = await openProvider(connect(server.url, token), 'notes:order');
    const socket = connect(server.url, token);
    const errors: { code: string }[] = [];
    socket.on('doc:error', (_id, e) => errors.push(e));
    await connected(socket);
    await socket.timeout(5_000).emitWithAck('doc:join', 'notes:order');
    // Both packets leave in one burst: the leave must be handled before the message.
    socket.emit('doc:leave', 'notes:order');
    socket.emit('doc:message', 'notes:order', anUpdate('after leaving'));
    await until(() => errors.length > 0, 'the refusal');
    assert.deepEqual(errors.map((e) => e.code), ['not_joined']);
    // A later edit by the watcher arrives; the refused one never does.
    watcher.doc.getText('body').insert(0, 'ok');
    await until(() => server.app.sync.registry.get('notes:order')?.doc.getText('body').toString() === 'ok', 'the watcher edit');
    assert.equal(watcher.doc.getText('body').toString(), 'ok');
  });

  it('refuses messages for a document whose load failed, and stays up', async () => {
    const server = await startTestServer();
    const token = await server.user('rita', 'reviewer');
    const socket = connect(server.url, token);
    await connected(socket);
    await server.app.db.run('ALTER TABLE document_updates RENAME TO document_updates_moved');
    const join = (await socket.timeout(5_000).emitWithAck('doc:join', 'notes:broken')) as { ok: boolean; error: { code: string } };
    assert.equal(join.error.code, 'internal');
    const ack = (await socket.timeout(5_000).emitWithAck('doc:message', 'notes:broken', anUpdate('x'))) as { ok: boolean; error: { code: string } };
    assert.equal(ack.ok, false);
    assert.equal(ack.error.code, 'not_joined');
    await server.app.db.run('ALTER TABLE document_updates_moved RENAME TO document_updates');
    assert.equal((await fetch(`${server.url}/api/health`)).status, 200);
  });
});
