/**
 * A stock socket.io-client (Socket.io's default parser, no Accord code) and a stock y-protocols peer sync a
 * notes document with Accord's own client (docs/protocol.md, "Framing"): it receives `doc:message` in
 * Socket.io's default framing (a text header, then the binary attachment), sends updates the same way, and
 * both sides converge; Accord's clients, which ask for the packed form at the handshake, get one frame.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';
import * as syncProtocol from 'y-protocols/sync';
import { connect, openProvider, startTestServer, until } from '../helpers/server.ts';

const MESSAGE_SYNC = 0;

it('a stock socket.io-client with a y-protocols peer syncs a notes document both ways', async (t) => {
  const server = await startTestServer();
  const alice = await server.user('alice', 'reviewer');
  const bob = await server.user('bob', 'reviewer');
  const accordClient = await openProvider(connect(server.url, alice), 'notes:stock');
  accordClient.doc.getText('body').insert(0, 'from accord. ');

  // The stock peer: default parser, token at the handshake, nothing else of Accord's.
  const stock = io(server.url, { auth: { token: bob }, transports: ['websocket'], forceNew: true, reconnection: false });
  t.after(() => stock.disconnect());
  const doc = new Y.Doc();
  const frames: unknown[] = [];
  stock.on('doc:message', (docId: string, data: ArrayBuffer | Uint8Array) => {
    frames.push(data);
    assert.equal(docId, 'notes:stock');
    const decoder = decoding.createDecoder(data instanceof Uint8Array ? data : new Uint8Array(data));
    if (decoding.readVarUint(decoder) !== MESSAGE_SYNC) return; // presence: not needed here
    const reply = encoding.createEncoder();
    encoding.writeVarUint(reply, MESSAGE_SYNC);
    syncProtocol.readSyncMessage(decoder, reply, doc, 'server');
    if (encoding.length(reply) > 1) stock.emit('doc:message', 'notes:stock', encoding.toUint8Array(reply));
  });
  const joined = await stock.timeout(5_000).emitWithAck('doc:join', 'notes:stock') as { ok: boolean; access: string };
  assert.equal(joined.ok, true, JSON.stringify(joined));
  assert.equal(joined.access, 'write');
  const step1 = encoding.createEncoder();
  encoding.writeVarUint(step1, MESSAGE_SYNC);
  syncProtocol.writeSyncStep1(step1, doc);
  stock.emit('doc:message', 'notes:stock', encoding.toUint8Array(step1));
  await until(() => doc.getText('body').toString() === 'from accord. ', 'the stock peer received the document');
  assert.ok(frames.every((f) => f instanceof Uint8Array || f instanceof ArrayBuffer), 'binary arrives as binary in the default framing');

  // Live both ways: Accord's client types, the stock peer sees it; the stock peer writes (acknowledged), Accord's client sees it.
  accordClient.doc.getText('body').insert(accordClient.doc.getText('body').length, 'more. ');
  await until(() => doc.getText('body').toString() === 'from accord. more. ', 'an update relayed to the stock peer');
  const update = (() => {
    const before = Y.encodeStateVector(doc);
    doc.getText('body').insert(doc.getText('body').length, 'from stock.');
    const enc = encoding.createEncoder();
    encoding.writeVarUint(enc, MESSAGE_SYNC);
    syncProtocol.writeUpdate(enc, Y.encodeStateAsUpdate(doc, before));
    return encoding.toUint8Array(enc);
  })();
  const ack = await stock.timeout(5_000).emitWithAck('doc:message', 'notes:stock', update) as { ok: boolean };
  assert.equal(ack.ok, true, JSON.stringify(ack));
  await until(() => accordClient.doc.getText('body').toString() === 'from accord. more. from stock.', 'the Accord client converged');
});
