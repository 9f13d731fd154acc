import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import type { DocumentStore } from '../../server/store/ports.ts';

function updateWith(text: string): Uint8Array {
  const doc = new Y.Doc();
  doc.getText('body').insert(0, text);
  return Y.encodeStateAsUpdate(doc);
}

function textOf(parts: Uint8Array[]): string {
  const doc = new Y.Doc();
  if (parts.length) Y.applyUpdate(doc, Y.mergeUpdates(parts));
  return doc.getText('body').toString();
}

/** The storage contract every DocumentStore adapter honours ([DS1]…). `make` returns a fresh, empty store. */
export function documentStoreContract(name: string, make: () => Promise<DocumentStore>): void {
  describe(`${name} honours DocumentStore`, () => {
    it('[DS1] knows nothing of an unknown document', async () => {
      const store = await make();
      assert.equal(await store.load('notes:missing'), null);
      assert.equal(await store.exists('notes:missing'), false);
    });

    it('[DS2] creates a document once', async () => {
      const store = await make();
      assert.equal(await store.create('notes:a'), true);
      assert.equal(await store.create('notes:a'), false);
      assert.deepEqual(await store.load('notes:a'), { snapshot: null, updates: [], lastSeq: 0 });
    });

    it('[DS3] appends updates in order, byte for byte, with increasing sequence numbers', async () => {
      const store = await make();
      await store.create('notes:a');
      const u1 = updateWith('one');
      const u2 = updateWith('two');
      const seqs = await store.append([{ docId: 'notes:a', update: u1 }, { docId: 'notes:a', update: u2 }]);
      assert.equal(seqs.get('notes:a'), 2);
      const loaded = await store.load('notes:a');
      assert.deepEqual(loaded!.updates.map((u) => Buffer.from(u).toString('hex')), [u1, u2].map((u) => Buffer.from(u).toString('hex')));
      assert.equal(loaded!.lastSeq, 2);
    });

    it('[DS4] one batch may carry several documents, and is all or nothing', async () => {
      const store = await make();
      await store.create('notes:a');
      await store.create('notes:b');
      await store.append([{ docId: 'notes:a', update: updateWith('a') }, { docId: 'notes:b', update: updateWith('b') }]);
      await assert.rejects(store.append([{ docId: 'notes:a', update: updateWith('x') }, { docId: 'notes:nope', update: updateWith('y') }]));
      assert.equal((await store.load('notes:a'))!.updates.length, 1, 'the failed batch left nothing behind');
      assert.equal(textOf((await store.load('notes:b'))!.updates), 'b');
    });

    it('[DS5] compaction replaces the log up to a sequence number with a snapshot, atomically', async () => {
      const store = await make();
      await store.create('notes:c');
      const doc = new Y.Doc();
      const updates: Uint8Array[] = [];
      doc.on('update', (u: Uint8Array) => updates.push(u));
      for (const w of ['a', 'b', 'c', 'd']) doc.getText('body').insert(doc.getText('body').length, w);
      await store.append(updates.slice(0, 3).map((update) => ({ docId: 'notes:c', update })));
      const snapshot = Y.encodeStateAsUpdate(doc); // may hold more than the log: harmless
      await store.compact('notes:c', snapshot, 3);
      await store.append([{ docId: 'notes:c', update: updates[3]! }]);
      const loaded = (await store.load('notes:c'))!;
      assert.equal(loaded.updates.length, 1);
      assert.equal(loaded.lastSeq, 4, 'sequence numbers continue after compaction');
      assert.equal(textOf([loaded.snapshot!, ...loaded.updates]), 'abcd');
      assert.equal(await store.logLength('notes:c'), 1);
    });

    it('[DS6] a later compaction replaces an earlier snapshot', async () => {
      const store = await make();
      await store.create('notes:d');
      await store.append([{ docId: 'notes:d', update: updateWith('old') }]);
      await store.compact('notes:d', updateWith('old'), 1);
      const newer = updateWith('new');
      await store.compact('notes:d', newer, 1);
      assert.deepEqual(Buffer.from((await store.load('notes:d'))!.snapshot!), Buffer.from(newer));
    });

    it('[DS7] a stale compaction (older than the stored snapshot) changes nothing', async () => {
      const store = await make();
      await store.create('notes:e');
      await store.append([1, 2, 3].map((n) => ({ docId: 'notes:e', update: updateWith(`u${n}`) })));
      const newer = updateWith('newer');
      await store.compact('notes:e', newer, 3);
      await store.compact('notes:e', updateWith('older'), 2);
      const loaded = (await store.load('notes:e'))!;
      assert.deepEqual(Buffer.from(loaded.snapshot!), Buffer.from(newer));
      assert.equal(loaded.lastSeq, 3);
    });
  });
}
