/**
 * This browser's copy of the signed-in user's live documents: one IndexedDB database per document
 * (y-indexeddb), named `accord:<username>:<docId>`, so a page shows the last known content before the
 * server answers, and edits made offline survive closing the tab (the provider sends what the server
 * misses on the next sync). Two accounts on one browser never share a database; signing out deletes
 * the user's databases. Browsers only: where `indexedDB` does not exist (Node tests, benchmarks)
 * nothing is persisted.
 */
import { IndexeddbPersistence } from 'y-indexeddb';
import type * as Y from 'yjs';
import type { LocalCopy } from './socket-provider.ts';

/** The part of localStorage used to remember which databases exist; injectable for tests. */
export interface NameStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** What `wipe()` did: databases deleted, and those still open in another tab (deleted when it closes them). */
export interface WipeResult {
  deleted: string[];
  blocked: string[];
}

const hasIndexedDb = (): boolean => typeof indexedDB !== 'undefined';

/** Deletes one database. Resolves `blocked` when another connection holds it: the browser deletes it once that closes. */
function deleteDatabase(name: string): Promise<'deleted' | 'blocked'> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = () => resolve('deleted');
    request.onerror = () => reject(request.error ?? new Error(`deleting ${name} failed`));
    request.onblocked = () => resolve('blocked');
  });
}

/** One signed-in user's local documents. */
export class LocalDocs {
  readonly #prefix: string;
  readonly #listKey: string;
  readonly #names: NameStore | null;
  readonly #open = new Set<IndexeddbPersistence>();

  constructor(username: string, names: NameStore | null = globalThis.localStorage ?? null) {
    // Encoded so that no username can produce another user's prefix (`a` vs `a:b`).
    this.#prefix = `accord:${encodeURIComponent(username)}:`;
    this.#listKey = `accord:docs:${encodeURIComponent(username)}`;
    this.#names = names;
  }

  /** Whether documents are persisted here (false outside browsers). */
  get enabled(): boolean {
    return hasIndexedDb();
  }

  /** The database name of one document for this user. */
  nameOf(docId: string): string {
    return `${this.#prefix}${docId}`;
  }

  /**
   * Starts persisting `doc` and applies the stored copy to it (asynchronously; `whenLoaded` says when).
   * Returns null outside browsers.
   */
  open(docId: string, doc: Y.Doc): LocalCopy | null {
    if (!hasIndexedDb()) return null;
    const name = this.nameOf(docId);
    this.#remember(name);
    const persistence = new IndexeddbPersistence(name, doc);
    this.#open.add(persistence);
    const opened = persistence._db.then(
      (db) => {
        // Another tab signing this user out deletes the database: let it, and stop writing to it.
        db.onversionchange = () => void this.#close(persistence);
      },
      (err: unknown) => {
        // Nothing to close later; the failure reaches the page through `whenLoaded`.
        this.#open.delete(persistence);
        throw err;
      },
    );
    const whenLoaded = Promise.all([opened, persistence.whenSynced]).then(() => undefined);
    return { whenLoaded, close: () => this.#close(persistence) };
  }

  /**
   * Closes every open copy and deletes every database of this user: those this browser opened (listed
   * in localStorage) and any other with the user's prefix that `indexedDB.databases()` reports.
   */
  async wipe(): Promise<WipeResult> {
    if (!hasIndexedDb()) return { deleted: [], blocked: [] };
    await Promise.all([...this.#open].map((p) => this.#close(p)));
    const names = new Set(this.#listed());
    if (typeof indexedDB.databases === 'function') {
      for (const info of await indexedDB.databases()) if (info.name?.startsWith(this.#prefix)) names.add(info.name);
    }
    const result: WipeResult = { deleted: [], blocked: [] };
    for (const name of names) result[(await deleteDatabase(name)) === 'deleted' ? 'deleted' : 'blocked'].push(name);
    this.#names?.removeItem(this.#listKey);
    return result;
  }

  async #close(persistence: IndexeddbPersistence): Promise<void> {
    if (!this.#open.delete(persistence)) return;
    await persistence.destroy();
  }

  #listed(): string[] {
    const raw = this.#names?.getItem(this.#listKey);
    let parsed: unknown = [];
    try {
      parsed = raw ? JSON.parse(raw) : [];
    } catch {
      // A damaged list: start a new one; wipe() still finds the databases through indexedDB.databases().
    }
    return Array.isArray(parsed) ? parsed.filter((n): n is string => typeof n === 'string' && n.startsWith(this.#prefix)) : [];
  }

  #remember(name: string): void {
    const listed = this.#listed();
    if (listed.includes(name)) return;
    try {
      this.#names?.setItem(this.#listKey, JSON.stringify([...listed, name]));
    } catch {
      // localStorage full or disabled: wipe() still finds the database through indexedDB.databases().
    }
  }
}
