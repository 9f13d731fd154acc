/** Counters every node of a cluster shares (Redis: server/sync/cluster-bus.ts); `incr` rejects while unreachable. */
export interface SharedCounters {
  /** Adds one to `key` (created with a time to live of `ttlMs`) and returns its new value. */
  incr(key: string, ttlMs: number): Promise<number>;
}

/**
 * Fixed-window counters: one mechanism for every limit (sign-in per account and per address, commands per
 * user, joins per connection). In memory on one node; with `shared` (several nodes), `takeShared` counts
 * in a window every node shares, so a limit holds for the cluster, not per node, and falls back to this
 * node's own count while the shared store is unreachable. A restart forgets counts, which only loosens.
 */
export class RateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #shared: { counters: SharedCounters; name: string } | undefined;
  #windows = new Map<string, { start: number; count: number }>();
  #lastSweep = 0;

  constructor(limit: number, windowMs: number, now: () => number = Date.now, shared?: { counters: SharedCounters; name: string }) {
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#now = now;
    this.#shared = shared;
  }

  /**
   * Counts one use of `key` in the cluster's window (the window is the same on every node: time divided
   * into `windowMs` slices); this node's own count when there is no shared store or it does not answer.
   */
  async takeShared(key: string): Promise<boolean> {
    const local = this.take(key); // kept too: Retry-After, and the fallback's count
    if (!this.#shared) return local;
    const now = this.#now();
    const slice = Math.floor(now / this.#windowMs);
    try {
      const count = await this.#shared.counters.incr(`${this.#shared.name}:${slice}:${key}`, this.#windowMs * 2);
      return count <= this.#limit;
    } catch {
      return local; // the shared store is away: this node's count decides, as on one node
    }
  }

  /** Counts one use of `key`; false when the key is over its limit in the current window. */
  take(key: string): boolean {
    const now = this.#now();
    this.#sweep(now);
    const w = this.#windows.get(key);
    if (!w || now - w.start >= this.#windowMs) {
      this.#windows.set(key, { start: now, count: 1 });
      return true;
    }
    w.count += 1;
    return w.count <= this.#limit;
  }

  /** Seconds until `key` may be used again. */
  retryAfterSeconds(key: string): number {
    const w = this.#windows.get(key);
    return w ? Math.max(1, Math.ceil((w.start + this.#windowMs - this.#now()) / 1_000)) : 0;
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < this.#windowMs) return;
    this.#lastSweep = now;
    for (const [key, w] of this.#windows) if (now - w.start >= this.#windowMs) this.#windows.delete(key);
  }
}
