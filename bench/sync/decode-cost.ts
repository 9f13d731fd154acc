/**
 * What validating an update costs next to applying it: `node bench/sync/decode-cost.ts`. Records 20,000
 * small updates (votes into a map, annotations into a text, as in scenario A), then times
 * `Y.decodeUpdate` (the server's validation before apply) and `Y.applyUpdate` on a fresh document.
 */
import * as Y from 'yjs';

const source = new Y.Doc();
const updates: Uint8Array[] = [];
source.on('update', (u: Uint8Array) => updates.push(u));
const votes = source.getMap('votes');
const text = source.getText('annotations');
for (let i = 0; i < 20_000; i++) {
  if (i % 5) votes.set(`k${i % 500}`, { voter: `u${i}`, choice: 'approve', at: i });
  else text.insert(text.length, `annotation ${i}`);
}

function perUpdateMicros(fn: (u: Uint8Array) => void): number {
  const start = performance.now();
  for (const u of updates) fn(u);
  return ((performance.now() - start) * 1000) / updates.length;
}

const bytes = updates.reduce((sum, u) => sum + u.length, 0) / updates.length;
perUpdateMicros((u) => Y.decodeUpdate(u)); // warm up
const decode = perUpdateMicros((u) => Y.decodeUpdate(u));
const target = new Y.Doc();
target.on('update', () => undefined); // the server listens for updates too (persist, relay)
const apply = perUpdateMicros((u) => Y.applyUpdate(target, u));
console.log(`${updates.length} updates, ${bytes.toFixed(1)} bytes on average`);
console.log(`Y.decodeUpdate (validation): ${decode.toFixed(2)} µs per update`);
console.log(`Y.applyUpdate: ${apply.toFixed(2)} µs per update`);
