/**
 * The textarea ↔ Y.Text binding (web/lib/ytext-binding.ts) without a DOM: a fake field that behaves
 * like Chromium's textarea where it matters (writing `value` puts the caret at the end), and two
 * Y.Docs that exchange updates the way two browsers do through the server.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { attachYText, type TextField } from '../../web/lib/ytext-binding.ts';
import { mapTextIndex } from '../../web/lib/ytext.ts';

type Direction = 'forward' | 'backward' | 'none';

class FakeField extends EventTarget implements TextField {
  #value = '';
  selectionStart: number | null = 0;
  selectionEnd: number | null = 0;
  selectionDirection: Direction | null = 'none';
  readOnly = false;
  scrollTop = 0;
  valueWrites = 0;

  get value(): string {
    return this.#value;
  }
  /** As in Chromium: a programmatic write moves the caret to the end. */
  set value(next: string) {
    this.valueWrites++;
    this.#value = next;
    this.selectionStart = this.selectionEnd = next.length;
    this.scrollTop = 0;
  }
  setSelectionRange(start: number | null, end: number | null, direction: Direction = 'none'): void {
    this.selectionStart = start;
    this.selectionEnd = end;
    this.selectionDirection = direction;
  }
  /** The user types `chars` over the selection, one input event per character. */
  type(chars: string): void {
    for (const ch of chars) {
      this.#edit(ch);
      this.dispatchEvent(new Event('input'));
    }
  }
  /** An IME composes `chars` over the selection (input events flagged as composing), then commits. */
  compose(chars: string, during: () => void): void {
    this.dispatchEvent(new Event('compositionstart'));
    for (const ch of chars) {
      this.#edit(ch);
      this.dispatchEvent(Object.assign(new Event('input'), { isComposing: true }));
    }
    during();
    this.dispatchEvent(new Event('compositionend'));
  }
  #edit(inserted: string): void {
    const start = this.selectionStart ?? 0;
    const end = this.selectionEnd ?? start;
    this.#value = this.#value.slice(0, start) + inserted + this.#value.slice(end);
    this.selectionStart = this.selectionEnd = start + inserted.length;
  }
}

/** Two peers on one text; each peer's updates reach the other at once, tagged as remote. */
function peers(initial = '') {
  const local = new Y.Doc();
  const remote = new Y.Doc();
  const wire = Symbol('wire');
  local.on('update', (u: Uint8Array, origin: unknown) => origin !== wire && Y.applyUpdate(remote, u, wire));
  remote.on('update', (u: Uint8Array, origin: unknown) => origin !== wire && Y.applyUpdate(local, u, wire));
  if (initial) remote.getText('t').insert(0, initial);
  return { text: local.getText('t'), other: remote.getText('t') };
}

describe('mapTextIndex', () => {
  const delta = (...ops: { insert?: string; retain?: number; delete?: number }[]) => ops;
  it('moves an index over inserts and deletes before it, and leaves it alone for changes after it', () => {
    assert.equal(mapTextIndex(5, delta({ insert: 'abc' })), 8);
    assert.equal(mapTextIndex(5, delta({ retain: 6 }, { insert: 'abc' })), 5);
    assert.equal(mapTextIndex(5, delta({ retain: 1 }, { delete: 2 })), 3);
    assert.equal(mapTextIndex(5, delta({ retain: 5 }, { delete: 3 })), 5);
  });
  it('collapses an index inside a deleted range onto its start', () => {
    assert.equal(mapTextIndex(5, delta({ retain: 3 }, { delete: 4 })), 3);
    assert.equal(mapTextIndex(5, delta({ retain: 3 }, { delete: 4 }, { insert: 'xy' })), 3);
  });
  it('keeps an index before an insert at it when sticking left, after it when sticking right', () => {
    assert.equal(mapTextIndex(4, delta({ retain: 4 }, { insert: 'xy' }), 'left'), 4);
    assert.equal(mapTextIndex(4, delta({ retain: 4 }, { insert: 'xy' }), 'right'), 6);
  });
});

describe('attachYText', () => {
  it('keeps the caret and the typed text together while a co-author appends at the end', () => {
    const { text, other } = peers('Carol checks the VM.');
    const field = new FakeField();
    const detach = attachYText(field, text);
    assert.equal(field.value, 'Carol checks the VM.');
    field.setSelectionRange(0, 0);
    const typed = 'Urgent: ';
    for (const [i, ch] of [...typed].entries()) {
      field.type(ch);
      other.insert(other.length, ` ${i}`);
    }
    assert.equal(field.value, text.toString());
    assert.ok(field.value.startsWith(`${typed}Carol checks the VM.`), field.value);
    assert.ok(field.value.endsWith(' 0 1 2 3 4 5 6 7'), field.value);
    assert.equal(field.selectionStart, typed.length);
    assert.equal(field.selectionEnd, typed.length);
    assert.equal(other.toString(), field.value);
    detach();
  });

  it('shifts the selection over remote text inserted or deleted before it, and keeps its direction', () => {
    const { text, other } = peers('0123456789');
    const field = new FakeField();
    attachYText(field, text);
    field.setSelectionRange(4, 7, 'backward');
    other.insert(1, 'ab');
    assert.deepEqual([field.selectionStart, field.selectionEnd, field.selectionDirection], [6, 9, 'backward']);
    other.delete(0, 4); // "0ab1" goes: the selection still covers "456"
    assert.equal(field.value.slice(field.selectionStart!, field.selectionEnd!), '456');
    other.delete(2, 2); // "45" goes from inside it
    assert.equal(field.value.slice(field.selectionStart!, field.selectionEnd!), '6');
  });

  it('does not rewrite the value for its own edits, nor when a remote change leaves it equal', () => {
    const { text } = peers('abc');
    const field = new FakeField();
    attachYText(field, text);
    const writes = field.valueWrites;
    field.setSelectionRange(1, 1);
    field.type('xyz');
    assert.equal(text.toString(), 'axyzbc');
    assert.equal(field.valueWrites, writes, 'no write for local typing');
    assert.equal(field.selectionStart, 4);
  });

  it('applies local typing as a minimal edit, so a concurrent remote edit elsewhere survives', () => {
    const { text, other } = peers('hello world');
    const field = new FakeField();
    attachYText(field, text);
    field.setSelectionRange(5, 5);
    field.type(',');
    other.insert(other.length, '!');
    assert.equal(field.value, 'hello, world!');
    assert.equal(other.toString(), 'hello, world!');
    assert.equal(field.selectionStart, 6);
  });

  it('reverts input on a read-only field and still shows remote changes', () => {
    const { text, other } = peers('shared');
    const field = new FakeField();
    field.readOnly = true;
    attachYText(field, text);
    field.type('x');
    assert.equal(field.value, 'shared');
    assert.equal(text.toString(), 'shared');
    other.insert(0, 'more ');
    assert.equal(field.value, 'more shared');
  });

  it('holds remote changes while an IME composes, then merges them with the composed text', () => {
    const { text, other } = peers('ab');
    const field = new FakeField();
    attachYText(field, text);
    field.setSelectionRange(1, 1);
    const writes = field.valueWrites;
    field.compose('日本', () => {
      other.insert(0, 'X');
      other.insert(other.length, 'YZ');
      assert.equal(field.valueWrites, writes, 'no value write during the composition');
      assert.equal(text.toString(), 'XabYZ', 'nothing composed is sent before it is committed');
    });
    assert.equal(text.toString(), 'Xa日本bYZ');
    assert.equal(field.value, 'Xa日本bYZ');
    assert.equal(field.selectionStart, 4, 'the caret is right after the composed text');
    assert.equal(other.toString(), 'Xa日本bYZ');
  });

  it('converges with random local typing and remote edits, typed runs staying contiguous', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const { text, other } = peers('The justification, written by several authors at once.');
    const field = new FakeField();
    attachYText(field, text);
    for (let round = 0; round < 40; round++) {
      const at = Math.floor(random() * (field.value.length + 1));
      field.setSelectionRange(at, at);
      const word = `<${round}>`;
      for (const ch of word) {
        field.type(ch);
        const where = Math.floor(random() * (other.length + 1));
        if (random() < 0.7) other.insert(where, '~');
        else if (other.length > 0) other.delete(Math.min(where, other.length - 1), 1);
        // Remote deletes may hit the run being typed; rounds where they do are checked for convergence only.
      }
      assert.equal(field.value, text.toString());
      assert.equal(other.toString(), text.toString());
    }
    // With remote inserts anywhere but inside the run, the run stays contiguous right before the caret
    // (an insert at the caret itself goes after it).
    for (let round = 0; round < 20; round++) {
      const at = Math.floor(random() * (field.value.length + 1));
      field.setSelectionRange(at, at);
      const word = `[${round}]`;
      for (const ch of word) {
        field.type(ch);
        const where = Math.floor(random() * (other.length + 1));
        other.insert(where > at && where < field.selectionStart! ? field.selectionStart! : where, '~');
      }
      const caret = field.selectionStart!;
      assert.equal(field.value.slice(caret - word.length, caret), word, field.value);
    }
  });

  it('stops following the text once detached', () => {
    const { text, other } = peers('a');
    const field = new FakeField();
    const detach = attachYText(field, text);
    detach();
    other.insert(1, 'b');
    field.type('z');
    assert.equal(field.value, 'az');
    assert.equal(text.toString(), 'ab');
  });
});
