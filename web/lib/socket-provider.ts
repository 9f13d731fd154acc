/**
 * Client side of the Yjs-over-Socket.io protocol (docs/protocol.md). Runs in browsers and in Node
 * (tests, benchmarks). One provider per document; many providers share one socket. In browsers the
 * document may also have a local copy (lib/local-docs.ts): whatever it holds that the server misses
 * is sent by the normal sync, so edits made offline reach the server on the next visit.
 */
import * as Y from 'yjs';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness';
import type { Socket } from 'socket.io-client';
import type { Ack, ErrorBody } from '../../server/protocol/errors.ts';
import {
  MESSAGE_AWARENESS, MESSAGE_SYNC, type ClientToServerEvents, type DocAccess, type JoinInfo, type ServerToClientEvents,
} from '../../server/protocol/events.ts';

export type AccordSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
export type ProviderStatus = 'connecting' | 'syncing' | 'synced' | 'offline' | 'refused';
/** Where the local copy is: none (not a browser), loading, applied to the document, or unusable. */
export type LocalStatus = 'none' | 'loading' | 'loaded' | 'failed';

/** A stored copy of the document in this browser, already attached to it (lib/local-docs.ts). */
export interface LocalCopy {
  /** Resolves once the stored content is applied to the document; rejects if the storage fails. */
  readonly whenLoaded: Promise<void>;
  /** Stops persisting (the stored copy stays); safe to call twice. */
  close(): Promise<void>;
}

export interface ProviderOptions {
  local?: LocalCopy | null;
}

const STEP1 = 0;
const STEP2 = 1;
const UPDATE = 2;

type Listener = () => void;

function frame(type: number, write: (e: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, type);
  write(encoder);
  return encoding.toUint8Array(encoder);
}

export class SocketProvider {
  readonly doc: Y.Doc;
  readonly docId: string;
  readonly awareness: Awareness;
  readonly #socket: AccordSocket;
  #status: ProviderStatus = 'connecting';
  #access: DocAccess | null = null;
  #lastError: ErrorBody | null = null;
  /** Updates sent and not yet acknowledged as durable by the server. */
  #unacked = 0;
  #ackWaiters: Listener[] = [];
  #listeners = new Set<Listener>();
  #destroyed = false;
  readonly #local: LocalCopy | null;
  #localStatus: LocalStatus;
  #localError: Error | null = null;

  constructor(socket: AccordSocket, docId: string, doc: Y.Doc = new Y.Doc(), options: ProviderOptions = {}) {
    this.#socket = socket;
    this.docId = docId;
    this.doc = doc;
    this.#local = options.local ?? null;
    this.#localStatus = this.#local ? 'loading' : 'none';
    this.#local?.whenLoaded.then(
      () => this.#set(() => (this.#localStatus = 'loaded')),
      (err: unknown) => this.#set(() => ((this.#localStatus = 'failed'), (this.#localError = err instanceof Error ? err : new Error(String(err))))),
    );
    this.awareness = new Awareness(doc);
    doc.on('beforeTransaction', this.#onBeforeTransaction);
    doc.on('afterAllTransactions', this.#onAfterAllTransactions);
    this.awareness.on('update', this.#onAwarenessUpdate);
    socket.on('connect', this.#onConnect);
    socket.on('disconnect', this.#onDisconnect);
    socket.on('doc:message', this.#onMessage);
    socket.on('doc:error', this.#onError);
    socket.on('doc:rejoin', this.#onRejoin);
    if (socket.connected) this.#onConnect();
  }

  /** The shared connection this provider speaks over. */
  get socket(): AccordSocket {
    return this.#socket;
  }
  get status(): ProviderStatus {
    return this.#status;
  }
  get access(): DocAccess | null {
    return this.#access;
  }
  get lastError(): ErrorBody | null {
    return this.#lastError;
  }
  get unacked(): number {
    return this.#unacked;
  }
  get localStatus(): LocalStatus {
    return this.#localStatus;
  }
  /** Why the local copy is unusable (the document still works, online only). */
  get localError(): Error | null {
    return this.#localError;
  }

  /** Calls `listener` whenever status, access, the pending-ack count or the local copy's status changes. */
  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves once the first sync with the server is complete. */
  whenSynced(): Promise<void> {
    return this.#until(() => this.#status === 'synced', 'synced');
  }

  /** Resolves once the local copy is applied (at once when there is none); rejects if it failed. */
  whenLoadedLocally(): Promise<void> {
    return this.#local ? this.#local.whenLoaded : Promise.resolve();
  }

  /** Resolves once every update sent so far has been acknowledged as durable. */
  whenAcked(): Promise<void> {
    return this.#until(() => this.#unacked === 0, 'acked');
  }

  #until(done: () => boolean, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const off = this.subscribe(() => {
        if (done()) {
          off();
          resolve();
        } else if (this.#status === 'refused') {
          off();
          reject(new Error(`${what}: refused: ${this.#lastError?.message ?? ''}`));
        }
      });
    });
  }

  #set(patch: () => void): void {
    patch();
    for (const l of [...this.#listeners]) l();
  }

  #send(message: Uint8Array, withAck: boolean): void {
    if (!withAck) {
      this.#socket.emit('doc:message', this.docId, message);
      return;
    }
    this.#set(() => (this.#unacked += 1));
    this.#socket.emit('doc:message', this.docId, message, (result: Ack) => {
      if (!result.ok) this.#lastError = result.error;
      this.#set(() => (this.#unacked = Math.max(0, this.#unacked - 1)));
    });
  }

  #onConnect = (): void => {
    this.#set(() => (this.#status = 'connecting'));
    this.#socket.emit('doc:join', this.docId, (result: Ack<JoinInfo>) => {
      if (this.#destroyed) return;
      if (!result.ok) {
        this.#set(() => ((this.#status = 'refused'), (this.#lastError = result.error)));
        return;
      }
      this.#set(() => ((this.#access = result.access), (this.#status = 'syncing')));
      this.#send(frame(MESSAGE_SYNC, (e) => (encoding.writeVarUint(e, STEP1), encoding.writeVarUint8Array(e, Y.encodeStateVector(this.doc)))), false);
      // Re-set (not just re-send) the local state: its clock must move past the one peers bumped when
      // they dropped us on disconnect, or they ignore our presence until its next change.
      const local = this.awareness.getLocalState();
      if (local !== null) this.awareness.setLocalState(local);
    });
  };

  #onDisconnect = (): void => {
    // Acks of messages in flight will never come; the next sync resends whatever the server misses.
    this.#set(() => ((this.#status = 'offline'), (this.#unacked = 0)));
    const others = [...this.awareness.getStates().keys()].filter((id) => id !== this.doc.clientID);
    removeAwarenessStates(this.awareness, others, this);
  };

  #onRejoin = (docId: string): void => {
    if (docId === this.docId && !this.#destroyed && this.#socket.connected) this.#onConnect();
  };

  #onError = (docId: string, error: ErrorBody): void => {
    if (docId === this.docId) this.#lastError = error;
  };

  #onMessage = (docId: string, data: Uint8Array | ArrayBuffer): void => {
    if (docId !== this.docId || this.#destroyed) return;
    const decoder = decoding.createDecoder(data instanceof Uint8Array ? data : new Uint8Array(data));
    const type = decoding.readVarUint(decoder);
    if (type === MESSAGE_AWARENESS) {
      applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), this);
      return;
    }
    if (type !== MESSAGE_SYNC) return;
    const step = decoding.readVarUint(decoder);
    const payload = decoding.readVarUint8Array(decoder);
    if (step === STEP1) {
      // The server's state vector: send only what it misses, acked once durable.
      if (this.#access === 'write') {
        this.#send(frame(MESSAGE_SYNC, (e) => (encoding.writeVarUint(e, STEP2), encoding.writeVarUint8Array(e, Y.encodeStateAsUpdate(this.doc, payload)))), true);
      }
      if (this.#status === 'syncing') this.#set(() => (this.#status = 'synced'));
    } else if (step === STEP2 || step === UPDATE) {
      Y.applyUpdate(this.doc, payload, this);
    }
  };

  /**
   * The provider listens for `update` only while a transaction that did not come from the server runs:
   * Yjs encodes a transaction into an update for `update` listeners (nearly half of applying a remote
   * update: `npx node bench/sync/decode-cost.ts`), and the provider has nothing to send for the server's own updates.
   */
  #listening = false;

  #onBeforeTransaction = (transaction: Y.Transaction): void => {
    if (transaction.origin === this || this.#listening) return;
    this.#listening = true;
    this.doc.on('update', this.#onDocUpdate);
  };

  #onAfterAllTransactions = (): void => {
    if (!this.#listening) return;
    this.#listening = false;
    this.doc.off('update', this.#onDocUpdate);
  };

  #onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === this || this.#access !== 'write' || !this.#socket.connected || this.#status === 'connecting') return;
    this.#send(frame(MESSAGE_SYNC, (e) => (encoding.writeVarUint(e, UPDATE), encoding.writeVarUint8Array(e, update))), true);
  };

  #onAwarenessUpdate = ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: unknown): void => {
    if (origin === this || !this.#socket.connected || this.#status === 'connecting') return;
    const changed = [...added, ...updated, ...removed];
    this.#send(frame(MESSAGE_AWARENESS, (e) => encoding.writeVarUint8Array(e, encodeAwarenessUpdate(this.awareness, changed))), false);
  };

  destroy(): void {
    this.#destroyed = true;
    this.doc.off('beforeTransaction', this.#onBeforeTransaction);
    this.doc.off('afterAllTransactions', this.#onAfterAllTransactions);
    this.#onAfterAllTransactions();
    this.awareness.off('update', this.#onAwarenessUpdate);
    this.#socket.off('connect', this.#onConnect);
    this.#socket.off('disconnect', this.#onDisconnect);
    this.#socket.off('doc:message', this.#onMessage);
    this.#socket.off('doc:error', this.#onError);
    this.#socket.off('doc:rejoin', this.#onRejoin);
    if (this.#socket.connected) this.#socket.emit('doc:leave', this.docId);
    this.awareness.destroy();
    // Closing cannot fail once the copy opened (LocalDocs forgets copies that never did).
    void this.#local?.close();
  }
}
