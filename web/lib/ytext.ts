import type * as Y from 'yjs';

/**
 * Applies a textarea's new value to a Y.Text as the smallest delete + insert between the old and new
 * text, so a concurrent edit elsewhere in the text survives (replacing the whole text would erase it).
 */
export function applyTextEdit(text: Y.Text, next: string): void {
  const prev = text.toString();
  if (next === prev) return;
  let start = 0;
  while (start < prev.length && start < next.length && prev[start] === next[start]) start++;
  let endPrev = prev.length;
  let endNext = next.length;
  while (endPrev > start && endNext > start && prev[endPrev - 1] === next[endNext - 1]) endPrev--, endNext--;
  const doc = text.doc;
  const apply = () => {
    if (endPrev > start) text.delete(start, endPrev - start);
    if (endNext > start) text.insert(start, next.slice(start, endNext));
  };
  if (doc) doc.transact(apply);
  else apply();
}
