import type { Database } from '../sql.ts';
import { int, json, text } from './change-repository.ts';

/** One message waiting in (or delivered from) the outbox. */
export interface OutboxRow {
  id: number;
  dedupeKey: string;
  event: string;
  channel: string;
  recipient: string;
  address: string;
  payload: Record<string, unknown>;
  attempts: number;
  nextAttemptAt: number;
  sentAt: string | null;
  lastError: string | null;
}

export type NewMessage = Pick<OutboxRow, 'dedupeKey' | 'event' | 'channel' | 'recipient' | 'address' | 'payload'>;

const COLUMNS = 'id, dedupe_key, event, channel, recipient, address, payload, attempts, next_attempt_at, sent_at, last_error';

function decode(r: Record<string, unknown>): OutboxRow {
  const nullableText = (v: unknown, c: string) => (v === null ? null : text(v, c));
  return {
    id: int(r.id, 'notification_outbox.id'), dedupeKey: text(r.dedupe_key, 'notification_outbox.dedupe_key'),
    event: text(r.event, 'notification_outbox.event'), channel: text(r.channel, 'notification_outbox.channel'),
    recipient: text(r.recipient, 'notification_outbox.recipient'), address: text(r.address, 'notification_outbox.address'),
    payload: json<Record<string, unknown>>(r.payload, 'notification_outbox.payload'),
    attempts: int(r.attempts, 'notification_outbox.attempts'), nextAttemptAt: int(r.next_attempt_at, 'notification_outbox.next_attempt_at'),
    sentAt: nullableText(r.sent_at, 'notification_outbox.sent_at'), lastError: nullableText(r.last_error, 'notification_outbox.last_error'),
  };
}

/**
 * The notification outbox and where users are reached. `enqueue` runs inside the unit of work of the state
 * change a message reports (so a rolled-back command sends nothing); a message's `dedupeKey` names its
 * event, subject and recipient, so the same event never queues twice.
 */
export class NotificationRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** E-mail addresses of enabled users, by username (users without one are absent). */
  async emails(usernames: readonly string[]): Promise<Map<string, string>> {
    if (usernames.length === 0) return new Map();
    const rows = await this.#db.all<{ username: unknown; email: unknown }>(
      `SELECT username, email FROM users WHERE disabled = 0 AND email IS NOT NULL AND username IN (${usernames.map(() => '?').join(', ')})`, [...usernames]);
    return new Map(rows.map((r) => [text(r.username, 'users.username'), text(r.email, 'users.email')]));
  }

  async setEmail(username: string, email: string | null): Promise<number> {
    return this.#db.run('UPDATE users SET email = ? WHERE username = ?', [email, username]);
  }

  /** Queues messages; one whose dedupe key was queued before is skipped. Returns how many were new. */
  async enqueue(messages: readonly NewMessage[], now = Date.now()): Promise<number> {
    let added = 0;
    for (const m of messages) {
      added += await this.#db.run(
        `INSERT INTO notification_outbox (dedupe_key, event, channel, recipient, address, payload, created_at, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING`,
        [m.dedupeKey, m.event, m.channel, m.recipient, m.address, JSON.stringify(m.payload), new Date(now).toISOString(), now]);
    }
    return added;
  }

  /** Messages of one channel due now, oldest first. */
  async due(now: number, limit = 20, channel = 'email'): Promise<OutboxRow[]> {
    const rows = await this.#db.all<Record<string, unknown>>(
      `SELECT ${COLUMNS} FROM notification_outbox WHERE sent_at IS NULL AND channel = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ${Math.max(1, Math.floor(limit))}`, [channel, now]);
    return rows.map(decode);
  }

  /** A message that will never be delivered (its endpoint is gone): kept, with why, and never tried again. */
  async markAbandoned(id: number, error: string): Promise<void> {
    await this.#db.run(`UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?`, [Number.MAX_SAFE_INTEGER, `abandoned: ${error}`.slice(0, 500), id]);
  }

  async markSent(id: number, at = new Date().toISOString()): Promise<void> {
    await this.#db.run('UPDATE notification_outbox SET sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?', [at, id]);
  }

  async markFailed(id: number, nextAttemptAt: number, error: string): Promise<void> {
    await this.#db.run('UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?', [nextAttemptAt, error.slice(0, 500), id]);
  }

  async all(): Promise<OutboxRow[]> {
    return (await this.#db.all<Record<string, unknown>>(`SELECT ${COLUMNS} FROM notification_outbox ORDER BY id`)).map(decode);
  }
}
