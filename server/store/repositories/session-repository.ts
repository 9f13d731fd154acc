import type { Database } from '../sql.ts';
import { int, json, text } from './change-repository.ts';
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

/** Joint sessions as aggregates (one JSON row each, versioned like changes). Callers run these in a unit of work. */
export class SessionStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async get(id: string): Promise<{ session: JointSession; version: number } | null> {
    const row = await this.#db.get<{ data: unknown; version: unknown }>('SELECT data, version FROM joint_sessions WHERE id = ?', [id]);
    return row ? { session: json<JointSession>(row.data, 'joint_sessions.data'), version: int(row.version, 'joint_sessions.version') } : null;
  }

  async insert(s: JointSession): Promise<void> {
    await this.#db.run(
      'INSERT INTO joint_sessions (id, version, status, facilitator, title, data, created_at, updated_at, current_change) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)',
      [s.id, s.status, s.facilitator, s.title, JSON.stringify(s), s.createdAt, s.createdAt, currentChange(s)],
    );
    await this.#items(s);
  }

  async save(s: JointSession, version: number): Promise<void> {
    const changed = await this.#db.run(
      'UPDATE joint_sessions SET version = version + 1, status = ?, title = ?, data = ?, updated_at = ?, current_change = ? WHERE id = ? AND version = ?',
      [s.status, s.title, JSON.stringify(s), new Date().toISOString(), currentChange(s), s.id, version],
    );
    if (changed !== 1) throw new AppError('conflict', 'the session was modified concurrently; retry');
    await this.#items(s);
  }

  /** Open sessions with this change on their agenda (the index answers; only those are parsed). */
  async openWith(changeId: string): Promise<JointSession[]> {
    const rows = await this.#db.all<{ data: unknown }>(
      "SELECT s.data FROM joint_sessions s JOIN joint_session_items i ON i.session_id = s.id WHERE i.change_id = ? AND s.status = 'open'", [changeId]);
    return rows.map((r) => json<JointSession>(r.data, 'joint_sessions.data'));
  }

  /** Ids of open sessions whose current item is this change. */
  async discussing(changeId: string): Promise<string[]> {
    const rows = await this.#db.all<{ id: unknown }>("SELECT id FROM joint_sessions WHERE current_change = ? AND status = 'open'", [changeId]);
    return rows.map((r) => text(r.id, 'joint_sessions.id'));
  }

  async openCount(facilitator: string): Promise<number> {
    const row = await this.#db.get<{ n: unknown }>("SELECT count(*) AS n FROM joint_sessions WHERE facilitator = ? AND status = 'open'", [facilitator]);
    return int(row?.n ?? 0, 'count');
  }

  async list(filter: { status?: string; limit: number }): Promise<SessionSummary[]> {
    const where = filter.status ? 'WHERE status = ?' : '';
    const sql = `SELECT id, title, status, facilitator, created_at AS "createdAt", updated_at AS "updatedAt" FROM joint_sessions ${where}
      ORDER BY (CASE WHEN status = 'open' THEN 0 ELSE 1 END), updated_at DESC, id LIMIT ${Number.isFinite(filter.limit) ? Math.min(500, Math.max(1, Math.floor(filter.limit))) : 100}`;
    const rows = await this.#db.all<Record<string, unknown>>(sql, filter.status ? [filter.status] : []);
    return rows.map((row) => ({
      id: text(row.id, 'joint_sessions.id'), title: text(row.title, 'joint_sessions.title'), status: text(row.status, 'joint_sessions.status'),
      facilitator: text(row.facilitator, 'joint_sessions.facilitator'), createdAt: text(row.createdAt, 'joint_sessions.created_at'),
      updatedAt: text(row.updatedAt, 'joint_sessions.updated_at'),
    }));
  }

  async #items(s: JointSession): Promise<void> {
    await this.#db.run('DELETE FROM joint_session_items WHERE session_id = ?', [s.id]);
    for (const entry of s.agenda) {
      await this.#db.run('INSERT INTO joint_session_items (session_id, change_id) VALUES (?, ?) ON CONFLICT DO NOTHING', [s.id, entry.changeId]);
    }
  }
}

function currentChange(s: JointSession): string | null {
  return s.status === 'open' && s.current !== null ? (s.agenda[s.current]?.changeId ?? null) : null;
}
