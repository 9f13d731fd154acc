import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as Y from 'yjs';
import type { AccordSocket } from '../../web/lib/socket-provider.ts';
import { connect, connected, openProvider, startTestServer, until } from '../helpers/server.ts';
import { frameSync, SYNC_STEP1, SYNC_UPDATE } from '../../server/sync/yjs-messages.ts';
import type { ErrorBody } from '../../server/protocol/errors.ts';
import type { DocumentStore } from '../../server/store/ports.ts';

/** Sends raw events and collects the server's doc:error replies. */
function errorsOf(socket: AccordSocket): ErrorBody[] {
  const errors: ErrorBody[] = [];
  socket.on('doc:error', (_id, e) => errors.push(e));
  return errors;
}

async function healthy(url: string): Promise<void> {
  const res = await fetch(`${url}/api/health`);
  assert.equal(res.status, 200);
}

describe('hostile clients', () => {
  it('garbage, truncated and mistyped messages get errors and change nothing', async () => {
    const server = await startTestServer();
    const token = await server.user('mallory', 'reviewer');
    const provider = await openProvider(connect(server.url, token), 'notes:target');
    provider.doc.getText('body').insert(0, 'intact');
    await provider.whenAcked();
    const live = server.app.sync.registry.get('notes:target')!;

    const raw = io(server.url, token);
    await connected(raw);
    const errors = errorsOf(raw);
    const join = await raw.timeout(5_000).emitWithAck('doc:join', 'notes:target');
    assert.equal(join.ok, true);

    const valid = new Y.Doc();
    valid.getText('body').insert(0, 'abc');
    const good = frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(valid));
    const cases: [string, unknown][] = [
      ['empty', new Uint8Array(0)],
      ['unknown type', Uint8Array.of(7, 1, 2)],
      ['unknown sync step', Uint8Array.of(0, 9, 0)],
      ['truncated update', good.subarray(0, good.length - 3)],
      ['trailing bytes', Uint8Array.of(...good, 1, 2, 3)],
      ['bad state vector', frameSync(SYNC_STEP1, Uint8Array.of(200, 200, 200))],
      ['awareness not json', Uint8Array.of(1, 5, 1, 1, 1, 1, 0x7b)],
      ['string payload', 'hello'],
      ['number payload', 42],
      ['object payload', { 0: 0, 1: 2 }],
      ['null payload', null],
    ];
    for (let i = 0; i < 200; i++) cases.push([`random ${i}`, randomBytes(1 + (i % 64))]);
    for (let i = 0; i < 50; i++) {
      const bytes = Uint8Array.from(good);
      const at = 3 + (i % (bytes.length - 3));
      bytes[at] = bytes[at]! ^ 0xff; // flip one byte inside a real update
      cases.push([`flipped ${i}`, bytes]);
    }
    let refused = 0;
    for (const [name, payload] of cases) {
      const ack = (await raw.timeout(5_000).emitWithAck('doc:message', 'notes:target', payload as Uint8Array)) as { ok: boolean };
      if (!ack.ok) refused++;
      else assert.ok(name.startsWith('random') || name.startsWith('flipped'), `${name} was accepted`);
    }
    assert.ok(refused >= 11, `named cases refused (${refused} refused)`);
    // Whatever random bytes happened to be well-formed must not have changed the text.
    assert.equal(live.doc.getText('body').toString(), 'intact');
    assert.ok(errors.length >= refused, 'each refusal is also reported as doc:error');
    await healthy(server.url);
  });

  it('refuses unknown ids, wrong types, messages before join, and survives a missing ack callback', async () => {
    const server = await startTestServer();
    const raw = io(server.url, await server.user('eve', 'reviewer'));
    await connected(raw);
    const errors = errorsOf(raw);
    for (const id of [42, null, {}, ['notes:x'], '', 'notes:', 'notes:../../etc', 'NOTES:x', `notes:${'a'.repeat(300)}`]) {
      const ack = await raw.timeout(5_000).emitWithAck('doc:join', id as string);
      assert.equal(ack.ok, false, `join ${JSON.stringify(id)}`);
      assert.equal(!ack.ok && ack.error.code, 'invalid_payload');
    }
    const notJoined = await raw.timeout(5_000).emitWithAck('doc:message', 'notes:elsewhere', Uint8Array.of(0, 0, 0));
    assert.equal(!notJoined.ok && notJoined.error.code, 'not_joined');
    // No ack callback at all: the server must not throw.
    raw.emit('doc:join', 'notes:no-ack' as string, undefined as never);
    raw.emit('doc:message', 'notes:no-ack', Uint8Array.of(9, 9, 9));
    raw.emit('doc:leave', 'notes:never-joined');
    await until(() => errors.some((e) => e.code === 'not_joined'), 'error for the leave');
    await healthy(server.url);
  });

  it('rejects frames above the size limit', async () => {
    const server = await startTestServer({ maxMessageBytes: 64 * 1024 });
    const raw = io(server.url, await server.user('big', 'reviewer'));
    await connected(raw);
    await raw.timeout(5_000).emitWithAck('doc:join', 'notes:big');
    const doc = new Y.Doc();
    doc.getText('body').insert(0, 'x'.repeat(66 * 1024));
    const over = frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(doc));
    assert.ok(over.byteLength > 64 * 1024);
    const ack = await raw.timeout(5_000).emitWithAck('doc:message', 'notes:big', over);
    assert.equal(!ack.ok && ack.error.code, 'too_large');
    // Far above Socket.io's buffer limit: the connection is cut, the server stays up.
    const disconnected = new Promise((r) => raw.once('disconnect', r));
    raw.emit('doc:message', 'notes:big', new Uint8Array(2 * 1024 * 1024));
    await disconnected;
    assert.equal(server.app.sync.registry.get('notes:big')?.doc.getText('body').toString() ?? '', '');
    await healthy(server.url);
  });

  it('answers an update the store cannot write with storage_failed, never with a false ack', async () => {
    const server = await startTestServer();
    const token = await server.user('disk', 'reviewer');
    const socket = connect(server.url, token);
    await connected(socket);
    const errors = errorsOf(socket);
    assert.equal(((await socket.timeout(5_000).emitWithAck('doc:join', 'notes:disk')) as { ok: boolean }).ok, true);
    // A real failure of the real store: the log table is gone under the running server.
    await server.app.db.run('ALTER TABLE document_updates RENAME TO document_updates_moved');
    const source = new Y.Doc();
    source.getText('body').insert(0, 'lost?');
    const ack = (await socket.timeout(5_000).emitWithAck('doc:message', 'notes:disk', frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(source)))) as
      { ok: boolean; error?: ErrorBody };
    assert.equal(ack.ok, false);
    assert.equal(ack.error?.code, 'storage_failed');
    await until(() => errors.some((e) => e.code === 'storage_failed'), 'doc:error storage_failed');

    // While the store still fails, sending the same update again (it changes nothing in the live
    // document, so nothing new is queued) is refused too: the content is not on disk.
    const again = (await socket.timeout(5_000).emitWithAck('doc:message', 'notes:disk', frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(source)))) as
      { ok: boolean; error?: ErrorBody };
    assert.equal(again.error?.code, 'storage_failed', JSON.stringify(again));

    // Once the store works again, the refused content is retried and stored without anyone resending it,
    // and a resend is acked only once it is stored.
    await server.app.db.run('ALTER TABLE document_updates_moved RENAME TO document_updates');
    const resent = (await socket.timeout(10_000).emitWithAck('doc:message', 'notes:disk', frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(source)))) as
      { ok: boolean; error?: ErrorBody };
    assert.equal(resent.ok, true, JSON.stringify(resent));
    assert.equal(await storedText(server.app.storage.documents, 'notes:disk'), 'lost?', 'acked means stored');
    await healthy(server.url);
  });

  it('stores an update whose batch failed once the store works again, without a resend', async () => {
    const server = await startTestServer();
    const socket = connect(server.url, await server.user('disk2', 'reviewer'));
    await connected(socket);
    assert.equal(((await socket.timeout(5_000).emitWithAck('doc:join', 'notes:disk2')) as { ok: boolean }).ok, true);
    await server.app.db.run('ALTER TABLE document_updates RENAME TO document_updates_moved');
    const source = new Y.Doc();
    source.getText('body').insert(0, 'kept');
    const ack = (await socket.timeout(5_000).emitWithAck('doc:message', 'notes:disk2', frameSync(SYNC_UPDATE, Y.encodeStateAsUpdate(source)))) as { ok: boolean };
    assert.equal(ack.ok, false);
    // A retry fails meanwhile (100 ms, then 200 ms later: waited for, not slept, so a busy machine does not fail this).
    await until(() => server.app.sync.registry.batcher.stats.failures >= 2, 'a retry of the refused batch that fails too');
    await server.app.db.run('ALTER TABLE document_updates_moved RENAME TO document_updates');
    // The refused update is stored by a retry.
    for (const deadline = Date.now() + 10_000; (await storedText(server.app.storage.documents, 'notes:disk2')) !== 'kept';) {
      if (Date.now() > deadline) assert.fail('the refused update was never stored');
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('does not let one connection overwrite another connection\'s presence', async () => {
    const server = await startTestServer();
    const p = await openProvider(connect(server.url, await server.user('al', 'reviewer')), 'notes:pres');
    p.awareness.setLocalStateField('looking', 'item-1');
    await until(() => server.app.sync.registry.get('notes:pres')!.awareness.getStates().has(p.doc.clientID), 'presence stored');
    const raw = io(server.url, await server.user('ev', 'reviewer'));
    await connected(raw);
    await raw.timeout(5_000).emitWithAck('doc:join', 'notes:pres');
    const forged = new Uint8Array([1, ...lengthPrefixed(awarenessOf(p.doc.clientID, 99, { looking: 'forged' }))]);
    await raw.timeout(5_000).emitWithAck('doc:message', 'notes:pres', forged);
    const state = server.app.sync.registry.get('notes:pres')!.awareness.getStates().get(p.doc.clientID)!;
    assert.equal(state.looking, 'item-1');
  });
});

function io(url: string, token: string): AccordSocket {
  return connect(url, token);
}

function awarenessOf(clientId: number, clock: number, state: object): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(state));
  return Uint8Array.from([1, ...varUint(clientId), ...varUint(clock), ...varUint(json.length), ...json]);
}

function lengthPrefixed(bytes: Uint8Array): number[] {
  return [...varUint(bytes.length), ...bytes];
}

function varUint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push(0x80 | (n & 0x7f));
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** The text of a stored document, read through the store's own load (its snapshot and update log, one read transaction). */
async function storedText(documents: DocumentStore, docId: string): Promise<string> {
  const stored = await documents.load(docId);
  const doc = new Y.Doc();
  for (const u of stored ? (stored.snapshot ? [stored.snapshot, ...stored.updates] : stored.updates) : []) Y.applyUpdate(doc, u);
  return doc.getText('body').toString();
}
