/**
 * What validating an update costs next to applying it: `node bench/sync/decode-cost.ts`. Records 20,000
 * small updates (votes into a map, annotations into a text, as in scenario A), then times
 * `Y.decodeUpdate` (the server's validation before apply) and `Y.applyUpdate` on a fresh document, with and
 * without a listener for the document's `update` event.
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
/** Applies every update to a fresh document, best of 3; with `listen`, something listens for `update` (Yjs then encodes each transaction). */
function applyMicros(listen: boolean): number {
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const target = new Y.Doc();
    if (listen) target.on('update', () => undefined);
    best = Math.min(best, perUpdateMicros((u) => Y.applyUpdate(target, u, 'remote')));
    target.destroy();
  }
  return best;
}
const apply = applyMicros(true); // the server listens for updates (persist, relay)
const applyQuiet = applyMicros(false); // SocketProvider applying the server's updates: it does not listen meanwhile
console.log(`${updates.length} updates, ${bytes.toFixed(1)} bytes on average`);
console.log(`Y.decodeUpdate (validation): ${decode.toFixed(2)} µs per update`);
console.log(`Y.applyUpdate with an update listener: ${apply.toFixed(2)} µs per update`);
console.log(`Y.applyUpdate without one: ${applyQuiet.toFixed(2)} µs per update`);
