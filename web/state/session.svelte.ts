import { api, ApiError, type User } from '../lib/api.ts';

/** Who is signed in. Changes only through the user's intents: restore, sign in, sign out. */
export class SessionState {
  #user = $state.raw<User | null>(null);
  #checked = $state(false);
  #error = $state<string | null>(null);
  #busy = $state(false);

  get user() {
    return this.#user;
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
      this.#user = await api.me();
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
      this.#user = await api.signIn(username, password);
    } catch (err) {
      this.#error = err instanceof ApiError ? err.message : 'Accord is not reachable';
    } finally {
      this.#busy = false;
    }
  }

  async signOut(): Promise<void> {
    await api.signOut();
    this.#user = null;
  }
}
