import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import type { SocketProvider } from '../../web/lib/socket-provider.ts';
import { openStorage } from '../../server/store/open.ts';
import { UserStore } from '../../server/auth/user-store.ts';
import { connect, connected, openProvider, spawnServer, tempDir, until } from '../helpers/server.ts';

async function makeUser(dataDir: string, name: string): Promise<string> {
  const storage = await openStorage({ dataDir });
  try {
    return (await new UserStore(storage.db).addUser(name, 'reviewer')).token;
  } finally {
    await storage.close();
  }
}

function openNotes(url: string, token: string, docId: string): Promise<SocketProvider> {
  return openProvider(connect(url, token), docId);
}

describe('durability', () => {
  // Both places a commit can run (ACCORD_SQLITE_WRITER): the writer thread and the event loop.
  for (const writer of ['thread', 'inline']) it(`keeps every acknowledged update across kill -9 in the middle of a stream (commits: ${writer})`, async () => {
    const dataDir = tempDir();
    const token = await makeUser(dataDir, 'writer');
    const server = await spawnServer(dataDir, { ACCORD_SQLITE_WRITER: writer });
    assert.match(server.output(), new RegExp(`"sqliteWriter":"${writer}"`));
    const socket = connect(server.url, token);
    await connected(socket);
    socket.io.reconnection(false);
    const acked: string[] = [];
    await new Promise<void>((resolve) => {
      socket.emit('doc:join', 'notes:crash', () => resolve());
    });
    // A raw writer: every word is its own Yjs update with its own ack.
    const { Doc, encodeStateAsUpdate, encodeStateVector } = await import('yjs');
    const { frameSync, SYNC_UPDATE } = await import('../../server/sync/yjs-messages.ts');
    const doc = new Doc();
    const text = doc.getText('body');
    let sent = 0;
    let killed = false;
    const stream = (async () => {
      while (!killed && sent < 5_000) {
        const word = `w${sent};`;
        const sv = encodeStateVector(doc);
        text.insert(text.length, word);
        const update = encodeStateAsUpdate(doc, sv);
        sent++;
        socket.emit('doc:message', 'notes:crash', frameSync(SYNC_UPDATE, update), (r: { ok: boolean }) => {
          if (r.ok) acked.push(word);
        });
        if (sent % 20 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    await until(() => acked.length >= 300, 'some acks before the crash', 20_000);
    server.child.kill('SIGKILL');
    killed = true;
    await server.exited;
    await stream;
    const ackedAtKill = [...acked];
    assert.ok(ackedAtKill.length >= 300);

    const restarted = await spawnServer(dataDir, { ACCORD_SQLITE_WRITER: writer });
    const reader = await openNotes(restarted.url, token, 'notes:crash');
    const content = reader.doc.getText('body').toString();
    const missing = ackedAtKill.filter((w) => !content.includes(w));
    assert.deepEqual(missing, [], `${missing.length} acknowledged updates lost of ${ackedAtKill.length}`);
    restarted.child.kill('SIGTERM');
    assert.equal(await restarted.exited, 0);
  });

  it('flushes and compacts on SIGTERM, then serves the same content', async () => {
    const dataDir = tempDir();
    const token = await makeUser(dataDir, 'graceful');
    const server = await spawnServer(dataDir);
    const p = await openNotes(server.url, token, 'notes:term');
    for (let i = 0; i < 50; i++) p.doc.getText('body').insert(0, `${i},`);
    await p.whenAcked();
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0, 'clean exit');
    const db = new DatabaseSync(join(dataDir, 'accord.sqlite'));
    const log = db.prepare("SELECT count(*) AS n FROM document_updates WHERE doc_id = 'notes:term'").get() as { n: number };
    const snap = db.prepare("SELECT length(snapshot) AS n FROM documents WHERE id = 'notes:term'").get() as { n: number };
    db.close();
    assert.equal(log.n, 0, 'the log was compacted into the snapshot at shutdown');
    assert.ok(snap.n > 0);
    const restarted = await spawnServer(dataDir);
    const again = await openNotes(restarted.url, token, 'notes:term');
    assert.equal(again.doc.getText('body').toString(), p.doc.getText('body').toString());
  });
});
