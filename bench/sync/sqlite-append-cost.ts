/**
 * What a group commit costs the event loop: `npx node bench/sync/sqlite-append-cost.ts [updates per
 * commit]`. Appends batches of 23 updates (or as many as given) of 90 bytes spread over 50 documents
 * (scenario D at 3,200 updates/s commits about 23 per batch; scenario A about 1) through the store's
 * own DocumentWrites, and prints wall and CPU time per update. Env SQLITE_PRAGMAS adds pragmas to the connection, for trying settings.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../server/store/sqlite/database.ts';
import { DocumentWrites } from '../../server/store/sqlite/document-writes.ts';

const dir = mkdtempSync(join(tmpdir(), 'accord-append-cost-'));
try {
  const db = openDatabase(dir);
  if (process.env.SQLITE_PRAGMAS) db.exec(process.env.SQLITE_PRAGMAS);
  const perCommit = Number(process.argv[2] ?? 23);
  if (!(perCommit >= 1)) throw new Error('usage: sqlite-append-cost.ts [updates per commit]');
  const docs = Array.from({ length: 50 }, (_, i) => `notes:r${i}`);
  const insert = db.prepare('INSERT INTO documents (id) VALUES (?)');
  for (const id of docs) insert.run(id);
  const writes = new DocumentWrites(db);
  const update = new Uint8Array(90).fill(7);
  let n = 0;
  const batch = () => Array.from({ length: perCommit }, () => ({ docId: docs[(n++ * 7919) % 50]!, update }));
  for (let i = 0; i < 200; i++) writes.append(batch()); // warm up
  const batches = 2_000;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < batches; i++) writes.append(batch());
  const c = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  const updates = batches * perCommit;
  console.log(`${updates} updates in ${batches} commits: wall ${((wall * 1000) / updates).toFixed(1)} µs, user ${(c.user / updates).toFixed(1)} µs, sys ${(c.system / updates).toFixed(1)} µs per update`);
  db.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
