/**
 * Between Accord nodes (docs/operations.md, "Several nodes"): every committed Yjs update goes out on one
 * Redis stream with its document's sequence numbers, presence on a pub/sub channel, and control messages
 * (re-check credentials) on another. A client's update also goes out at once on pub/sub before its
 * commit (as a node relays it to its own clients before the commit): other nodes show it without waiting
 * for the commit, and the stream entry after the commit is what they count and what fills their gaps. PostgreSQL stays the source of truth: a node that misses stream
 * entries (Redis restarted, a slow reader trimmed past) notices the gap in a document's sequence numbers
 * and reads the document again from the database (server/sync/document-registry.ts), and polls the
 * documents' heads while Redis is away.
 *
 * One stream for the cluster rather than one per document: a node reads one stream with one blocking
 * XREAD whatever number of documents it has open, and entries keep their commit order per document.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import type { Logger } from '../log.ts';

/** A committed update: sequence numbers `from`..`to` of `docId` in the database, merged into one update. */
export interface RemoteUpdate {
  docId: string;
  from: number;
  to: number;
  update: Uint8Array;
}

export type BusState = 'connecting' | 'ok' | 'unavailable';

/** What the document registry and the socket gate need of the cluster; `null` when a node runs alone. */
export interface ClusterPort {
  readonly node: string;
  readonly state: BusState;
  publishUpdate(u: RemoteUpdate): void;
  publishPresence(docId: string, update: Uint8Array): void;
  /** An update as a client sent it, before its commit: best effort, for latency (the stream entry follows after the commit). */
  publishEager(docId: string, update: Uint8Array): void;
  onEager(fn: (docId: string, update: Uint8Array) => void): void;
  publishControl(kind: 'revalidate'): void;
  onUpdate(fn: (u: RemoteUpdate) => void): void;
  onPresence(fn: (docId: string, update: Uint8Array) => void): void;
  onControl(fn: (kind: string) => void): void;
  /** Called when the bus comes back after an outage: documents may have missed entries. */
  onReconnect(fn: () => void): void;
}

type Client = ReturnType<typeof createClient>;

const MAX_STREAM_LENGTH = 10_000;
const BLOCK_MS = 2_000;

export class RedisClusterBus implements ClusterPort {
  readonly node = `node-${process.pid}-${randomBytes(4).toString('hex')}`;
  #state: BusState = 'connecting';
  readonly #log: Logger;
  readonly #stream: string;
  readonly #presence: string;
  readonly #eager: string;
  readonly #control: string;
  readonly #limits: string;
  readonly #prefix: string;
  #alive: NodeJS.Timeout | undefined;
  readonly #pub: Client;
  readonly #reader: Client;
  readonly #sub: Client;
  #lastId = '$';
  #stopped = false;
  #reading: Promise<void> | undefined;
  readonly #updates: ((u: RemoteUpdate) => void)[] = [];
  readonly #presences: ((docId: string, update: Uint8Array) => void)[] = [];
  readonly #eagers: ((docId: string, update: Uint8Array) => void)[] = [];
  readonly #controls: ((kind: string) => void)[] = [];
  readonly #reconnects: (() => void)[] = [];

  constructor(url: string, prefix: string, log: Logger) {
    this.#log = log;
    this.#stream = `${prefix}:doc-updates`;
    this.#presence = `${prefix}:presence`;
    this.#eager = `${prefix}:eager`;
    this.#control = `${prefix}:control`;
    this.#limits = `${prefix}:limit:`;
    this.#prefix = prefix;
    // Reconnect with a short capped back-off; commands issued while disconnected fail at once rather
    // than queue (a publish that fails is covered by the readers' gap detection and polling).
    const options = { url, disableOfflineQueue: true, socket: { reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2_000), connectTimeout: 2_000 } };
    this.#pub = createClient(options);
    this.#reader = createClient(options);
    this.#sub = createClient(options);
    for (const [name, client] of [['publisher', this.#pub], ['reader', this.#reader], ['subscriber', this.#sub]] as const) {
      client.on('error', (err: unknown) => {
        if (this.#state === 'ok') this.#log.warn({ err, client: name }, 'redis: connection lost; documents catch up from the database');
        this.#down();
      });
      client.on('ready', () => this.#up());
    }
  }

  get state(): BusState {
    return this.#state;
  }

  /** Connects the three clients; resolves once connected (a node starts even if Redis is down: it polls). */
  async start(): Promise<void> {
    const connected = await Promise.allSettled([this.#pub.connect(), this.#reader.connect(), this.#sub.connect()]);
    const failed = connected.find((r) => r.status === 'rejected');
    if (failed) this.#log.warn({ err: (failed as PromiseRejectedResult).reason }, 'redis: not reachable at start; retrying, documents are polled from the database meanwhile');
    const subscribe = async () => {
      await this.#sub.subscribe(this.#presence, (message: Buffer) => this.#onBinary(message, this.#presences), true);
      await this.#sub.subscribe(this.#eager, (message: Buffer) => this.#onBinary(message, this.#eagers), true);
      await this.#sub.subscribe(this.#control, (message: string) => {
        const [node, kind] = message.split(' ');
        if (node !== this.node && kind) for (const fn of this.#controls) fn(kind);
      });
    };
    // node-redis resubscribes after a reconnect by itself; the first subscription waits for a connection.
    void subscribe().catch((err: unknown) => this.#log.error({ err }, 'redis: subscribing failed'));
    this.#reading = this.#readLoop();
    const beat = () => {
      if (this.#pub.isReady) void this.#pub.set(`${this.#prefix}:node:${this.node}`, '1', { PX: 10_000 }).catch((err: unknown) => this.#log.warn({ err }, 'redis: renewing this node\'s liveness key failed'));
    };
    beat();
    this.#alive = setInterval(beat, 3_000);
    this.#alive.unref();
  }

  #down(): void {
    this.#state = 'unavailable';
  }

  #up(): void {
    if (this.#pub.isReady && this.#reader.isReady && this.#sub.isReady && this.#state !== 'ok') {
      const wasDown = this.#state === 'unavailable';
      this.#state = 'ok';
      if (wasDown) {
        this.#log.info('redis: connection back; documents read their gaps from the database');
        for (const fn of this.#reconnects) fn();
      }
    }
  }

  async #readLoop(): Promise<void> {
    while (!this.#stopped) {
      try {
        if (!this.#reader.isReady) {
          await sleep(200);
          continue;
        }
        const reply = await this.#reader.xRead({ key: this.#stream, id: this.#lastId }, { BLOCK: BLOCK_MS, COUNT: 500 });
        if (!reply || !Array.isArray(reply)) continue;
        for (const stream of reply as { messages: { id: string; message: Record<string, string> }[] }[]) {
          for (const entry of stream.messages) {
            this.#lastId = entry.id;
            this.#onStreamEntry(entry.message);
          }
        }
      } catch (err) {
        if (this.#stopped) return;
        if (this.#state === 'ok') this.#log.warn({ err }, 'redis: reading the update stream failed');
        this.#down();
        // Read on from the last entry seen, never from '$' (entries published between the reconnection and
        // the next XREAD would be skipped). After a Redis restart the stream is new and its ids, made of
        // the time, are above the last one seen. Before any entry was seen: from a second before the failure.
        if (this.#lastId === '$') this.#lastId = `${Date.now() - 1_000}-0`;
        await sleep(200);
      }
    }
  }

  #onStreamEntry(m: Record<string, string>): void {
    if (m.n === this.node || typeof m.d !== 'string') return;
    const from = Number(m.f);
    const to = Number(m.t);
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to < from || typeof m.u !== 'string') {
      this.#log.warn({ entry: { d: m.d, f: m.f, t: m.t } }, 'redis: malformed update entry ignored');
      return;
    }
    const update = Buffer.from(m.u, 'base64');
    for (const fn of this.#updates) fn({ docId: m.d, from, to, update });
  }

  #onBinary(message: Buffer, listeners: readonly ((docId: string, update: Uint8Array) => void)[]): void {
    // node id, doc id, update: two length-prefixed strings then the bytes.
    try {
      let at = 0;
      const nodeLen = message.readUInt16BE(at); at += 2;
      const node = message.toString('utf8', at, at + nodeLen); at += nodeLen;
      const docLen = message.readUInt16BE(at); at += 2;
      const docId = message.toString('utf8', at, at + docLen); at += docLen;
      if (node === this.node) return;
      const update = new Uint8Array(message.subarray(at));
      for (const fn of listeners) fn(docId, update);
    } catch (err) {
      this.#log.warn({ err }, 'redis: malformed pub/sub message ignored');
    }
  }

  publishUpdate(u: RemoteUpdate): void {
    if (!this.#pub.isReady) return; // readers fill the gap from the database
    this.#pub.xAdd(this.#stream, '*', { n: this.node, d: u.docId, f: String(u.from), t: String(u.to), u: Buffer.from(u.update).toString('base64') },
      { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: MAX_STREAM_LENGTH } })
      .catch((err: unknown) => this.#log.warn({ err, docId: u.docId }, 'redis: publishing an update failed; other nodes read it from the database'));
  }

  publishPresence(docId: string, update: Uint8Array): void {
    this.#publishBinary(this.#presence, docId, update, 'presence');
  }

  publishEager(docId: string, update: Uint8Array): void {
    this.#publishBinary(this.#eager, docId, update, 'an update');
  }

  /** node id, doc id (each length-prefixed, 16 bits), then the bytes. */
  #publishBinary(channel: string, docId: string, update: Uint8Array, what: string): void {
    if (!this.#pub.isReady) return;
    const node = Buffer.from(this.node);
    const doc = Buffer.from(docId);
    const message = Buffer.allocUnsafe(4 + node.length + doc.length + update.length);
    message.writeUInt16BE(node.length, 0);
    node.copy(message, 2);
    message.writeUInt16BE(doc.length, 2 + node.length);
    doc.copy(message, 4 + node.length);
    message.set(update, 4 + node.length + doc.length);
    this.#pub.publish(channel, message).catch((err: unknown) => this.#log.warn({ err }, `redis: publishing ${what} failed`));
  }

  /**
   * Sockets per user across nodes (the per-user cap): each node keeps its own count in a hash field
   * `<prefix>:sockets:<userId>` → node, and a liveness key `<prefix>:node:<node>` it renews every 3 s (10 s
   * to live); counts of nodes whose liveness key lapsed (a node that died) are not counted.
   */
  noteSockets(userId: number, here: number): void {
    if (!this.#pub.isReady) return;
    const key = `${this.#prefix}:sockets:${userId}`;
    const write = here > 0 ? this.#pub.multi().hSet(key, this.node, String(here)).expire(key, 86_400).exec() : this.#pub.hDel(key, this.node);
    void write.catch((err: unknown) => this.#log.warn({ err }, 'redis: recording the socket count failed'));
  }

  async socketsElsewhere(userId: number): Promise<number> {
    if (!this.#pub.isReady) throw new Error('redis is not connected');
    const counts = await this.#pub.hGetAll(`${this.#prefix}:sockets:${userId}`);
    const nodes = Object.keys(counts).filter((n) => n !== this.node);
    if (nodes.length === 0) return 0;
    const alive = await this.#pub.mGet(nodes.map((n) => `${this.#prefix}:node:${n}`));
    return nodes.reduce((sum, n, i) => sum + (alive[i] ? Number(counts[n]) || 0 : 0), 0);
  }

  /** A counter every node shares (rate limits): `<prefix>:limit:<key>`, expiring after `ttlMs`. */
  async incr(key: string, ttlMs: number): Promise<number> {
    if (!this.#pub.isReady) throw new Error('redis is not connected');
    const k = `${this.#limits}${key}`;
    const [count] = await this.#pub.multi().incr(k).pExpire(k, ttlMs).exec();
    return Number(count);
  }

  publishControl(kind: 'revalidate'): void {
    if (!this.#pub.isReady) return;
    this.#pub.publish(this.#control, `${this.node} ${kind}`).catch((err: unknown) => this.#log.warn({ err }, 'redis: publishing a control message failed'));
  }

  onUpdate(fn: (u: RemoteUpdate) => void): void { this.#updates.push(fn); }
  onPresence(fn: (docId: string, update: Uint8Array) => void): void { this.#presences.push(fn); }
  onEager(fn: (docId: string, update: Uint8Array) => void): void { this.#eagers.push(fn); }
  onControl(fn: (kind: string) => void): void { this.#controls.push(fn); }
  onReconnect(fn: () => void): void { this.#reconnects.push(fn); }

  /** The client the Socket.io adapter publishes with (it duplicates its own readers from it). */
  get adapterClient(): Client {
    return this.#pub;
  }

  async close(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#alive);
    for (const c of [this.#reader, this.#sub, this.#pub]) {
      try {
        if (c.isOpen) c.destroy();
      } catch (err) {
        this.#log.warn({ err }, 'redis: closing a client failed');
      }
    }
    await this.#reading?.catch(() => undefined);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
