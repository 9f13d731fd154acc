import { createSubscriber } from 'svelte/reactivity';
import * as Y from 'yjs';
import { SocketProvider, type AccordSocket, type ProviderStatus } from '../lib/socket-provider.ts';
import { applyTextEdit } from '../lib/ytext.ts';
import { liveDocSubscribers } from './live-doc.svelte.ts';
import { LiveConnection } from './live-connection.svelte.ts';

/** A live `notes:` document: its text, its connection state and who else is here. */
export class NotesState {
  readonly docId: string;
  readonly #provider: SocketProvider;
  readonly #text: Y.Text;
  readonly #subscribeText = createSubscriber((update) => {
    this.#text.observe(update);
    return () => this.#text.unobserve(update);
  });
  readonly #reads = liveDocSubscribers(() => this.#provider);

  /** Pass the LiveConnection to keep a local copy; a bare socket (tests) syncs online only. */
  constructor(name: string, connection: LiveConnection | AccordSocket) {
    this.docId = `notes:${name}`;
    this.#provider = connection instanceof LiveConnection ? connection.openDoc(this.docId) : new SocketProvider(connection, this.docId);
    this.#text = this.#provider.doc.getText('body');
    this.#provider.awareness.setLocalStateField('looking', 'notes');
  }

  get text(): string {
    this.#subscribeText();
    return this.#text.toString();
  }

  /** The shared text itself, for binding a textarea to it (lib/ytext-binding.ts). */
  get body(): Y.Text {
    return this.#text;
  }

  get status(): ProviderStatus {
    this.#reads.provider();
    return this.#provider.status;
  }

  get canEdit(): boolean {
    this.#reads.provider();
    return this.#provider.access === 'write';
  }

  get unsaved(): number {
    this.#reads.provider();
    return this.#provider.unacked;
  }

  get error(): string | null {
    this.#reads.provider();
    return this.#provider.lastError?.message ?? null;
  }

  get participants(): { clientId: number; name: string; role: string; isMe: boolean }[] {
    this.#reads.presence();
    const out: { clientId: number; name: string; role: string; isMe: boolean }[] = [];
    for (const [clientId, state] of this.#provider.awareness.getStates()) {
      const user = (state as { user?: { name?: string; role?: string } }).user;
      if (user?.name) out.push({ clientId, name: user.name, role: user.role ?? '', isMe: clientId === this.#provider.doc.clientID });
    }
    return out;
  }

  /** Applies the user's edit as the smallest delete + insert between the old and new text. */
  edit(next: string): void {
    applyTextEdit(this.#text, next);
  }

  dispose(): void {
    this.#provider.destroy();
  }
}
