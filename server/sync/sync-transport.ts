import * as Y from 'yjs';
import { applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness';
import type { Server, Socket } from 'socket.io';
import { Encoder as DefaultEncoder, PacketType } from 'socket.io-parser';
import { Encoder } from '../protocol/frame-parser.ts';
import { installFastPath, type FastPathStats } from './fast-messages.ts';
import { writeToMany, type DirectWriteStats, type EngineSocket } from './direct-writes.ts';
import type { Logger } from '../log.ts';
import type { Principal } from '../auth/roles.ts';
import { AppError, fail, type Ack, type ErrorBody, type ErrorCode } from '../protocol/errors.ts';
import { PROTOCOL_VERSION, type ClientToServerEvents, type DocAccess, type JoinInfo, type ServerToClientEvents } from '../protocol/events.ts';
import type { DocumentStore } from '../store/ports.ts';
import { DocumentRegistry, type RegistryOptions } from './document-registry.ts';
import { parseDocId, type ParsedDocId } from './doc-kinds.ts';
import type { LiveDocument } from './live-document.ts';
import type { Origin } from './origin.ts';
import type { UpdateGuard } from './update-guard.ts';
import {
  encodeAwareness, frameAwareness, frameSync, MalformedMessageError, parseMessage, SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE,
  type AwarenessEntry,
} from './yjs-messages.ts';

export interface SocketData {
  principal: Principal;
}
export type AccordServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type AccordSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

/** Decides, per document kind, whether a principal may join, at which level, and whether joining creates it. */
export interface DocResolver {
  resolve(principal: Principal, doc: ParsedDocId): Promise<{ ok: true; access: DocAccess; create: boolean } | { ok: false; error: ErrorBody }>;
}

export interface TransportOptions extends RegistryOptions {
  maxMessageBytes: number;
  maxDocsPerSocket: number;
  resolver: DocResolver;
  /** Counters of direct writes (server/sync/direct-writes.ts), when they are installed. */
  directWrites?: DirectWriteStats;
  /** Checks every client update before it is applied (size, draft shape, draft writers): server/sync/update-guard.ts. */
  guard?: UpdateGuard;
}

/**
 * Yjs over Socket.io (docs/protocol.md): `doc:join`, `doc:leave`, `doc:message` with optional acks.
 * Every inbound message is validated before it can touch a document; nothing a client sends can
 * crash the server.
 */
export class SyncTransport {
  readonly registry: DocumentRegistry;
  readonly #io: AccordServer;
  readonly #log: Logger;
  readonly #options: TransportOptions;
  /** Per socket: the documents it joined (or is joining). */
  readonly #joins = new Map<string, Map<string, Promise<LiveDocument | null>>>();
  readonly #encoder = new Encoder();
  /** Socket.io's own encoder: binary events as a text header and one frame per attachment (stock clients). */
  readonly #defaultEncoder = new DefaultEncoder();
  /** Connections that asked for the packed one-frame form at the handshake (`?frames=packed`, docs/protocol.md). */
  readonly #packed = new WeakSet<object>();
  /** Inbound packets by path (server/sync/fast-messages.ts): for tests and benchmarks. */
  readonly fastPath: FastPathStats = { fast: 0, viaSocketIo: 0 };
  readonly #directWriteStats: DirectWriteStats;

  constructor(io: AccordServer, store: DocumentStore, log: Logger, options: TransportOptions) {
    this.#io = io;
    this.#log = log;
    this.#options = options;
    this.#directWriteStats = options.directWrites ?? { direct: 0, queued: 0 };
    this.registry = new DocumentRegistry(store, log, options, {
      onUpdate: (doc, update, origin) => this.#relayUpdate(doc, update, origin),
      onAwareness: (doc, clients, origin) => this.#relayAwareness(doc, clients, origin),
    });
    io.on('connection', (socket) => this.#attach(socket));
  }

  #attach(socket: AccordSocket): void {
    if (socket.handshake.query.frames === 'packed') this.#packed.add(socket);
    const joined = new Map<string, Promise<LiveDocument | null>>();
    this.#joins.set(socket.id, joined);
    const refuse = (docId: unknown, code: ErrorCode, message: string, ack?: unknown): void => {
      // Never call methods of client data: an object id may carry a hostile toString.
      const shownId = typeof docId === 'string' ? docId.slice(0, 200) : `(${typeof docId})`;
      this.#log.warn({ socket: socket.id, user: socket.data.principal.username, docId: shownId, code }, message);
      const body: ErrorBody = { code, message };
      if (typeof ack === 'function') (ack as (r: Ack) => void)({ ok: false, error: body });
      socket.emit('doc:error', typeof docId === 'string' ? docId.slice(0, 200) : '', body);
    };

    socket.on('doc:join', async (rawId: unknown, ack: unknown) => {
      try {
        const result = await this.#join(socket, joined, rawId);
        if (!result.ok) return refuse(rawId, result.error.code, result.error.message, ack);
        if (typeof ack === 'function') (ack as (r: Ack<JoinInfo>) => void)(result);
        this.#sendPresence(socket, result.docId);
      } catch (err) {
        this.#log.error({ err }, 'join failed');
        refuse(rawId, 'internal', 'join failed', ack);
      }
    });

    socket.on('doc:leave', async (rawId: unknown) => {
      const pending = typeof rawId === 'string' ? joined.get(rawId) : undefined;
      if (!pending) return refuse(rawId, 'not_joined', 'leave of a document that was not joined');
      joined.delete(rawId as string);
      const doc = await pending.catch(() => null); // a failed load was answered at join
      if (doc) this.#leave(socket, doc);
    });

    const onMessage = (rawId: unknown, message: unknown, ack: unknown): void => {
      if (!(message instanceof Uint8Array)) return refuse(rawId, 'invalid_payload', 'doc:message needs a binary payload', ack);
      if (message.byteLength > this.#options.maxMessageBytes) return refuse(rawId, 'too_large', 'message above the size limit', ack);
      const pending = typeof rawId === 'string' ? joined.get(rawId) : undefined;
      if (!pending) return refuse(rawId, 'not_joined', 'join the document before sending to it', ack);
      const receive = (doc: LiveDocument | null): void => {
        if (!doc || !doc.sessions.has(socket.id)) return refuse(rawId, 'not_joined', 'join the document before sending to it', ack);
        let durable: Promise<void>;
        try {
          durable = this.#handle(socket, doc, message);
        } catch (err) {
          if (err instanceof MalformedMessageError) return refuse(rawId, 'malformed_message', `malformed message: ${err.message}`, ack);
          if (err instanceof RefusedError) return refuse(rawId, err.code, err.message, ack);
          this.#log.error({ err, docId: doc.id }, 'applying or relaying a message failed');
          return refuse(rawId, 'internal', 'the message could not be applied', ack);
        }
        if (typeof ack !== 'function') return;
        durable.then(
          () => (ack as (r: Ack) => void)({ ok: true }),
          (err: unknown) => {
            this.#log.error({ err, docId: doc.id }, 'storing an update failed');
            if (err instanceof AppError && err.code === 'storage_unavailable') refuse(rawId, err.code, `the update was not stored: ${err.message}`, ack);
            else refuse(rawId, 'storage_failed', 'the update could not be stored', ack);
          },
        );
      };
      // Joined and loaded: at once. Still loading: once it is (messages that arrive meanwhile wait, in order).
      const live = this.registry.get(rawId as string);
      if (live?.sessions.has(socket.id)) receive(live);
      else pending.then(receive, () => refuse(rawId, 'not_joined', 'the document could not be loaded; join again', ack)); // the join already answered its error
    };
    socket.on('doc:message', onMessage);
    installFastPath(socket, onMessage, this.fastPath);

    socket.on('disconnect', async () => {
      this.#joins.delete(socket.id);
      for (const pending of joined.values()) {
        const doc = await pending.catch(() => null); // a failed load was answered at join
        if (doc) this.#leave(socket, doc);
      }
      joined.clear();
    });
  }

  async #join(socket: AccordSocket, joined: Map<string, Promise<LiveDocument | null>>, rawId: unknown): Promise<Ack<JoinInfo> & { docId?: string }> {
    const parsed = parseDocId(rawId);
    if (!parsed) return fail('invalid_payload', 'document ids look like <kind>:<name>');
    const principal = socket.data.principal;
    const resolved = await this.#options.resolver.resolve(principal, parsed);
    if (!resolved.ok) return resolved;
    const { access, create } = resolved;
    const info: JoinInfo = { docId: parsed.docId, access, protocol: PROTOCOL_VERSION };
    const existing = joined.get(parsed.docId);
    if (existing) return (await existing) ? { ok: true, ...info } : fail('not_found', 'no such document');
    if (joined.size >= this.#options.maxDocsPerSocket) return fail('conflict', 'too many documents joined on one connection');
    const loading = this.registry.acquire(parsed.docId, parsed.kind, create).then((doc) => {
      if (!doc) return null;
      if (socket.disconnected) {
        this.registry.release(doc);
        return null;
      }
      doc.sessions.set(socket.id, { socketId: socket.id, socket, principal, access, awarenessClients: new Set() });
      void socket.join(doc.id);
      return doc;
    });
    joined.set(parsed.docId, loading);
    const doc = await loading.catch((err: unknown) => {
      joined.delete(parsed.docId);
      throw err;
    });
    if (!doc) {
      joined.delete(parsed.docId);
      return fail('not_found', 'no such document');
    }
    return { ok: true, ...info };
  }

  /**
   * Rights on a document changed (a review froze, a draft was submitted): every socket on it is
   * taken out and told to join again, so it is re-admitted at its new level, never flipped in place.
   */
  readmit(docId: string): void {
    const doc = this.registry.get(docId);
    if (!doc) return;
    for (const socketId of [...doc.sessions.keys()]) {
      const socket = this.#io.sockets.sockets.get(socketId);
      this.#joins.get(socketId)?.delete(docId);
      if (!socket) continue;
      this.#leave(socket, doc);
      socket.emit('doc:rejoin', docId);
    }
  }

  #leave(socket: AccordSocket, doc: LiveDocument): void {
    const session = doc.sessions.get(socket.id);
    if (!session) return;
    doc.sessions.delete(socket.id);
    void socket.leave(doc.id);
    const clients = [...session.awarenessClients].filter((id) => doc.awarenessOwners.get(id) === socket.id);
    for (const id of clients) doc.awarenessOwners.delete(id);
    if (clients.length > 0) removeAwarenessStates(doc.awareness, clients, socket.id);
    this.registry.release(doc);
  }

  /** Applies one validated message; returns a promise that resolves when its effect is durable. */
  #handle(socket: AccordSocket, doc: LiveDocument, message: Uint8Array): Promise<void> {
    const parsed = parseMessage(message);
    const session = doc.sessions.get(socket.id)!;
    switch (parsed.type) {
      case 'sync-step1': {
        this.#emitMessage(socket, doc.id, frameSync(SYNC_STEP2, Y.encodeStateAsUpdate(doc.doc, parsed.stateVector)));
        this.#emitMessage(socket, doc.id, frameSync(SYNC_STEP1, Y.encodeStateVector(doc.doc)));
        return Promise.resolve();
      }
      case 'sync-step2':
      case 'sync-update': {
        if (session.access !== 'write') throw new RefusedError('read_only', 'this document is read-only for you');
        let recorded: Promise<void> | void;
        try {
          recorded = this.#options.guard?.beforeUpdate(doc, session.principal, parsed.update);
        } catch (err) {
          if (err instanceof AppError) throw new RefusedError(err.code, err.message);
          throw err;
        }
        const origin: Origin = { source: 'client', socketId: socket.id, userId: session.principal.userId };
        Y.applyUpdate(doc.doc, parsed.update, origin);
        // An update that depends on something this document does not hold yet (a client that saw it first:
        // another node's update relayed before its commit, or one it kept across a failover) waits inside
        // Yjs and raises no update event now; the transaction that later completes it is not the client's,
        // so the update is stored here, as sent, before its ack.
        if (doc.doc.store.pendingStructs !== null || doc.doc.store.pendingDs !== null) this.registry.batcher.enqueue(doc.id, parsed.update);
        // The ack waits for the update's commit and for what the guard records about it (a draft's writer).
        const durable = this.registry.batcher.whenDurable();
        return recorded ? Promise.all([durable, recorded]).then(() => undefined) : durable;
      }
      case 'awareness':
        this.#applyPresence(socket, doc, parsed.entries);
        return Promise.resolve();
    }
  }

  /** Stamps each presence state with the sender's authenticated identity: nobody appears as someone else. */
  #applyPresence(socket: AccordSocket, doc: LiveDocument, entries: AwarenessEntry[]): void {
    const session = doc.sessions.get(socket.id)!;
    const { userId, username, role } = session.principal;
    const accepted = entries.filter((e) => (doc.awarenessOwners.get(e.clientId) ?? socket.id) === socket.id);
    if (accepted.length < entries.length) this.#log.warn({ socket: socket.id, docId: doc.id }, 'presence for another connection ignored');
    if (accepted.length === 0) return;
    for (const e of accepted) {
      if (e.state) e.state = { ...e.state, user: { id: userId, name: username, role } };
      doc.awarenessOwners.set(e.clientId, socket.id);
      session.awarenessClients.add(e.clientId);
    }
    // Encode the stamped states once: the same bytes update the server's copy and go to the others.
    const stamped = encodeAwareness(accepted);
    applyAwarenessUpdate(doc.awareness, stamped, RELAYED);
    this.#sendToDoc(doc, socket.id, frameAwareness(stamped));
  }

  #sendPresence(socket: AccordSocket, docId: string): void {
    const doc = this.registry.get(docId);
    if (!doc || doc.awareness.getStates().size === 0) return;
    this.#emitMessage(socket, docId, frameAwareness(encodeAwarenessUpdate(doc.awareness, [...doc.awareness.getStates().keys()])));
  }

  /**
   * One `doc:message` to one connection, in the framing it asked for: the packed one-frame form (Accord's
   * clients), or Socket.io's default (a text header, then the binary attachment) that a stock client reads.
   */
  #emitMessage(socket: AccordSocket, docId: string, message: Uint8Array): void {
    if (this.#packed.has(socket)) {
      socket.emit('doc:message', docId, message);
      return;
    }
    const conn = socket.conn as unknown as { write(data: string | Uint8Array): void };
    for (const part of this.#defaultEncoder.encode({ type: PacketType.EVENT, nsp: '/', data: ['doc:message', docId, message] })) conn.write(part as string | Uint8Array);
  }

  #relayUpdate(doc: LiveDocument, update: Uint8Array, origin: Origin | undefined): void {
    const message = frameSync(SYNC_UPDATE, update);
    const except = origin?.source === 'client' ? origin.socketId : undefined;
    this.#sendToDoc(doc, except, message);
  }

  /**
   * `doc:message` to every socket on the document but `except`: the packet is encoded once and written to
   * each socket's Engine.IO connection, skipping Socket.io's per-broadcast room lookup (the sessions map
   * is the document's membership). Same bytes on the wire as `io.to(doc.id).emit(...)`.
   */
  #sendToDoc(doc: LiveDocument, except: string | undefined, message: Uint8Array): void {
    const conns: EngineSocket[] = [];
    const stock: EngineSocket[] = [];
    for (const session of doc.sessions.values()) {
      if (session.socketId === except || !session.socket.connected) continue;
      (this.#packed.has(session.socket) ? conns : stock).push(session.socket.conn as EngineSocket);
    }
    if (conns.length > 0) {
      const [packet] = this.#encoder.encode({ type: PacketType.EVENT, nsp: '/', data: ['doc:message', doc.id, message] });
      writeToMany(conns, packet as Uint8Array, this.#directWriteStats);
    }
    if (stock.length > 0) {
      // Stock clients: Socket.io's default framing, encoded once for all of them.
      const parts = this.#defaultEncoder.encode({ type: PacketType.EVENT, nsp: '/', data: ['doc:message', doc.id, message] }) as (string | Uint8Array)[];
      for (const conn of stock) for (const part of parts) (conn as unknown as { write(data: string | Uint8Array): void }).write(part);
    }
  }

  #relayAwareness(doc: LiveDocument, clients: number[], origin: unknown): void {
    if (origin === RELAYED) return; // already sent as received (stamped) by #applyPresence
    const message = frameAwareness(encodeAwarenessUpdate(doc.awareness, clients));
    this.#sendToDoc(doc, typeof origin === 'string' ? origin : undefined, message);
  }
}

/** Origin of presence updates that #applyPresence has already relayed. */
const RELAYED = Symbol('relayed-presence');

/** A well-formed message the sender may not send (e.g. a write on a read-only join). */
class RefusedError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
