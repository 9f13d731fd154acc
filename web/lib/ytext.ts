import type * as Y from 'yjs';

/** One change of a Y.Text as its events report it (`YTextEvent.delta`). */
export type TextDelta = readonly { insert?: string | object | undefined; retain?: number | undefined; delete?: number | undefined }[];

/**
 * Applies a textarea's new value to a Y.Text as the smallest delete + insert between the old and new
 * text, so a concurrent edit elsewhere in the text survives (replacing the whole text would erase it).
 * `origin` tags the transaction, so whoever made the edit can recognise its own change in the events.
 */
export function applyTextEdit(text: Y.Text, next: string, origin: unknown = null): void {
  const prev = text.toString();
  if (next === prev) return;
  const { start, endBefore, endAfter } = changedRange(prev, next);
  replaceRange(text, start, endBefore, next.slice(start, endAfter), origin);
}

/** Replaces `text[from, to)` with `inserted` in one transaction tagged with `origin`. */
export function replaceRange(text: Y.Text, from: number, to: number, inserted: string, origin: unknown = null): void {
  const apply = () => {
    if (to > from) text.delete(from, to - from);
    if (inserted) text.insert(from, inserted);
  };
  if (text.doc) text.doc.transact(apply, origin);
  else apply();
}

/** The one range where `before` and `after` differ: `before[start, endBefore)` became `after[start, endAfter)`. */
export function changedRange(before: string, after: string): { start: number; endBefore: number; endAfter: number } {
  let start = 0;
  while (start < before.length && start < after.length && before[start] === after[start]) start++;
  let endBefore = before.length;
  let endAfter = after.length;
  while (endBefore > start && endAfter > start && before[endBefore - 1] === after[endAfter - 1]) endBefore--, endAfter--;
  return { start, endBefore, endAfter };
}

/**
 * Where `index` (a position between characters of the text before the change) is after the change.
 * An insert exactly at `index` lands after it with `stickTo: 'left'` (a caret stays behind what it
 * typed) and before it with `'right'`; a deleted range around `index` collapses onto its start.
 */
export function mapTextIndex(index: number, delta: TextDelta, stickTo: 'left' | 'right' = 'left'): number {
  let before = 0; // position in the old text
  let shift = 0;
  for (const op of delta) {
    if (before > index) break;
    if (op.retain !== undefined) before += op.retain;
    else if (op.delete !== undefined) {
      shift -= Math.max(0, Math.min(op.delete, index - before));
      before += op.delete;
    } else if (op.insert !== undefined) {
      const length = typeof op.insert === 'string' ? op.insert.length : 1;
      if (before < index || (before === index && stickTo === 'right')) shift += length;
    }
  }
  return index + shift;
}
