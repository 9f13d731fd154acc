/**
 * Per-user notification preferences (docs/notifications.md, "Preferences"): every event reaches every
 * channel unless the person turned that pair off. Stored as the pairs turned off, so an event added later
 * is on by default. Webhooks are the admin's (per endpoint), not a person's.
 */
import type { Database } from '../store/sql.ts';
import { NOTIFY_EVENTS } from './notifier.ts';

export const PREF_CHANNELS = ['inbox', 'email'] as const;
export type PrefChannel = (typeof PREF_CHANNELS)[number];
/** The events a person may hear: the notifier's own list (drift goes to webhooks only). */
export const PREF_EVENTS = NOTIFY_EVENTS;
export type PrefEvent = (typeof PREF_EVENTS)[number];

export interface PrefPair {
  event: PrefEvent;
  channel: PrefChannel;
}

export class NotificationPreferences {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** The pairs `username` turned off, sorted. */
  async off(username: string): Promise<PrefPair[]> {
    const rows = await this.#db.all<{ event: string; channel: string }>('SELECT event, channel FROM notification_prefs WHERE username = ?', [username]);
    return rows.map((r) => ({ event: r.event as PrefEvent, channel: r.channel as PrefChannel }))
      .sort((a, b) => (a.event === b.event ? (a.channel < b.channel ? -1 : 1) : a.event < b.event ? -1 : 1));
  }

  /** Replaces the pairs `username` turned off, in one unit of work. */
  async setOff(username: string, off: readonly PrefPair[]): Promise<void> {
    await this.#db.transaction(async () => {
      await this.#db.run('DELETE FROM notification_prefs WHERE username = ?', [username]);
      for (const p of off) {
        await this.#db.run('INSERT INTO notification_prefs (username, event, channel) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [username, p.event, p.channel]);
      }
    });
  }

  /** Of `usernames`, who turned `event` off on `channel`. */
  async mutedOf(usernames: readonly string[], event: string, channel: PrefChannel): Promise<Set<string>> {
    if (usernames.length === 0) return new Set();
    const rows = await this.#db.all<{ username: string }>(
      `SELECT username FROM notification_prefs WHERE event = ? AND channel = ? AND username IN (${usernames.map(() => '?').join(', ')})`,
      [event, channel, ...usernames]);
    return new Set(rows.map((r) => r.username));
  }
}
