import { call } from '../lib/api.ts';
import type { InboxItem } from '../lib/notification-words.ts';
import type { AccordSocket } from '../lib/socket-provider.ts';

/**
 * The signed-in person's notification centre (docs/notifications.md): the list and unread count from
 * `GET /api/notifications`, new ones pushed live on the app's socket (`notification:new`), read again on
 * every (re)connection (pushes sent while disconnected are lost), marked read with `POST /api/notifications/read`.
 */
export class NotificationCentre {
  readonly #socket: AccordSocket;
  #items = $state.raw<InboxItem[]>([]);
  #unread = $state<number | null>(null);
  #error = $state<string | null>(null);
  #loaded = $state(false);
  /** Counts reads: an older answer never replaces a newer one. */
  #reads = 0;

  constructor(socket: AccordSocket) {
    this.#socket = socket;
    socket.on('notification:new', this.#onNew);
    socket.on('connect', this.#onConnect);
    void this.load();
  }

  get items(): readonly InboxItem[] {
    return this.#items;
  }
  /** How many are unread; null until the first answer. */
  get unread(): number | null {
    return this.#unread;
  }
  get error(): string | null {
    return this.#error;
  }
  get loaded(): boolean {
    return this.#loaded;
  }

  #onConnect = (): void => {
    void this.load();
  };

  #onNew = (n: { notification: InboxItem; unread: number }): void => {
    this.#items = [n.notification, ...this.#items.filter((i) => i.id !== n.notification.id)];
    // The server sends -1 when it could not count: read the count again.
    if (n.unread >= 0) this.#unread = n.unread;
    else void this.load();
  };

  async load(): Promise<void> {
    const read = ++this.#reads;
    try {
      const r = await call<{ notifications: InboxItem[]; unread: number }>('GET', '/notifications');
      if (read !== this.#reads) return;
      this.#items = r.notifications;
      this.#unread = r.unread;
      this.#error = null;
      this.#loaded = true;
    } catch (err) {
      if (read !== this.#reads) return;
      this.#error = `Notifications could not be read: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** Marks every message read; on failure the error is shown and nothing changes on screen. */
  async markAllRead(): Promise<void> {
    await this.#markRead({ all: true });
  }
  /** Marks one message read (following its link). */
  async markRead(id: string): Promise<void> {
    const item = this.#items.find((i) => i.id === id);
    if (!item || item.readAt) return;
    await this.#markRead({ ids: [id] });
  }

  async #markRead(body: { all: true } | { ids: string[] }): Promise<void> {
    try {
      const r = await call<{ marked: number; unread: number }>('POST', '/notifications/read', body);
      const at = new Date().toISOString();
      const ids = 'ids' in body ? new Set(body.ids) : null;
      this.#items = this.#items.map((i) => (i.readAt || (ids && !ids.has(i.id)) ? i : { ...i, readAt: at }));
      this.#unread = r.unread;
      this.#error = null;
    } catch (err) {
      this.#error = `Not marked read: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  dispose(): void {
    this.#socket.off('notification:new', this.#onNew);
    this.#socket.off('connect', this.#onConnect);
  }
}
