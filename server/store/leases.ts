/**
 * Leases for background work that must run on one node at a time when several Accord nodes share one
 * database (docs/operations.md): the expiry sweeper, the campaign clock, scheduled drift reads, and each
 * apply run. A lease is a row `(name, holder, until_ms)`; taking it is one statement that succeeds only when
 * nobody holds it or the holder's time ran out (a node that died), so two nodes never both hold it. The
 * holder renews it while it works and gives it back when done. Same SQL on SQLite and PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import type { Database } from './sql.ts';

export class Leases {
  readonly #db: Database;
  /** This process's name in the lease table. */
  readonly holder: string;

  readonly #onError: (err: unknown, name: string) => void;

  /** `onError`: a renewal failed (the lease may lapse and another node take the work over). */
  constructor(db: Database, onError: (err: unknown, name: string) => void, holder = `node-${process.pid}-${randomBytes(4).toString('hex')}`) {
    this.#db = db;
    this.#onError = onError;
    this.holder = holder;
  }

  /** Takes (or renews) `name` for `ttlMs`; false when another holder has it. */
  async take(name: string, ttlMs: number, now = Date.now()): Promise<boolean> {
    const n = await this.#db.run(
      `INSERT INTO job_leases (name, holder, until_ms) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
       WHERE job_leases.until_ms < ? OR job_leases.holder = excluded.holder`,
      [name, this.holder, now + ttlMs, now]);
    return n === 1;
  }

  async release(name: string): Promise<void> {
    await this.#db.run('DELETE FROM job_leases WHERE name = ? AND holder = ?', [name, this.holder]);
  }

  /**
   * Runs `fn` only if this node takes the lease; renews it every third of `ttlMs` while `fn` runs and
   * releases it after. Returns whether it ran.
   */
  async run(name: string, ttlMs: number, fn: () => Promise<void>): Promise<boolean> {
    if (!(await this.take(name, ttlMs))) return false;
    const renew = setInterval(() => {
      this.take(name, ttlMs).then((held) => {
        if (!held) this.#onError(new Error(`lease ${name} was taken over by another node`), name);
      }, (err: unknown) => this.#onError(err, name));
    }, Math.max(50, Math.floor(ttlMs / 3)));
    try {
      await fn();
    } finally {
      clearInterval(renew);
      await this.release(name);
    }
    return true;
  }
}
