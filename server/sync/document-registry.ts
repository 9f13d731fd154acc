import * as Y from 'yjs';
import { applyAwarenessUpdate, encodeAwarenessUpdate } from 'y-protocols/awareness';
import type { DocumentStore } from '../store/ports.ts';
import type { Logger } from '../log.ts';
import { LiveDocument } from './live-document.ts';
import { WriteBatcher } from './write-batcher.ts';
import { isOrigin, type Origin } from './origin.ts';
import type { ClusterPort, RemoteUpdate } from './cluster-bus.ts';
import type { UpdateToAppend } from '../store/ports.ts';

/** Origin of presence that came from another node: applied here, relayed to local sockets, not published again. */
export const REMOTE_PRESENCE = Symbol('remote-presence');

export interface RegistryOptions {
  /** Group-commit window: the first update of a batch waits this long for others (0: next loop turn). */
  commitWindowMs: number;
  /**
   * Several nodes (server/sync/cluster-bus.ts): updates committed here go out to the other nodes, theirs
   * come in; absent when the node runs alone.
   */
  cluster?: ClusterPort;
  /** With a cluster: how long a gap in a document's sequence numbers may stay open before it is read from the database (ms). */
  gapFillMs?: number;
  /** With a cluster: how often open documents' heads are compared with the database (ms), a safety net for lost stream entries. */
  headPollMs?: number;
  /**
   * With a cluster: runs `fn` only where no other node runs the same `name` (a lease, server/store/leases.ts);
   * resolves false when another node has it. Compaction takes one per document, so it runs once at a time.
   */
  exclusive?: (name: string, fn: () => Promise<void>) => Promise<boolean>;
  compactAfterUpdates: number;
  compactDelayMs: number;
  unloadDelayMs: number;
}

export interface RegistryHooks {
  /** A document changed (not by loading): relay it. */
  onUpdate(doc: LiveDocument, update: Uint8Array, origin: Origin | undefined): void;
  /** Presence changed: relay the encoded awareness update. */
  onAwareness(doc: LiveDocument, changedClients: number[], origin: unknown): void;
}

/**
 * Owns the life cycle of live documents: load once however many clients join at the same moment,
 * persist every change through the write batcher, compact in the background, unload when the last
 * client has left and its writes are stored. Re-checks its conditions after every await.
 */
export class DocumentRegistry {
  readonly #store: DocumentStore;
  readonly #log: Logger;
  readonly #options: RegistryOptions;
  readonly #hooks: RegistryHooks;
  readonly #open = new Map<string, LiveDocument>();
  readonly #loading = new Map<string, Promise<LiveDocument | null>>();
  readonly batcher: WriteBatcher;
  /** How many times a document was read from the store: lets tests prove "loaded once". */
  loads = 0;
  /** Several nodes: entries applied from other nodes' stream, and documents read again to fill a gap. */
  readonly clusterStats = { remote: 0, fills: 0 };

  constructor(store: DocumentStore, log: Logger, options: RegistryOptions, hooks: RegistryHooks) {
    this.#store = store;
    this.#log = log;
    this.#options = options;
    this.#hooks = hooks;
    this.batcher = new WriteBatcher(store, log, (seqs, items) => this.#afterAppend(seqs, items), options.commitWindowMs);
    const cluster = options.cluster;
    if (cluster) {
      cluster.onUpdate((u) => this.#onRemoteUpdate(u));
      // Another node's client update before its commit: relayed to this node's clients at once, NOT applied
      // to this node's document. The document takes it from the stream entry after the commit; were it
      // applied now and its node died before the commit, this node would hold an update no database has
      // and, holding it, would never ask a client to send it again (updates acknowledged after it would
      // stay invisible in the database).
      cluster.onEager((docId, update) => {
        const doc = this.#open.get(docId);
        if (doc) this.#hooks.onUpdate(doc, update, { source: 'remote' });
      });
      cluster.onPresence((docId, update) => {
        const doc = this.#open.get(docId);
        if (doc) applyAwarenessUpdate(doc.awareness, update, REMOTE_PRESENCE);
      });
      // Back from an outage: every open document may have missed entries; compare with the database.
      cluster.onReconnect(() => void this.#pollHeads());
      this.#pollTimer = setInterval(() => void this.#pollHeads(), options.headPollMs ?? 2_000);
      this.#pollTimer.unref();
    }
  }

  readonly #buffered = new Map<string, RemoteUpdate[]>();
  #pollTimer: NodeJS.Timeout | undefined;

  /** Entries from other nodes: applied to the open document (Yjs takes them in any order), seqs noted. */
  #onRemoteUpdate(u: RemoteUpdate): void {
    const doc = this.#open.get(u.docId);
    if (!doc) {
      // Loading now: its read may predate this commit; keep the entry for when the load ends.
      const waiting = this.#buffered.get(u.docId);
      if (waiting) waiting.push(u);
      return;
    }
    this.#applyRemote(doc, u);
  }

  #applyRemote(doc: LiveDocument, u: RemoteUpdate): void {
    if (u.to <= doc.lastSeq) return; // held already
    try {
      Y.applyUpdate(doc.doc, u.update, { source: 'remote' } satisfies Origin);
    } catch (err) {
      this.#log.error({ err, docId: doc.id, from: u.from, to: u.to }, 'an update from another node could not be applied; reading the document again');
      this.#scheduleGapFill(doc, 0);
      return;
    }
    doc.logLength += u.to - u.from + 1;
    this.clusterStats.remote += 1;
    this.#noteRange(doc, u.from, u.to);
  }

  /** Records that seqs from..to are held here; advances `lastSeq` over contiguous ranges; a gap is filled if it stays. */
  #noteRange(doc: LiveDocument, from: number, to: number): void {
    if (from <= doc.lastSeq + 1) doc.lastSeq = Math.max(doc.lastSeq, to);
    else doc.ahead.push([from, to]);
    if (doc.ahead.length > 0) {
      doc.ahead.sort((a, b) => a[0] - b[0]);
      while (doc.ahead.length > 0 && doc.ahead[0]![0] <= doc.lastSeq + 1) doc.lastSeq = Math.max(doc.lastSeq, doc.ahead.shift()![1]);
      doc.ahead = doc.ahead.filter(([, t]) => t > doc.lastSeq);
    }
    if (doc.ahead.length > 0) this.#scheduleGapFill(doc, this.#options.gapFillMs ?? 250);
    else {
      clearTimeout(doc.gapTimer);
      doc.gapTimer = undefined;
    }
  }

  #scheduleGapFill(doc: LiveDocument, ms: number): void {
    if (doc.gapTimer) return;
    doc.gapTimer = setTimeout(() => {
      doc.gapTimer = undefined;
      void this.#fill(doc);
    }, ms);
    doc.gapTimer.unref();
  }

  /**
   * Reads the stored document and applies it (Yjs keeps what it holds and adds what it lacks; local
   * clients get the difference as an update), so this node holds everything up to the stored head.
   */
  #fill(doc: LiveDocument): Promise<void> {
    doc.filling ??= (async () => {
      try {
        const stored = await this.#store.load(doc.id);
        this.clusterStats.fills += 1;
        if (!stored || this.#open.get(doc.id) !== doc) return;
        const parts = stored.snapshot ? [stored.snapshot, ...stored.updates] : stored.updates;
        if (parts.length > 0) Y.applyUpdate(doc.doc, Y.mergeUpdates(parts), { source: 'remote' } satisfies Origin);
        if (stored.lastSeq > doc.lastSeq) this.#log.info({ docId: doc.id, from: doc.lastSeq, to: stored.lastSeq }, 'document caught up from the database');
        this.#noteRange(doc, 1, stored.lastSeq);
      } catch (err) {
        this.#log.warn({ err, docId: doc.id }, 'reading a document to fill a gap failed; trying again');
        this.#scheduleGapFill(doc, 1_000);
      } finally {
        doc.filling = undefined;
      }
    })();
    return doc.filling;
  }

  /** Compares every open document's stored head with what this node holds; reads the ones behind. */
  async #pollHeads(): Promise<void> {
    if (this.#open.size === 0 || !this.#store.heads) return;
    try {
      const heads = await this.#store.heads([...this.#open.keys()]);
      for (const [docId, head] of heads) {
        const doc = this.#open.get(docId);
        if (doc && head > doc.lastSeq && !doc.filling) void this.#fill(doc);
      }
    } catch (err) {
      this.#log.warn({ err }, 'comparing documents with the database failed');
    }
  }

  get openCount(): number {
    return this.#open.size;
  }

  /** The live document if it is loaded. */
  get(docId: string): LiveDocument | undefined {
    return this.#open.get(docId);
  }

  /** The live document, loading it if needed; null when it does not exist and `create` is false. */
  async acquire(docId: string, kind: string, create: boolean): Promise<LiveDocument | null> {
    const open = this.#open.get(docId);
    if (open) return this.#keep(open);
    let loading = this.#loading.get(docId);
    if (!loading) {
      loading = this.#load(docId, kind, create).finally(() => this.#loading.delete(docId));
      this.#loading.set(docId, loading);
    }
    const doc = await loading;
    if (!doc && create) return this.acquire(docId, kind, create); // a reader's load found nothing; a writer creates
    return doc ? this.#keep(doc) : null;
  }

  #keep(doc: LiveDocument): LiveDocument {
    clearTimeout(doc.unloadTimer);
    doc.unloadTimer = undefined;
    return doc;
  }

  async #load(docId: string, kind: string, create: boolean): Promise<LiveDocument | null> {
    if (this.#options.cluster) this.#buffered.set(docId, []);
    try {
      return await this.#loadStored(docId, kind, create);
    } finally {
      const waiting = this.#buffered.get(docId) ?? [];
      this.#buffered.delete(docId);
      const live = this.#open.get(docId);
      if (live) for (const u of waiting) this.#applyRemote(live, u);
    }
  }

  async #loadStored(docId: string, kind: string, create: boolean): Promise<LiveDocument | null> {
    if (create) await this.#store.create(docId);
    const stored = await this.#store.load(docId);
    this.loads += 1;
    if (!stored) return null;
    const live = new LiveDocument(docId, kind);
    const parts = stored.snapshot ? [stored.snapshot, ...stored.updates] : stored.updates;
    if (parts.length > 0) Y.applyUpdate(live.doc, Y.mergeUpdates(parts), { source: 'load' } satisfies Origin);
    live.lastSeq = stored.lastSeq;
    live.logLength = stored.updates.length;
    live.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (isOrigin(origin) && origin.source === 'load') return; // never re-persist what we just read
      // Another node's commit (or the database read back): already stored; only local clients need it.
      if (!(isOrigin(origin) && origin.source === 'remote')) {
        this.batcher.enqueue(docId, update);
        this.#options.cluster?.publishEager(docId, update);
      }
      this.#hooks.onUpdate(live, update, isOrigin(origin) ? origin : undefined);
    });
    live.awareness.on('update', ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: unknown) => {
      const changed = [...added, ...updated, ...removed];
      if (origin !== REMOTE_PRESENCE) this.#options.cluster?.publishPresence(docId, encodeAwarenessUpdate(live.awareness, changed));
      this.#hooks.onAwareness(live, changed, origin);
    });
    this.#open.set(docId, live);
    if (live.logLength >= this.#options.compactAfterUpdates) this.#scheduleCompaction(live);
    return live;
  }

  /** Called when a socket leaves; unloads the document once nobody is left and its writes are stored. */
  release(doc: LiveDocument): void {
    if (doc.sessions.size > 0 || doc.unloadTimer) return;
    doc.unloadTimer = setTimeout(() => void this.#unload(doc), this.#options.unloadDelayMs);
  }

  async #unload(doc: LiveDocument): Promise<void> {
    doc.unloadTimer = undefined;
    try {
      await this.#save(doc);
    } catch (err) {
      // Keep the doc in memory if saving fails: unloading now would lose the only copy of these edits.
      this.#log.error({ err, docId: doc.id }, 'saving a document before unload failed; keeping it loaded');
      return;
    }
    if (doc.sessions.size > 0 || doc.unloadTimer || this.#open.get(doc.id) !== doc) return; // someone re-joined meanwhile
    this.#open.delete(doc.id);
    doc.destroy();
    this.#log.debug({ docId: doc.id }, 'document unloaded');
  }

  /** Flushes pending writes and compacts the document's log into a snapshot if it has any. */
  async #save(doc: LiveDocument): Promise<void> {
    await this.batcher.flush();
    await this.batcher.whenDurable();
    if (doc.logLength > 0) await this.#compact(doc);
  }

  /**
   * A batch committed: each document received `n` updates numbered `seq - n + 1`..`seq` in batch order.
   * The node holds them (they came from its own document); with several nodes they go out to the others.
   */
  #afterAppend(seqs: Map<string, number>, items: readonly UpdateToAppend[]): void {
    const byDoc = new Map<string, Uint8Array[]>();
    for (const { docId, update } of items) {
      const list = byDoc.get(docId);
      if (list) list.push(update);
      else byDoc.set(docId, [update]);
    }
    for (const [docId, seq] of seqs) {
      const updates = byDoc.get(docId) ?? [];
      const from = seq - updates.length + 1;
      if (this.#options.cluster && updates.length > 0) {
        this.#options.cluster.publishUpdate({ docId, from, to: seq, update: updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates) });
      }
      const doc = this.#open.get(docId);
      if (!doc) continue;
      doc.logLength += updates.length;
      this.#noteRange(doc, from, seq);
      if (doc.logLength >= this.#options.compactAfterUpdates) this.#scheduleCompaction(doc);
    }
  }

  #scheduleCompaction(doc: LiveDocument): void {
    clearTimeout(doc.compactTimer);
    doc.compactTimer = setTimeout(() => {
      doc.compactTimer = undefined;
      this.#compact(doc).catch((err: unknown) => this.#log.error({ err, docId: doc.id }, 'compaction failed'));
    }, this.#options.compactDelayMs);
  }

  /**
   * Crash-safe: the snapshot replaces the log entries up to `lastSeq` in one transaction. The snapshot
   * may also hold updates still queued (they are in memory); writing them again later is harmless
   * because applying a Yjs update twice changes nothing.
   */
  async #compact(doc: LiveDocument): Promise<void> {
    const exclusive = this.#options.exclusive;
    if (!exclusive) return this.#compactNow(doc);
    // Another node compacting the same document now: leave it to that one (the log stays, nothing is lost).
    const ran = await exclusive(`compact:${doc.id}`, () => this.#compactNow(doc));
    if (!ran) this.#log.debug({ docId: doc.id }, 'another node is compacting the document');
  }

  async #compactNow(doc: LiveDocument): Promise<void> {
    await this.batcher.whenDurable();
    const uptoSeq = doc.lastSeq;
    const compacted = doc.logLength;
    await this.#store.compact(doc.id, Y.encodeStateAsUpdate(doc.doc), uptoSeq);
    doc.logLength = Math.max(0, doc.logLength - compacted);
    this.#log.debug({ docId: doc.id, uptoSeq }, 'document compacted');
  }

  /** Stores everything and unloads every document (graceful shutdown). */
  async closeAll(): Promise<void> {
    clearInterval(this.#pollTimer);
    await Promise.allSettled([...this.#loading.values()]);
    for (const doc of this.#open.values()) {
      try {
        await this.#save(doc);
      } catch (err) {
        this.#log.error({ err, docId: doc.id }, 'saving a document at shutdown failed');
      }
      doc.destroy();
    }
    this.#open.clear();
    this.batcher.stop();
  }
}
