/**
 * What the integrity guarantees cost on the server's own thread (`npm run bench:integrity`). Prints a table:
 *
 * 1. One audit append (a command's entry): the chain, the signed head in the same transaction, and the
 *    anchor line written after commit (its fsync runs on libuv's pool, so it is not on this thread), next
 *    to the same append without an anchor file. A real SQLite file in a temporary directory.
 * 2. One client update to a live `draft:` document: the update guard (size estimate, the shadow copy, the
 *    draft's shape, "did the content change") before `Y.applyUpdate`, next to `Y.applyUpdate` alone, for
 *    drafts of 10, 500 and 2,000 items (2,000 is the most a change may hold). Each update types one
 *    character into the justification, as a person does.
 * 3. One client update to a `notes:` document (the size estimate only).
 *
 * Figures are medians over every operation of a run (µs per operation); rerun with `npm run bench:integrity`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Y from 'yjs';
import { AuditLog } from '../../server/audit/audit-log.ts';
import { ANCHOR_FILE } from '../../server/audit/anchor.ts';
import { loadOrCreateServerKey } from '../../server/audit/server-key.ts';
import type { Principal } from '../../server/auth/roles.ts';
import { openStorage } from '../../server/store/open.ts';
import { writeDraft } from '../../server/sync/change-docs.ts';
import { LiveDocument } from '../../server/sync/live-document.ts';
import { AccordUpdateGuard } from '../../server/sync/update-guard.ts';

const APPENDS = 3_000;
const UPDATES = 1_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
const us = (ns: bigint) => Number(ns) / 1_000;

async function auditAppend(withAnchor: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'accord-bench-integrity-'));
  try {
    const storage = await openStorage({ dataDir: dir });
    const log = new AuditLog(storage.db, loadOrCreateServerKey(dir), withAnchor ? { anchorPath: join(dir, ANCHOR_FILE) } : {});
    const times: number[] = [];
    for (let i = 0; i < APPENDS; i++) {
      const start = process.hrtime.bigint();
      await log.append({ actor: 'ana', action: 'change.vote', subject: `ch-${i % 50}`, outcome: 'ok', detail: { vote: { choice: 'approve', revision: 1 }, status: 'in_review' } });
      times.push(us(process.hrtime.bigint() - start));
    }
    await log.close();
    await storage.close();
    return median(times);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const principal = { userId: 1, username: 'ana', role: 'reviewer' } as Principal;

function draftOf(items: number): LiveDocument {
  const live = new LiveDocument('draft:ch-bench', 'draft');
  writeDraft(live.doc, {
    title: 'Bench draft', backend: 'proxmox', justification: 'Why: ', durationHours: 4,
    items: Array.from({ length: items }, (_, i) => ({ id: `i${i + 1}`, op: 'add' as const, grant: { principal: `user${i}@pve`, role: 'PVEVMUser', resource: `/vms/${100 + i}`, propagate: true, effect: 'allow' as const } })),
  }, null);
  return live;
}

/** Median µs for one typed character arriving from a client: guard (or not), then apply. */
function draftUpdate(items: number, guarded: boolean, kind: 'draft' | 'notes' = 'draft'): number {
  const live = kind === 'draft' ? draftOf(items) : new LiveDocument('notes:bench', 'notes');
  const client = new Y.Doc();
  Y.applyUpdate(client, Y.encodeStateAsUpdate(live.doc));
  const text = client.getText(kind === 'draft' ? 'justification' : 'body');
  const guard = new AccordUpdateGuard({ maxDocumentBytes: 64 * 1_048_576, recordDraftWriter: () => {} });
  const times: number[] = [];
  for (let i = 0; i < UPDATES; i++) {
    let update: Uint8Array = new Uint8Array();
    const capture = (u: Uint8Array) => { update = u; };
    client.once('update', capture);
    text.insert(text.length, 'x');
    const start = process.hrtime.bigint();
    if (guarded) guard.beforeUpdate(live, principal, update);
    Y.applyUpdate(live.doc, update);
    times.push(us(process.hrtime.bigint() - start));
  }
  live.destroy();
  return median(times);
}

const rows: [string, string, string][] = [];
const plain = await auditAppend(false);
const anchored = await auditAppend(true);
rows.push(['audit append (signed head)', `${plain.toFixed(1)} µs`, '']);
rows.push(['audit append + anchor line', `${anchored.toFixed(1)} µs`, `+${(anchored - plain).toFixed(1)} µs`]);
for (const items of [10, 500, 2_000]) {
  const bare = draftUpdate(items, false);
  const guarded = draftUpdate(items, true);
  rows.push([`draft update, ${items} items: apply only`, `${bare.toFixed(1)} µs`, '']);
  rows.push([`draft update, ${items} items: guard + apply`, `${guarded.toFixed(1)} µs`, `+${(guarded - bare).toFixed(1)} µs`]);
}
const notesBare = draftUpdate(0, false, 'notes');
const notesGuarded = draftUpdate(0, true, 'notes');
rows.push(['notes update: apply only', `${notesBare.toFixed(1)} µs`, '']);
rows.push(['notes update: guard + apply', `${notesGuarded.toFixed(1)} µs`, `+${(notesGuarded - notesBare).toFixed(1)} µs`]);

console.log(`| operation (median of ${APPENDS} appends / ${UPDATES} updates) | time | added by the check |`);
console.log('|---|---|---|');
for (const [what, time, added] of rows) console.log(`| ${what} | ${time} | ${added} |`);
