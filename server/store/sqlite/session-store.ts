import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { JointSession } from '../../domain/session/types.ts';
import { AppError } from '../../protocol/errors.ts';

export interface SessionSummary {
  id: string;
  title: string;
  status: string;
  facilitator: string;
  createdAt: string;
  updatedAt: string;
}

/** Joint sessions as aggregates (one JSON row each, versioned like changes). Callers run these in a transaction. */
export class SessionStore {
  readonly #db: DatabaseSync;
  readonly #get: StatementSync;
  readonly #insert: StatementSync;
  readonly #update: StatementSync;
  readonly #open: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#get = db.prepare('SELECT data, version FROM joint_sessions WHERE id = ?');
    this.#insert = db.prepare(
      'INSERT INTO joint_sessions (id, version, status, facilitator, title, data, created_at, updated_at) VALUES (?, 1, ?, ?, ?, ?, ?, ?)',
    );
    this.#update = db.prepare('UPDATE joint_sessions SET version = version + 1, status = ?, title = ?, data = ?, updated_at = ? WHERE id = ? AND version = ?');
    this.#open = db.prepare("SELECT data FROM joint_sessions WHERE status = 'open'");
  }

  get(id: string): { session: JointSession; version: number } | null {
    const row = this.#get.get(id) as { data: string; version: number } | undefined;
    return row ? { session: JSON.parse(row.data) as JointSession, version: Number(row.version) } : null;
  }

  insert(s: JointSession): void {
    this.#insert.run(s.id, s.status, s.facilitator, s.title, JSON.stringify(s), s.createdAt, s.createdAt);
  }

  save(s: JointSession, version: number): void {
    const result = this.#update.run(s.status, s.title, JSON.stringify(s), new Date().toISOString(), s.id, version);
    if (Number(result.changes) !== 1) throw new AppError('conflict', 'the session was modified concurrently; retry');
  }

  /** Open sessions (few at a time: meetings), for matching a change's facts to the sessions that discuss it. */
  open(): JointSession[] {
    return (this.#open.all() as { data: string }[]).map((r) => JSON.parse(r.data) as JointSession);
  }

  list(filter: { status?: string; limit: number }): SessionSummary[] {
    const where = filter.status ? 'WHERE status = ?' : '';
    const sql = `SELECT id, title, status, facilitator, created_at AS createdAt, updated_at AS updatedAt FROM joint_sessions ${where}
      ORDER BY status = 'open' DESC, updated_at DESC LIMIT ${Math.min(500, Math.max(1, filter.limit))}`;
    return this.#db.prepare(sql).all(...(filter.status ? [filter.status] : [])) as unknown as SessionSummary[];
  }
}
