import { Worker } from 'node:worker_threads';
import type { UpdateToAppend } from '../ports.ts';

export type WriterRequest =
  | { id: number; op: 'append'; batch: readonly UpdateToAppend[] }
  | { id: number; op: 'compact'; docId: string; snapshot: Uint8Array; uptoSeq: number };

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export type WriterReply = { id: number; ok: true; seqs?: [string, number][] } | { id: number; ok: false; message: string };

type Pending = { resolve: (reply: WriterReply & { ok: true }) => void; reject: (err: Error) => void };

/**
 * Runs the document store's writes on a worker thread with its own connection to `file`
 * (document-writer-worker.ts). A commit with synchronous=FULL blocks for its fsync; here it blocks
 * that thread, and the main thread keeps relaying updates meanwhile. Started on first use; if the
 * thread dies, what it had pending is rejected (those updates were never acked) and the next write
 * starts a new one.
 */
export class DocumentWriter {
  readonly #file: string;
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(file: string) {
    this.#file = file;
  }

  async append(batch: readonly UpdateToAppend[]): Promise<Map<string, number>> {
    const reply = await this.#request({ op: 'append', batch });
    return new Map(reply.seqs ?? []);
  }

  async compact(docId: string, snapshot: Uint8Array, uptoSeq: number): Promise<void> {
    await this.#request({ op: 'compact', docId, snapshot, uptoSeq });
  }

  /** Waits for the writes already posted, then stops the thread (which closes its connection). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled(this.#inFlight);
    await this.#worker?.terminate();
    this.#worker = undefined;
  }

  #request(req: WithoutId<WriterRequest>): Promise<WriterReply & { ok: true }> {
    if (this.#closed) return Promise.reject(new Error('the document store is closed'));
    const id = this.#nextId++;
    const worker = this.#thread();
    const promise = new Promise<WriterReply & { ok: true }>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) worker.ref(); // a pending write keeps the process alive, an idle thread does not
      worker.postMessage({ ...req, id } as WriterRequest);
    });
    this.#inFlight.add(promise);
    void promise.then(
      () => this.#inFlight.delete(promise),
      () => this.#inFlight.delete(promise),
    );
    return promise;
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./document-writer-worker.ts', import.meta.url), { workerData: { file: this.#file } });
    worker.on('message', (reply: WriterReply) => {
      const p = this.#pending.get(reply.id);
      if (!p) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      if (reply.ok) p.resolve(reply);
      else p.reject(new Error(reply.message));
    });
    const fail = (err: Error): void => {
      if (this.#worker !== undefined && this.#worker !== worker) return; // a newer thread owns what is pending
      this.#worker = undefined;
      for (const [id, p] of this.#pending) {
        this.#pending.delete(id);
        p.reject(err);
      }
    };
    worker.on('error', (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))));
    worker.on('exit', (code) => fail(new Error(`the document writer thread exited (${code})`)));
    worker.unref();
    this.#worker = worker;
    return worker;
  }
}
