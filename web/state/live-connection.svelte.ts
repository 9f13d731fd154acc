import { io } from 'socket.io-client';
import { createSubscriber } from 'svelte/reactivity';
import * as Y from 'yjs';
import { SocketProvider, type AccordSocket } from '../lib/socket-provider.ts';
import { LocalDocs } from '../lib/local-docs.ts';
import { FACTS, type Fact, type FactName } from '../../server/protocol/events.ts';
import { CommandQueue, type KeyValueStore } from './command-queue.svelte.ts';
import { SOCKET_OPTIONS } from '../lib/socket-options.ts';

/** Test seams: Node has no same-origin socket and no localStorage. */
export interface LiveConnectionOptions {
  socket?: AccordSocket;
  /** Where queued commands and the list of local documents are kept (default: localStorage). */
  storage?: KeyValueStore | null;
}

/**
 * The signed-in user's one Socket.io connection: documents, commands and facts all share it. It
 * authenticates with the session cookie at the handshake, and reconnects on its own. It also owns the
 * user's local document copies (IndexedDB in browsers), which sign-out wipes.
 */
export class LiveConnection {
  readonly username: string;
  readonly socket: AccordSocket;
  readonly commands: CommandQueue;
  readonly localDocs: LocalDocs;
  readonly #subscribe = createSubscriber((update) => {
    this.socket.on('connect', update);
    this.socket.on('disconnect', update);
    return () => {
      this.socket.off('connect', update);
      this.socket.off('disconnect', update);
    };
  });

  constructor(username: string, options: LiveConnectionOptions = {}) {
    this.username = username;
    this.socket = options.socket ?? io({ ...SOCKET_OPTIONS, withCredentials: true });
    const storage = options.storage === undefined ? (globalThis.localStorage ?? null) : options.storage;
    this.commands = new CommandQueue(this.socket, `accord:commands:${username}`, storage);
    this.localDocs = new LocalDocs(username, storage);
  }

  /**
   * Opens a live document on this connection, with this user's local copy attached in browsers: the
   * stored content shows before the server answers, and edits made offline are kept across reloads.
   */
  openDoc(docId: string): SocketProvider {
    const doc = new Y.Doc();
    return new SocketProvider(this.socket, docId, doc, { local: this.localDocs.open(docId, doc) });
  }

  get isConnected(): boolean {
    this.#subscribe();
    return this.socket.connected;
  }

  /**
   * Calls `listener` on every fact the server broadcasts (any change), and with `connected` whenever the
   * socket (re)connects: facts broadcast while it was not connected are lost, so listeners re-read then.
   * Returns the stop function.
   */
  onFacts(listener: (name: FactName | 'connected', fact?: Fact) => void): () => void {
    const onConnect = () => listener('connected');
    this.socket.on('connect', onConnect);
    const offs = FACTS.map((name) => {
      const handler = (fact: Fact) => listener(name, fact);
      this.socket.on(name, handler);
      return () => this.socket.off(name, handler);
    });
    return () => {
      this.socket.off('connect', onConnect);
      offs.forEach((off) => off());
    };
  }

  dispose(): void {
    this.commands.dispose();
    this.socket.disconnect();
  }
}
