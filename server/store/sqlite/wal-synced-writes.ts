import { DatabaseSync } from 'node:sqlite';
import { closeSync, fstatSync, fsync, openSync } from 'node:fs';
import type { UpdateToAppend } from '../ports.ts';
import { CONNECTION_PRAGMAS } from './database.ts';
import { DocumentWrites } from './document-writes.ts';

/** fsync of a file descriptor on libuv's thread pool (injectable so a test can make it fail or stall). */
export type AsyncFsync = (fd: number) => Promise<void>;

const fsyncOnPool: AsyncFsync = (fd) => new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));

/**
 * The document store's writes on the event loop without waiting there for the disk: its own connection
 * to `file` with `synchronous = NORMAL` (in WAL mode a COMMIT writes the WAL frames and returns, about
 * 20 µs here, instead of blocking 150–250 µs on fsync), then one fsync of the WAL file on libuv's thread
 * pool; `append` resolves, and the batch's acks go out, only when that fsync has completed. Same
 * durability as `synchronous = FULL` (every acked transaction's frames, commit frame included, are on
 * disk), same one sync per group commit, but the main thread relays updates while the disk works.
 *
 * SQLite itself still syncs the WAL before a checkpoint and the database after it (NORMAL does). The
 * descriptor is opened on the WAL file SQLite keeps for as long as a connection is open; before every
 * ack its link count is checked, so a WAL that was replaced under it is an error, never a silent no-op.
 */
export class WalSyncedWrites {
  readonly #db: DatabaseSync;
  readonly #writes: DocumentWrites;
  readonly #walPath: string;
  readonly #fsync: AsyncFsync;
  #walFd: number | undefined;
  /** Syncs in flight: close waits for them, so a descriptor is never closed under a running fsync. */
  readonly #syncing = new Set<Promise<void>>();
  #closed = false;

  constructor(file: string, options: { fsync?: AsyncFsync } = {}) {
    this.#db = new DatabaseSync(file);
    this.#db.exec(`${CONNECTION_PRAGMAS} PRAGMA synchronous = NORMAL;`);
    const mode = (this.#db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode;
    if (mode !== 'wal') throw new Error(`deferred WAL sync needs journal_mode=wal, the database is in ${mode}`);
    this.#writes = new DocumentWrites(this.#db);
    this.#walPath = `${file}-wal`;
    this.#fsync = options.fsync ?? fsyncOnPool;
  }

  async append(batch: readonly UpdateToAppend[]): Promise<Map<string, number>> {
    const seqs = this.#writes.append(batch);
    await this.#syncWal();
    return seqs;
  }

  async compact(docId: string, snapshot: Uint8Array, uptoSeq: number): Promise<void> {
    this.#writes.compact(docId, snapshot, uptoSeq);
    await this.#syncWal();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled(this.#syncing);
    // The descriptor is closed after the connection: SQLite holds no lock on the WAL file itself, and the
    // last connection's close (not ours) is what checkpoints and removes it.
    this.#db.close();
    if (this.#walFd !== undefined) closeSync(this.#walFd);
    this.#walFd = undefined;
  }

  async #syncWal(): Promise<void> {
    // After a commit the WAL file exists (WAL mode writes every transaction's frames to it).
    this.#walFd ??= openSync(this.#walPath, 'r');
    const sync = this.#fsync(this.#walFd);
    this.#syncing.add(sync);
    try {
      await sync;
    } finally {
      this.#syncing.delete(sync);
    }
    if (fstatSync(this.#walFd).nlink === 0) {
      // Not expected while the server holds its connections open: say so rather than ack an unsynced write.
      closeSync(this.#walFd);
      this.#walFd = undefined;
      throw new Error('the WAL file was replaced while a commit was being synced');
    }
  }
}
