import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fstatSync, statSync, unlinkSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { openDatabase } from '../../server/store/sqlite/database.ts';
import { WalSyncedWrites, type AsyncFsync } from '../../server/store/sqlite/wal-synced-writes.ts';
import { tempDir } from '../helpers/server.ts';

function setup(fsync?: AsyncFsync): { db: DatabaseSync; writes: WalSyncedWrites; file: string } {
  const db = openDatabase(tempDir());
  const file = db.location()!;
  db.prepare('INSERT INTO documents (id) VALUES (?)').run('notes:a');
  const writes = new WalSyncedWrites(file, fsync ? { fsync } : {});
  after(async () => {
    await writes.close();
    db.close();
  });
  return { db, writes, file };
}

const update = (n: number): { docId: string; update: Uint8Array } => ({ docId: 'notes:a', update: Uint8Array.of(n) });

describe('WalSyncedWrites: commit on the event loop, fsync of the WAL on the thread pool', () => {
  it('resolves an append only after the fsync of the WAL file that holds its commit', async () => {
    const synced: number[] = [];
    let release!: () => void;
    const { db, writes, file } = setup(async (fd) => {
      synced.push(fstatSync(fd).ino);
      await new Promise<void>((res) => (release = res));
    });
    let done = false;
    const appended = writes.append([update(1), update(2)]).then((seqs) => ((done = true), seqs));
    await new Promise((res) => setTimeout(res, 20));
    // Committed (readable by another connection) but not yet acknowledged: the sync is still running.
    assert.equal((db.prepare('SELECT count(*) AS n FROM document_updates').get() as { n: number }).n, 2);
    assert.equal(done, false);
    assert.deepEqual(synced, [statSync(`${file}-wal`).ino], 'the descriptor synced is the WAL file');
    // Closing waits for the sync in flight rather than closing the descriptor under it.
    let closed = false;
    const closing = writes.close().then(() => (closed = true));
    await new Promise((res) => setTimeout(res, 10));
    assert.equal(closed, false);
    release();
    assert.deepEqual([...(await appended)], [['notes:a', 2]]);
    await closing;
  });

  it("appends and compacts with the real fsync; the store's own connection keeps synchronous = FULL", async () => {
    const { db, writes } = setup();
    assert.deepEqual([...(await writes.append([update(1)]))], [['notes:a', 1]]);
    await writes.compact('notes:a', Uint8Array.of(9), 1);
    assert.equal((db.prepare('SELECT snapshot_seq FROM documents WHERE id = ?').get('notes:a') as { snapshot_seq: number }).snapshot_seq, 1);
    // The store's own connection keeps FULL; only the document writer's runs NORMAL.
    assert.equal((db.prepare('PRAGMA synchronous').get() as { synchronous: number }).synchronous, 2);
  });

  it('rejects, so nothing is acknowledged, when the fsync fails', async () => {
    const { writes } = setup(async () => {
      throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    });
    await assert.rejects(writes.append([update(1)]), /EIO/);
  });

  it('refuses to ack when the WAL file it syncs is no longer the database\'s', async () => {
    const { writes, file } = setup();
    await writes.append([update(1)]);
    unlinkSync(`${file}-wal`);
    await assert.rejects(writes.append([update(2)]), /WAL file was replaced/);
  });

  it('needs a database in WAL mode', () => {
    const dir = tempDir();
    const plain = new DatabaseSync(join(dir, 'plain.sqlite'));
    plain.exec('CREATE TABLE t (a)');
    after(() => plain.close());
    assert.throws(() => new WalSyncedWrites(join(dir, 'plain.sqlite')), /journal_mode=wal/);
  });
});
