/**
 * Runs a delivery pass every `pollMs` and whenever nudged (after a commit), one pass at a time: a nudge
 * during a pass makes exactly one more pass after it. The e-mail and webhook deliveries share it.
 */
export class Drain {
  readonly #pass: () => Promise<void>;
  readonly #onError: (err: unknown) => void;
  readonly #timer: NodeJS.Timeout;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(pass: () => Promise<void>, onError: (err: unknown) => void, pollMs: number) {
    this.#pass = pass;
    this.#onError = onError;
    this.#timer = setInterval(() => this.nudge(), pollMs);
    this.#timer.unref();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  nudge(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#pass().catch(this.#onError).finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.nudge();
      }
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
  }
}
