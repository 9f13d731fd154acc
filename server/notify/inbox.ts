/**
 * The in-app notification centre (docs/notifications.md): each message to a person is also written to their
 * inbox, in the unit of work of the state change it reports (like the outbox), pushed live to their open
 * connections after the commit (`notification:new` with the unread count), listed by
 * `GET /api/notifications` and marked read by `POST /api/notifications/read`.
 */
import { createHash } from 'node:crypto';
import type { InboxItem } from '../protocol/events.ts';
import type { Database } from '../store/sql.ts';
import { int, json, text } from '../store/repositories/change-repository.ts';

export class Inbox {
  readonly #db: Database;
  readonly #push: (recipient: string, item: InboxItem, unread: number) => void;

  constructor(db: Database, push: (recipient: string, item: InboxItem, unread: number) => void = () => {}) {
    this.#db = db;
    this.#push = push;
  }

  /** Inside the state change's unit of work; the same dedupe key is written once. Pushed after the commit. */
  async add(recipient: string, dedupeKey: string, event: string, payload: Record<string, unknown>, at = new Date().toISOString()): Promise<void> {
    const id = `nt-${createHash('sha256').update(dedupeKey).digest('hex').slice(0, 16)}`;
    const n = await this.#db.run(`INSERT INTO inbox (id, recipient, dedupe_key, event, payload, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING`,
      [id, recipient, dedupeKey, event, JSON.stringify(payload), at]);
    if (n === 0) return;
    const item: InboxItem = { id, event, payload, createdAt: at, readAt: null };
    this.#db.afterCommit(() => {
      void this.unread(recipient).then((unread) => this.#push(recipient, item, unread), () => this.#push(recipient, item, -1));
    });
  }

  async list(recipient: string, unreadOnly: boolean, limit = 100): Promise<InboxItem[]> {
    const rows = await this.#db.all<Record<string, unknown>>(
      `SELECT * FROM inbox WHERE recipient = ?${unreadOnly ? ' AND read_at IS NULL' : ''} ORDER BY created_at DESC, id LIMIT ${Math.max(1, Math.min(500, Math.floor(limit)))}`, [recipient]);
    return rows.map((r) => ({
      id: text(r.id, 'inbox.id'), event: text(r.event, 'inbox.event'), payload: json<Record<string, unknown>>(r.payload, 'inbox.payload'),
      createdAt: text(r.created_at, 'inbox.created_at'), readAt: r.read_at === null || r.read_at === undefined ? null : text(r.read_at, 'inbox.read_at'),
    }));
  }

  async unread(recipient: string): Promise<number> {
    const r = await this.#db.get<{ n: unknown }>('SELECT count(*) AS n FROM inbox WHERE recipient = ? AND read_at IS NULL', [recipient]);
    return int(typeof r?.n === 'string' ? Number(r.n) : r?.n ?? 0, 'inbox count');
  }

  /** Marks some (or all) of the recipient's messages read; another person's ids change nothing. */
  async markRead(recipient: string, ids: readonly string[] | 'all', at = new Date().toISOString()): Promise<number> {
    if (ids === 'all') return this.#db.run('UPDATE inbox SET read_at = ? WHERE recipient = ? AND read_at IS NULL', [at, recipient]);
    if (ids.length === 0) return 0;
    return this.#db.run(`UPDATE inbox SET read_at = ? WHERE recipient = ? AND read_at IS NULL AND id IN (${ids.map(() => '?').join(', ')})`, [at, recipient, ...ids]);
  }
}
