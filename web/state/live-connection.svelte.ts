import { io } from 'socket.io-client';
import { createSubscriber } from 'svelte/reactivity';
import * as Y from 'yjs';
import { SocketProvider, type AccordSocket } from '../lib/socket-provider.ts';
import { LocalDocs } from '../lib/local-docs.ts';
import { FACTS, type Fact, type FactName } from '../../server/protocol/events.ts';
import { CommandQueue, type KeyValueStore } from './command-queue.svelte.ts';
import { SOCKET_OPTIONS } from '../lib/socket-options.ts';

/** Where the browser says the network went away or came back (`window` in browsers). */
export interface NetworkEvents {
  addEventListener(type: 'online' | 'offline', listener: () => void): void;
  removeEventListener(type: 'online' | 'offline', listener: () => void): void;
}

/** Test seams: Node has no same-origin socket, no localStorage and no window. */
export interface LiveConnectionOptions {
  socket?: AccordSocket;
  /** Where queued commands and the list of local documents are kept (default: localStorage). */
  storage?: KeyValueStore | null;
  /** The browser's `online` / `offline` events (default: `window`; none in Node). */
  network?: NetworkEvents | null;
  /** Whether Accord answers at all, over plain HTTP (default in browsers: `GET /api/health`; none in Node). */
  probe?: (() => Promise<boolean>) | null;
}

/** How long the server may take to answer the reachability probe before the connection is called lost. */
export const PROBE_TIMEOUT_MS = 1_000;
/**
 * A command still unanswered this long on a connection that looks open (the queue's ack timeout is 8 s):
 * the connection is not carrying anything, so it is dropped and remade, and the queue resends the command
 * with its idempotency key.
 */
export const STUCK_COMMAND_MS = 9_000;

/** Any HTTP answer from Accord within PROBE_TIMEOUT_MS means it is reachable (even a 503 while it starts). */
async function probeHealth(): Promise<boolean> {
  try {
    await fetch('/api/health', { cache: 'no-store', credentials: 'omit', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return true;
  } catch {
    return false;
  }
}

/**
 * The signed-in user's one Socket.io connection: documents, commands and facts all share it. It
 * authenticates with the session cookie at the handshake, and reconnects on its own. It also owns the
 * user's local document copies (IndexedDB in browsers), which sign-out wipes.
 *
 * It notices a lost network itself instead of waiting for Socket.io's heartbeat (the server pings every
 * 25 s and gives up after 20 s more, so a dead connection looked "connected" for up to 45 s):
 * - the browser's `offline` event closes the connection at once (Engine.IO does that only for hosts other
 *   than `localhost`, and Chromium keeps a localhost WebSocket open, silent, while offline); every page then
 *   shows Offline, commands wait in the queue, and Socket.io keeps retrying; `online` retries at once;
 * - a network that drops without the browser noticing (Wi-Fi out of range, a sleeping laptop, a dead
 *   proxy): when a command goes out, Accord's health endpoint is asked too; if it does not answer within
 *   a second while the command waits, the connection is closed the same way. A command unanswered for
 *   STUCK_COMMAND_MS on a connection that still looks open also has it closed and remade.
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

  readonly #network: NetworkEvents | null;
  readonly #probe: (() => Promise<boolean>) | null;
  /** A running reachability probe, shared by the commands that go out meanwhile. */
  #probing: Promise<boolean> | null = null;
  /** Counts connections: a verdict about one connection never closes the next. */
  #connection = 0;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(username: string, options: LiveConnectionOptions = {}) {
    this.username = username;
    this.socket = options.socket ?? io({ ...SOCKET_OPTIONS, withCredentials: true });
    // Before the queue's own listener: the commands it resends on connect belong to the new connection.
    this.socket.on('connect', this.#onConnect);
    const storage = options.storage === undefined ? (globalThis.localStorage ?? null) : options.storage;
    this.commands = new CommandQueue(this.socket, `accord:commands:${username}`, storage);
    this.localDocs = new LocalDocs(username, storage);
    const browser = typeof window !== 'undefined' && typeof window.addEventListener === 'function';
    this.#network = options.network === undefined ? (browser ? window : null) : options.network;
    this.#probe = options.probe === undefined ? (browser && typeof fetch === 'function' ? probeHealth : null) : options.probe;
    this.#network?.addEventListener('offline', this.#onBrowserOffline);
    this.#network?.addEventListener('online', this.#onBrowserOnline);
    this.socket.onAnyOutgoing(this.#onOutgoing);
  }

  #onConnect = (): void => {
    this.#connection += 1;
  };

  /** The browser knows the network is gone: say so now, and let commands wait in the queue. */
  #onBrowserOffline = (): void => {
    this.#drop();
  };

  /**
   * The network is back: an attempt started while it was down may hang until its timeout, and the next
   * one waits for the back-off, so start a fresh attempt now (stopping the socket and starting it again
   * resets Socket.io's back-off and drops the pending attempt with its timer).
   */
  #onBrowserOnline = (): void => {
    if (this.socket.connected) return;
    this.socket.disconnect();
    this.socket.connect();
  };

  /**
   * A command went out: if it is not answered, find out at once whether Accord is reachable at all, and
   * close a connection that carries nothing (the queue keeps the command and resends it on the next one).
   */
  #onOutgoing = (event: string, payload?: unknown): void => {
    if (event.startsWith('doc:')) return;
    const key = (payload as { idempotencyKey?: unknown } | undefined)?.idempotencyKey;
    if (typeof key !== 'string') return;
    const connection = this.#connection;
    const waiting = () => this.socket.connected && this.#connection === connection && this.commands.pending.some((c) => c.key === key);
    if (this.#probe) {
      this.#probing ??= this.#probe().finally(() => (this.#probing = null));
      void this.#probing.then((reachable) => {
        if (!reachable && waiting()) this.#drop();
      });
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (waiting()) this.#drop();
    }, STUCK_COMMAND_MS);
    this.#timers.add(timer);
  };

  /**
   * Closes the transport as if the network had closed it: Socket.io reports the disconnection at once
   * (every page shows Offline, the queue holds new commands) and reconnects with its usual back-off.
   */
  #drop(): void {
    if (this.socket.connected) this.socket.io.engine?.close();
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
  onFacts(listener: (name: FactName | 'connected' | 'drift:changed', fact?: Fact) => void): () => void {
    const onConnect = () => listener('connected');
    const onDrift = () => listener('drift:changed');
    this.socket.on('connect', onConnect);
    this.socket.on('drift:changed', onDrift);
    const offs = FACTS.map((name) => {
      const handler = (fact: Fact) => listener(name, fact);
      this.socket.on(name, handler);
      return () => this.socket.off(name, handler);
    });
    return () => {
      this.socket.off('connect', onConnect);
      this.socket.off('drift:changed', onDrift);
      offs.forEach((off) => off());
    };
  }

  dispose(): void {
    this.#network?.removeEventListener('offline', this.#onBrowserOffline);
    this.#network?.removeEventListener('online', this.#onBrowserOnline);
    this.socket.off('connect', this.#onConnect);
    this.socket.offAnyOutgoing(this.#onOutgoing);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.commands.dispose();
    this.socket.disconnect();
  }
}
