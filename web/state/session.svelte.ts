import { api, ApiError, type User } from '../lib/api.ts';
import { LiveConnection } from './live-connection.svelte.ts';

/** Who is signed in, and their live connection. Changes only through intents: restore, sign in, sign out. */
export class SessionState {
  #user = $state.raw<User | null>(null);
  #live = $state.raw<LiveConnection | null>(null);
  #checked = $state(false);
  #error = $state<string | null>(null);
  #busy = $state(false);

  get user() {
    return this.#user;
  }
  /** The socket, command queue and facts of the signed-in user; null when signed out. */
  get live() {
    return this.#live;
  }
  get checked() {
    return this.#checked;
  }
  get error() {
    return this.#error;
  }
  get busy() {
    return this.#busy;
  }

  async restore(): Promise<void> {
    try {
      this.#become(await api.me());
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'unauthorized')) this.#error = 'Accord is not reachable';
    } finally {
      this.#checked = true;
    }
  }

  async signIn(username: string, password: string): Promise<void> {
    this.#busy = true;
    this.#error = null;
    try {
      this.#become(await api.signIn(username, password));
    } catch (err) {
      this.#error = err instanceof ApiError ? err.message : 'Accord is not reachable';
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Ends the session and deletes this user's local document copies (shared devices: the next person
   * must not find them in IndexedDB). Edits not yet sent are lost with them.
   */
  async signOut(): Promise<void> {
    await api.signOut().catch(() => undefined);
    const live = this.#live;
    this.#live = null;
    this.#user = null;
    if (!live) return;
    live.dispose();
    try {
      await live.localDocs.wipe();
    } catch (err) {
      this.#error = `Signed out, but this browser's copy of your documents could not be deleted: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  #become(user: User): void {
    this.#live?.dispose();
    this.#user = user;
    this.#live = new LiveConnection(user.username);
  }

  dispose(): void {
    this.#live?.dispose();
  }
}
