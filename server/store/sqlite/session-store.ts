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
  readonly #clearItems: StatementSync;
  readonly #addItem: StatementSync;
  readonly #openWith: StatementSync;
  readonly #discussing: StatementSync;
  readonly #openCount: StatementSync;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#get = db.prepare('SELECT data, version FROM joint_sessions WHERE id = ?');
    this.#insert = db.prepare(
      'INSERT INTO joint_sessions (id, version, status, facilitator, title, data, created_at, updated_at, current_change) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#update = db.prepare(
      'UPDATE joint_sessions SET version = version + 1, status = ?, title = ?, data = ?, updated_at = ?, current_change = ? WHERE id = ? AND version = ?',
    );
    this.#clearItems = db.prepare('DELETE FROM joint_session_items WHERE session_id = ?');
    this.#addItem = db.prepare('INSERT OR IGNORE INTO joint_session_items (session_id, change_id) VALUES (?, ?)');
    this.#openWith = db.prepare(
      "SELECT s.data FROM joint_sessions s JOIN joint_session_items i ON i.session_id = s.id WHERE i.change_id = ? AND s.status = 'open'",
    );
    this.#discussing = db.prepare("SELECT id FROM joint_sessions WHERE current_change = ? AND status = 'open'");
    this.#openCount = db.prepare("SELECT count(*) AS n FROM joint_sessions WHERE facilitator = ? AND status = 'open'");
  }

  get(id: string): { session: JointSession; version: number } | null {
    const row = this.#get.get(id) as { data: string; version: number } | undefined;
    return row ? { session: JSON.parse(row.data) as JointSession, version: Number(row.version) } : null;
  }

  insert(s: JointSession): void {
    this.#insert.run(s.id, s.status, s.facilitator, s.title, JSON.stringify(s), s.createdAt, s.createdAt, currentChange(s));
    this.#items(s);
  }

  save(s: JointSession, version: number): void {
    const result = this.#update.run(s.status, s.title, JSON.stringify(s), new Date().toISOString(), currentChange(s), s.id, version);
    if (Number(result.changes) !== 1) throw new AppError('conflict', 'the session was modified concurrently; retry');
    this.#items(s);
  }

  /** Open sessions with this change on their agenda (the index answers; only those are parsed). */
  openWith(changeId: string): JointSession[] {
    return (this.#openWith.all(changeId) as { data: string }[]).map((r) => JSON.parse(r.data) as JointSession);
  }

  /** Ids of open sessions whose current item is this change. */
  discussing(changeId: string): string[] {
    return (this.#discussing.all(changeId) as { id: string }[]).map((r) => r.id);
  }

  openCount(facilitator: string): number {
    return Number((this.#openCount.get(facilitator) as { n: number }).n);
  }

  list(filter: { status?: string; limit: number }): SessionSummary[] {
    const where = filter.status ? 'WHERE status = ?' : '';
    const sql = `SELECT id, title, status, facilitator, created_at AS createdAt, updated_at AS updatedAt FROM joint_sessions ${where}
      ORDER BY status = 'open' DESC, updated_at DESC LIMIT ${Math.min(500, Math.max(1, filter.limit))}`;
    return this.#db.prepare(sql).all(...(filter.status ? [filter.status] : [])) as unknown as SessionSummary[];
  }

  #items(s: JointSession): void {
    this.#clearItems.run(s.id);
    for (const entry of s.agenda) this.#addItem.run(s.id, entry.changeId);
  }
}

function currentChange(s: JointSession): string | null {
  return s.status === 'open' && s.current !== null ? (s.agenda[s.current]?.changeId ?? null) : null;
}
