/**
 * Fixed-window counters in memory: one mechanism for every limit (sign-in per account and per address,
 * commands per user, joins per connection). A node restart forgets them, which only ever loosens.
 */
export class RateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  #windows = new Map<string, { start: number; count: number }>();
  #lastSweep = 0;

  constructor(limit: number, windowMs: number, now: () => number = Date.now) {
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#now = now;
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
