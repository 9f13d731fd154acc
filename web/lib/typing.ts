import type { Awareness } from 'y-protocols/awareness';

/** How long after the last keystroke someone still shows as typing. */
export const TYPING_IDLE_MS = 2_500;

/**
 * A typing indicator in presence (volatile awareness, never persisted): `pulse()` on every keystroke
 * sets `typing: true` once, and it falls back to false after TYPING_IDLE_MS without keystrokes, or at
 * once with `stop()` (posted, cancelled). Presence is only sent when the flag flips, not per keystroke.
 */
export class TypingSignal {
  readonly #awareness: Awareness;
  readonly #idleMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #on = false;

  constructor(awareness: Awareness, idleMs = TYPING_IDLE_MS) {
    this.#awareness = awareness;
    this.#idleMs = idleMs;
  }

  pulse(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.stop(), this.#idleMs);
    if (this.#on) return;
    this.#on = true;
    this.#awareness.setLocalStateField('typing', true);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#on) return;
    this.#on = false;
    if (this.#awareness.getLocalState() !== null) this.#awareness.setLocalStateField('typing', false);
  }

  dispose(): void {
    clearTimeout(this.#timer);
  }
}

/** Reads the flag from someone's presence state (anything but `true` is not typing). */
export function isTyping(state: unknown): boolean {
  return typeof state === 'object' && state !== null && (state as { typing?: unknown }).typing === true;
}
