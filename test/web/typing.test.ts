import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import { TypingSignal, isTyping } from '../../web/lib/typing.ts';
import { until } from '../helpers/server.ts';

test('typing shows on the first keystroke, sends presence only when it flips, and clears after a pause or at once on stop', async () => {
  const awareness = new Awareness(new Y.Doc());
  const changes: boolean[] = [];
  awareness.on('change', () => changes.push(isTyping(awareness.getLocalState())));
  const signal = new TypingSignal(awareness, 60);
  try {
    signal.pulse();
    signal.pulse();
    signal.pulse();
    assert.equal(isTyping(awareness.getLocalState()), true);
    assert.deepEqual(changes, [true], 'one presence change for a burst of keystrokes');
    await until(() => !isTyping(awareness.getLocalState()), 'cleared after the pause');
    assert.deepEqual(changes, [true, false]);
    signal.pulse();
    signal.stop();
    assert.equal(isTyping(awareness.getLocalState()), false, 'stop clears at once (posted or cancelled)');
    assert.deepEqual(changes, [true, false, true, false]);
    signal.stop();
    assert.equal(changes.length, 4, 'stopping twice sends nothing');
  } finally {
    signal.dispose();
    awareness.destroy();
  }
  assert.equal(isTyping({ typing: 'yes' }), false, 'only `true` means typing');
  assert.equal(isTyping(null), false);
});
