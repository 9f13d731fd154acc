import type { DocumentStore, UpdateToAppend } from '../store/ports.ts';
import type { Logger } from '../log.ts';

interface Batch {
  items: UpdateToAppend[];
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  done.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
  return { items: [], done, resolve, reject };
}

/**
 * Group commit: every update that arrives while the event loop is busy (or while the previous
 * write is in flight) goes into one transaction, so there is one sync per batch, not per update.
 * Acks wait on `whenDurable()`, which resolves once everything enqueued so far is on disk.
 */
export class WriteBatcher {
  readonly #store: DocumentStore;
  readonly #log: Logger;
  readonly #onAppended: (seqs: Map<string, number>) => void;
  #open: Batch = newBatch();
  #inFlight: Promise<void> = Promise.resolve();
  #scheduled = false;
  /** Batches written, updates written: for health and benchmarks. */
  readonly stats = { batches: 0, updates: 0, failures: 0 };

  readonly #windowMs: number;

  /**
   * `windowMs`: how long the first update of a batch waits for others before the commit. 0 commits on the
   * next turn of the event loop. Relays do not wait for it; only the durable ack does.
   */
  constructor(store: DocumentStore, log: Logger, onAppended: (seqs: Map<string, number>) => void, windowMs = 0) {
    this.#store = store;
    this.#log = log;
    this.#onAppended = onAppended;
    this.#windowMs = windowMs;
  }

  get pending(): number {
    return this.#open.items.length;
  }

  enqueue(docId: string, update: Uint8Array): void {
    this.#open.items.push({ docId, update });
    if (!this.#scheduled) {
      this.#scheduled = true;
      if (this.#windowMs > 0) setTimeout(() => void this.flush(), this.#windowMs);
      else setImmediate(() => void this.flush());
    }
  }

  /** Resolves when every update enqueued before this call is durable; rejects if its batch failed. */
  whenDurable(): Promise<void> {
    return this.#open.items.length > 0 ? this.#open.done : this.#inFlight;
  }

  /** Writes the open batch (after the one in flight, to keep order). */
  flush(): Promise<void> {
    this.#scheduled = false;
    const batch = this.#open;
    if (batch.items.length === 0) return this.#inFlight;
    this.#open = newBatch();
    const previous = this.#inFlight;
    this.#inFlight = previous
      .catch(() => {})
      .then(() => this.#store.append(batch.items))
      .then(
        (seqs) => {
          this.stats.batches += 1;
          this.stats.updates += batch.items.length;
          batch.resolve();
          this.#onAppended(seqs);
        },
        (err: unknown) => {
          this.stats.failures += 1;
          // The updates stay in the live documents; they are written with the next snapshot.
          this.#log.error({ err, updates: batch.items.length }, 'storing a batch of updates failed');
          batch.reject(err);
        },
      );
    return batch.done;
  }
}
