import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import * as Y from 'yjs';
import { openDatabase } from '../../server/store/sqlite/database.ts';
import { SqliteDocumentStore } from '../../server/store/sqlite/sqlite-document-store.ts';
import { tempDir } from '../helpers/server.ts';
import { documentStoreContract } from './document-store.contract.ts';

for (const offThread of [true, false]) {
  documentStoreContract(`SqliteDocumentStore (writes ${offThread ? 'on the writer thread' : 'in-thread'})`, async () => {
    const db = openDatabase(tempDir());
    const store = new SqliteDocumentStore(db, { offThread });
    after(async () => {
      await store.close();
      db.close();
    });
    return store;
  });
}

test('the writer thread commits while the main thread keeps running', async () => {
  const dir = tempDir();
  const db = openDatabase(dir);
  const store = new SqliteDocumentStore(db);
  after(async () => {
    await store.close();
    db.close();
  });
  await store.create('notes:a');
  // Another connection holds the write lock: the append has to wait for it (busy_timeout)...
  const blocker = new DatabaseSync(db.location()!);
  blocker.exec('BEGIN IMMEDIATE');
  let stored = false;
  const appended = store.append([{ docId: 'notes:a', update: new Uint8Array([0, 0]) }]).then((seqs) => ((stored = true), seqs));
  // ...on its own thread: timers on this one still fire while it waits.
  const ticks = await new Promise<number>((res) => {
    let n = 0;
    const timer = setInterval(() => (++n === 10 ? (clearInterval(timer), res(n)) : undefined), 5);
  });
  assert.equal(ticks, 10);
  assert.equal(stored, false, 'the append waits for the lock');
  blocker.exec('COMMIT');
  blocker.close();
  assert.deepEqual([...(await appended)], [['notes:a', 1]]);
  assert.equal((await store.load('notes:a'))!.updates.length, 1);
});

for (const offThread of [true, false]) {
  test(`an append after rows written behind the store's back still gets the next sequence number (${offThread ? 'writer thread' : 'in-thread'})`, async () => {
    const db = openDatabase(tempDir());
    const store = new SqliteDocumentStore(db, { offThread });
    after(async () => {
      await store.close();
      db.close();
    });
    await store.create('notes:a');
    assert.equal((await store.append([{ docId: 'notes:a', update: new Uint8Array([1]) }])).get('notes:a'), 1);
    db.prepare('INSERT INTO document_updates (doc_id, seq, data) VALUES (?, ?, ?)').run('notes:a', 2, new Uint8Array([2]));
    assert.equal((await store.append([{ docId: 'notes:a', update: new Uint8Array([3]) }])).get('notes:a'), 3);
    assert.deepEqual((await store.load('notes:a'))!.updates.map((u) => [...u]), [[1], [2], [3]]);
  });
}

test('a load never sees a compaction half done: the snapshot and the log it reads belong to one commit', async () => {
  // Compactions commit on the writer thread, truly concurrently with loads on the main thread. A load
  // that read the old snapshot and then the trimmed log would return a document missing its content.
  const db = openDatabase(tempDir());
  const store = new SqliteDocumentStore(db);
  after(async () => {
    await store.close();
    db.close();
  });
  await store.create('notes:a');
  const doc = new Y.Doc();
  let pending: Uint8Array[] = [];
  doc.on('update', (u: Uint8Array) => pending.push(u));
  let loads = 0;
  for (let round = 0; round < 150; round++) {
    for (let i = 0; i < 3; i++) doc.getText('body').insert(doc.getText('body').length, 'x');
    const seqs = await store.append(pending.map((update) => ({ docId: 'notes:a', update })));
    pending = [];
    const compacted = store.compact('notes:a', Y.encodeStateAsUpdate(doc), seqs.get('notes:a')!);
    const expected = doc.getText('body').toString();
    const until = performance.now() + 3;
    // Busy on this thread while the writer thread commits the compaction.
    while (performance.now() < until) {
      const stored = (await store.load('notes:a'))!;
      const copy = new Y.Doc();
      for (const u of stored.snapshot ? [stored.snapshot, ...stored.updates] : stored.updates) Y.applyUpdate(copy, u);
      assert.equal(copy.getText('body').toString(), expected, `load ${loads} in round ${round}`);
      copy.destroy();
      loads++;
    }
    await compacted;
  }
  assert.ok(loads > 150, `${loads} loads`);
});
