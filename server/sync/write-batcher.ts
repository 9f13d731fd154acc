import type { DocumentStore, UpdateToAppend } from '../store/ports.ts';
import type { Logger } from '../log.ts';

interface Batch {
  items: UpdateToAppend[];
  /** The batch its updates were put back into after it failed, if they were. */
  retriedIn?: Batch;
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

/** First retry of a failed batch after this long, doubling up to RETRY_MAX_MS while writes keep failing. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

/**
 * Group commit: every update that arrives while the event loop is busy (or while the previous
 * write is in flight) goes into one transaction, so there is one sync per batch, not per update.
 * Acks wait on `whenDurable()`, which resolves once everything enqueued so far is on disk.
 *
 * A batch that fails is refused to whoever waited for it, and its updates go back into the open batch,
 * retried with back-off until they are stored: a client that sends the same update again changes nothing
 * in the live document (so nothing new is queued), and its ack must wait for that retry, not pass on the
 * strength of a batch that failed.
 */
export class WriteBatcher {
  readonly #store: DocumentStore;
  readonly #log: Logger;
  readonly #onAppended: (seqs: Map<string, number>, items: readonly UpdateToAppend[]) => void;
  #open: Batch = newBatch();
  #inFlight: Promise<void> = Promise.resolve();
  /** Resolves when everything taken for writing so far is durable, counting retries; rejects if it is not. */
  #durable: Promise<void> = Promise.resolve();
  #scheduled = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs = RETRY_MIN_MS;
  #stopped = false;
  /** Batches written, updates written: for health and benchmarks. */
  readonly stats = { batches: 0, updates: 0, failures: 0 };

  readonly #windowMs: number;

  /**
   * `windowMs`: how long the first update of a batch waits for others before the commit. 0 commits on the
   * next turn of the event loop. Relays do not wait for it; only the durable ack does.
   */
  constructor(store: DocumentStore, log: Logger, onAppended: (seqs: Map<string, number>, items: readonly UpdateToAppend[]) => void, windowMs = 0) {
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

  /**
   * Resolves when every update enqueued before this call is durable, including the retry of a batch that
   * failed before it; rejects if its batch (or that batch's first retry) failed.
   */
  whenDurable(): Promise<void> {
    return this.#open.items.length > 0 ? this.#open.done : this.#durable;
  }

  /** No more retries (shutdown): a batch that fails from now on is only refused. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
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
          this.#retryDelayMs = RETRY_MIN_MS;
          batch.resolve();
          this.#onAppended(seqs, batch.items);
        },
        (err: unknown) => {
          this.stats.failures += 1;
          this.#log.error({ err, updates: batch.items.length, retryInMs: this.#stopped ? null : this.#retryDelayMs }, 'storing a batch of updates failed');
          if (!this.#stopped) batch.retriedIn = this.#retry(batch.items); // before the refusal: whoever waits next sees them queued
          batch.reject(err);
        },
      );
    // Durable once this batch is, or, if it fails, once its retry is,
    // and once every batch taken before it is, retries included: one of those may fail after this one was
    // taken, and a message that changed nothing may repeat its content. Only a failed retry of an earlier
    // batch is not held against this one (else one bad moment would refuse every later ack).
    const settled = batch.done.catch((err: unknown) => {
      if (batch.retriedIn) return batch.retriedIn.done;
      throw err;
    });
    this.#durable = Promise.all([this.#durable.catch(() => {}), settled]).then(() => {});
    this.#durable.catch(() => {}); // observed by whoever awaits it
    return batch.done;
  }

  /** Puts a failed batch's updates back (ahead of newer ones) and flushes again after the back-off. */
  #retry(items: UpdateToAppend[]): Batch {
    const into = this.#open;
    into.items.unshift(...items);
    if (this.#retryTimer) return into;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.flush();
    }, this.#retryDelayMs);
    this.#retryTimer.unref();
    this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, RETRY_MAX_MS);
    return into;
  }
}
