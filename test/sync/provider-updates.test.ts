import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { connect, openProvider, startTestServer, until } from '../helpers/server.ts';
import type { SocketProvider } from '../../web/lib/socket-provider.ts';

const text = (p: SocketProvider): string => p.doc.getText('body').toString();

/** True while the document has `update` listeners, i.e. Yjs encodes every transaction for them. */
const encodesUpdates = (doc: Y.Doc): boolean => (doc as unknown as { _observers: Map<string, unknown> })._observers.has('update');

describe('SocketProvider and the document update event', () => {
  it('applies the server\'s updates without having Yjs encode them again, and still sends every local edit', async () => {
    const server = await startTestServer();
    const [a, b] = await Promise.all([server.user('upd-a', 'reviewer'), server.user('upd-b', 'reviewer')]);
    const alice = await openProvider(connect(server.url, a), 'notes:updates');
    const bob = await openProvider(connect(server.url, b), 'notes:updates');

    // While bob applies alice's update, nothing listens for `update` on his document.
    const seenDuringRemote: boolean[] = [];
    bob.doc.on('afterTransaction', (tr: Y.Transaction) => {
      if (tr.origin === bob) seenDuringRemote.push(encodesUpdates(bob.doc));
    });
    alice.doc.getText('body').insert(0, 'ping');
    await alice.whenAcked();
    await until(() => text(bob) === 'ping', 'bob receives ping');
    assert.ok(seenDuringRemote.length > 0);
    assert.deepEqual(seenDuringRemote.filter(Boolean), [], 'no update listener during a remote transaction');
    assert.equal(encodesUpdates(bob.doc), false, 'and none left behind');

    // A local edit made from an observer of a remote update (a transaction nested in its cleanup) is sent.
    bob.doc.getText('body').observe((event) => {
      if (event.transaction.origin === bob && text(bob).endsWith('?')) bob.doc.getText('body').insert(text(bob).length, '!');
    });
    alice.doc.getText('body').insert(text(alice).length, '?');
    await until(() => text(alice) === 'ping?!', 'alice receives the answer made inside bob\'s observer');
    await bob.whenAcked();

    // Plain local edits and edits with another origin (a local copy being applied) are sent as before.
    bob.doc.getText('body').insert(0, '>');
    Y.transact(bob.doc, () => bob.doc.getText('body').insert(text(bob).length, '<'), 'local-copy');
    await until(() => text(alice) === '>ping?!<', 'alice receives bob\'s edits');
    assert.equal(encodesUpdates(bob.doc), false);

    // After destroy the provider neither listens nor sends.
    bob.destroy();
    bob.doc.getText('body').insert(0, 'gone');
    assert.equal(encodesUpdates(bob.doc), false);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(text(alice), '>ping?!<');
  });
});
