/**
 * Code that runs inside the page (serialised by Playwright: no imports, no closures over Node values).
 * Times are the page's `performance.now()`: milliseconds since navigation start (timeOrigin).
 */

export interface ReviewMarks {
  /** After the first frame with each condition true; `interactive` = after the first frame with all three. */
  marks: { items?: number; participants?: number; approve?: number; interactive?: number };
  longtasks: { start: number; duration: number }[];
  /** (time, count) whenever the Participants list changes length, and when the items first show. */
  trace: [number, string][];
}

/**
 * Init script for the review page: a requestAnimationFrame loop checks once per frame whether the page
 * is interactive as the bench defines it. A condition counts from the end of the first frame where it
 * holds: the rAF callback runs before that frame's style, layout and paint, so it posts a message and
 * the time is taken when the message arrives, after the frame was produced. Also records long tasks.
 * Selectors follow accessible names: items are `Item <id>`, the people list is `Participants`, the
 * vote buttons are in the group `Your vote`.
 */
export function reviewProbe(expected: { items: number; participants: number }): void {
  const w = window as unknown as { __bench: ReviewMarks };
  const b: ReviewMarks = (w.__bench = { marks: {}, longtasks: [], trace: [] });
  let last = '';
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.longtasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch { /* no long task API */ }
  const seen = new Set<string>();
  const afterFrame = (names: string[]): void => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      const now = performance.now();
      for (const n of names) (b.marks as Record<string, number>)[n] ??= now;
    };
    channel.port2.postMessage(0);
  };
  const tick = (): void => {
    if (location.pathname.startsWith('/changes/')) {
      const itemCount = document.querySelectorAll('li[aria-label^="Item "]').length;
      const peopleCount = document.querySelector('ul[aria-label="Participants"]')?.children.length ?? 0;
      const approve = [...document.querySelectorAll<HTMLButtonElement>('[aria-label="Your vote"] button')].some((x) => x.textContent?.trim() === 'Approve' && !x.disabled);
      const state = `items=${itemCount} people=${peopleCount} approve=${approve}`;
      if (state !== last) b.trace.push([performance.now(), (last = state)]);
      const now: string[] = [];
      for (const [name, ok] of [['items', itemCount >= expected.items], ['participants', peopleCount >= expected.participants], ['approve', approve]] as const) {
        if (ok && !seen.has(name)) (seen.add(name), now.push(name));
      }
      if (seen.size === 3) now.push('interactive');
      if (now.length) afterFrame(now);
      if (seen.size === 3) return;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

/**
 * Arms a measurement of the next Approve click: the click's event time, and the moment (MutationObserver,
 * so at the DOM change) the tally's approve count shows one more than now.
 */
export function armTallyProbe(): void {
  const w = window as unknown as { __tally: { click?: number; shown?: number } };
  const t = (w.__tally = {} as { click?: number; shown?: number });
  const count = document.querySelector('[data-testid="tally-approve"]')?.textContent ?? '';
  const expect = String(Number(count) + 1);
  const button = [...document.querySelectorAll<HTMLButtonElement>('[aria-label="Your vote"] button')].find((x) => x.textContent?.trim() === 'Approve')!;
  button.addEventListener('click', (e) => (t.click ??= e.timeStamp), { capture: true, once: true });
  const region = document.querySelector('[role="region"][aria-label="Tally"]')!;
  const observer = new MutationObserver(() => {
    if (region.querySelector('[data-testid="tally-approve"]')?.textContent === expect) {
      t.shown = performance.now();
      observer.disconnect();
    }
  });
  observer.observe(region, { subtree: true, childList: true, characterData: true });
}

export interface KeyRecord {
  key: string;
  /** keydown event time (when the renderer got the key). */
  down: number;
  /** After every input handler ran (window, bubble phase: after Svelte's delegated handler). */
  input?: number;
  /** The next animation frame after the input. */
  frame?: number;
  /** After that frame was produced (a message posted from the frame callback). */
  painted?: number;
  /** Caret (selectionStart) when the key went down and after its input. */
  caretDown: number;
  caretAfter?: number;
  /** At the frame: the text before the caret still ends with everything typed so far in this phase. */
  intact?: boolean;
}

export interface TypingTrace {
  keys: KeyRecord[];
  frames: number[];
  longtasks: { start: number; duration: number }[];
  /** Event Timing entries (duration ≥ 16 ms only: the API's minimum threshold). */
  events: { name: string; start: number; duration: number; interactionId: number }[];
  start: number;
  end?: number;
  value?: string;
}

/**
 * Starts a typing trace on the draft's Justification textarea: per keystroke (printable keys only)
 * keydown → input handled → next frame → after that frame; every frame's time; long tasks; Event Timing.
 * `stopTypingProbe` ends it and returns the trace.
 */
export function startTypingProbe(): void {
  const w = window as unknown as { __typing: TypingTrace & { stopped: boolean; typed: string; off: () => void } };
  const label = [...document.querySelectorAll('label')].find((l) => l.textContent?.trim().startsWith('Justification'));
  const ta = label?.querySelector('textarea');
  if (!ta) throw new Error('no Justification textarea');
  w.__typing?.off();
  const t: TypingTrace & { stopped: boolean; typed: string; off: () => void } = { keys: [], frames: [], longtasks: [], events: [], start: performance.now(), stopped: false, typed: '', off: () => undefined };
  w.__typing = t;
  let pending: KeyRecord | null = null;
  const onKeydown = (e: KeyboardEvent): void => {
    if (e.target !== ta || e.key.length !== 1 || t.stopped) return;
    pending = { key: e.key, down: e.timeStamp, caretDown: ta.selectionStart };
    t.keys.push(pending);
  };
  const onInput = (e: Event): void => {
    if (e.target !== ta || !pending) return;
    const k = pending;
    pending = null;
    t.typed += k.key;
    const typed = t.typed;
    k.input = performance.now();
    k.caretAfter = ta.selectionStart;
    requestAnimationFrame(() => {
      k.frame = performance.now();
      k.intact = ta.value.slice(0, ta.selectionStart).endsWith(typed);
      const channel = new MessageChannel();
      channel.port1.onmessage = () => (k.painted = performance.now());
      channel.port2.postMessage(0);
    });
  };
  window.addEventListener('keydown', onKeydown, true);
  window.addEventListener('input', onInput);
  const observers: PerformanceObserver[] = [];
  try {
    const o = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (e.startTime >= t.start) t.longtasks.push({ start: e.startTime, duration: e.duration });
    });
    o.observe({ type: 'longtask' });
    observers.push(o);
  } catch { /* no long task API */ }
  try {
    const o = new PerformanceObserver((list) => {
      for (const e of list.getEntries() as PerformanceEventTiming[]) {
        if (e.startTime >= t.start) t.events.push({ name: e.name, start: e.startTime, duration: e.duration, interactionId: e.interactionId });
      }
    });
    o.observe({ type: 'event', durationThreshold: 16 } as PerformanceObserverInit);
    observers.push(o);
  } catch { /* no Event Timing API */ }
  const frame = (now: number): void => {
    if (t.stopped) return;
    t.frames.push(now);
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  t.off = () => {
    window.removeEventListener('keydown', onKeydown, true);
    window.removeEventListener('input', onInput);
    for (const o of observers) o.disconnect();
  };
}

export async function stopTypingProbe(): Promise<TypingTrace> {
  const w = window as unknown as { __typing: TypingTrace & { stopped: boolean; off: () => void } };
  // Let the last keystroke's frame and its message land.
  await new Promise((r) => setTimeout(r, 100));
  const t = w.__typing;
  t.stopped = true;
  t.end = performance.now();
  t.off();
  const ta = [...document.querySelectorAll('label')].find((l) => l.textContent?.trim().startsWith('Justification'))?.querySelector('textarea');
  return { keys: t.keys, frames: t.frames, longtasks: t.longtasks, events: t.events, start: t.start, end: t.end, value: ta?.value ?? '' };
}

/** The Justification textarea's current value (for the convergence check). */
export function justificationValue(): string {
  return [...document.querySelectorAll('label')].find((l) => l.textContent?.trim().startsWith('Justification'))?.querySelector('textarea')?.value ?? '';
}
