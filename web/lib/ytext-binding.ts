/**
 * Binds a <textarea> or <input> to a shared Y.Text (`{@attach bindYText(text)}`). `value={...}` plus
 * `oninput` is not enough for shared prose: every co-author keystroke rewrites the whole value and the
 * browser moves the caret to the end, so whoever types in the middle finds their words scattered.
 * Here local input becomes the smallest edit of the Y.Text, and a remote change rewrites the value only
 * when it differs, with the selection and scroll position carried through the change's delta.
 */
import type { Attachment } from 'svelte/attachments';
import type * as Y from 'yjs';
import { applyTextEdit, changedRange, mapTextIndex, replaceRange, type TextDelta } from './ytext.ts';

/** What the binding needs of the field: an HTMLTextAreaElement or HTMLInputElement has all of it. */
export interface TextField extends EventTarget {
  value: string;
  readonly readOnly: boolean;
  readonly selectionStart: number | null;
  readonly selectionEnd: number | null;
  readonly selectionDirection: 'forward' | 'backward' | 'none' | null;
  scrollTop: number;
  setSelectionRange(start: number | null, end: number | null, direction?: 'forward' | 'backward' | 'none'): void;
}

/** The attachment: `<textarea {@attach bindYText(notes.body)} readonly={!notes.canEdit}>`. */
export function bindYText(text: Y.Text): Attachment<HTMLTextAreaElement | HTMLInputElement> {
  return (field) => attachYText(field, text);
}

/** Keeps `field` and `text` in step until the returned function is called. */
export function attachYText(field: TextField, text: Y.Text): () => void {
  /** Tags this field's own transactions: their events need no rewrite of the value it already shows. */
  const origin = { source: 'text-field' as const };
  /** The text as the field last showed it in step with the Y.Text. */
  let shown = text.toString();
  /**
   * Remote changes held back while an IME composes: writing the value would cancel the composition.
   * They are shown, with the composed text, on `compositionend`.
   */
  let missed: TextDelta[] = [];
  let isComposing = false;

  const show = (delta: TextDelta | null) => {
    const next = text.toString();
    shown = next;
    missed = [];
    if (field.value === next) return;
    const { selectionStart: start, selectionEnd: end, selectionDirection: direction, scrollTop } = field;
    field.value = next;
    field.scrollTop = scrollTop;
    if (start === null || end === null || delta === null) return;
    // A caret stays behind what its user typed; a selection does not grow over text inserted at its edges.
    const from = mapTextIndex(start, delta, start === end ? 'left' : 'right');
    field.setSelectionRange(from, Math.max(from, mapTextIndex(end, delta, 'left')), direction ?? undefined);
  };

  const onChange = (event: Y.YTextEvent, transaction: Y.Transaction) => {
    if (transaction.origin === origin) return;
    if (isComposing) missed.push(event.delta);
    else show(event.delta);
  };

  const commit = () => {
    if (field.readOnly) return show(null);
    if (missed.length === 0) {
      applyTextEdit(text, field.value, origin);
      shown = field.value;
      return;
    }
    commitOverMissed();
  };

  /**
   * The composed edit was made on `shown`, and the Y.Text has moved on since: apply the edit where its
   * range is now, then show the merged text with the caret where the edit put it.
   */
  const commitOverMissed = () => {
    const composed = field.value;
    const { start, endBefore, endAfter } = changedRange(shown, composed);
    const deltas = missed;
    const through = (index: number) => deltas.reduce((at, delta) => mapTextIndex(at, delta, 'left'), index);
    const from = through(start);
    const to = Math.max(from, through(endBefore));
    const inserted = composed.slice(start, endAfter);
    replaceRange(text, from, to, inserted, origin);
    const place = (index: number) =>
      index <= start ? through(index)
      : index <= endAfter ? from + (index - start)
      : through(index - endAfter + endBefore) - (to - from) + inserted.length;
    const { selectionStart, selectionEnd, selectionDirection } = field;
    show(null);
    if (selectionStart !== null && selectionEnd !== null) field.setSelectionRange(place(selectionStart), place(selectionEnd), selectionDirection ?? undefined);
  };

  const onInput = (event: Event) => {
    if (isComposing || (event as InputEvent).isComposing) return;
    commit();
  };
  const onCompositionStart = () => {
    isComposing = true;
  };
  const onCompositionEnd = () => {
    isComposing = false;
    commit();
  };

  if (field.value !== shown) field.value = shown;
  text.observe(onChange);
  field.addEventListener('input', onInput);
  field.addEventListener('compositionstart', onCompositionStart);
  field.addEventListener('compositionend', onCompositionEnd);
  return () => {
    text.unobserve(onChange);
    field.removeEventListener('input', onInput);
    field.removeEventListener('compositionstart', onCompositionStart);
    field.removeEventListener('compositionend', onCompositionEnd);
  };
}
