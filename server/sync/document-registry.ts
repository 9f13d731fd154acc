import * as Y from 'yjs';
import type { DocumentStore } from '../store/ports.ts';
import type { Logger } from '../log.ts';
import { LiveDocument } from './live-document.ts';
import { WriteBatcher } from './write-batcher.ts';
import { isOrigin, type Origin } from './origin.ts';

export interface RegistryOptions {
  /** Group-commit window: the first update of a batch waits this long for others (0: next loop turn). */
  commitWindowMs: number;
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

  constructor(store: DocumentStore, log: Logger, options: RegistryOptions, hooks: RegistryHooks) {
    this.#store = store;
    this.#log = log;
    this.#options = options;
    this.#hooks = hooks;
    this.batcher = new WriteBatcher(store, log, (seqs) => this.#afterAppend(seqs), options.commitWindowMs);
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
      this.batcher.enqueue(docId, update);
      this.#hooks.onUpdate(live, update, isOrigin(origin) ? origin : undefined);
    });
    live.awareness.on('update', ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: unknown) => {
      this.#hooks.onAwareness(live, [...added, ...updated, ...removed], origin);
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

  #afterAppend(seqs: Map<string, number>): void {
    for (const [docId, seq] of seqs) {
      const doc = this.#open.get(docId);
      if (!doc) continue;
      doc.logLength += seq - doc.lastSeq;
      doc.lastSeq = seq;
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
    await this.batcher.whenDurable();
    const uptoSeq = doc.lastSeq;
    const compacted = doc.logLength;
    await this.#store.compact(doc.id, Y.encodeStateAsUpdate(doc.doc), uptoSeq);
    doc.logLength = Math.max(0, doc.logLength - compacted);
    this.#log.debug({ docId: doc.id, uptoSeq }, 'document compacted');
  }

  /** Stores everything and unloads every document (graceful shutdown). */
  async closeAll(): Promise<void> {
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
