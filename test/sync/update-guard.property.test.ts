/**
 * The draft guard judges an update by what it touches (O(change), not O(draft)). Property: over random
 * sequences of edits, valid and hostile, it refuses exactly the updates after which the whole draft,
 * checked in full (`draftProblems`), would be unreadable, and it says "content changed" exactly when
 * what `submit` reads changed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as Y from 'yjs';
import type { Principal } from '../../server/auth/roles.ts';
import { AppError } from '../../server/protocol/errors.ts';
import { readDraft, writeDraft } from '../../server/sync/change-docs.ts';
import { LiveDocument } from '../../server/sync/live-document.ts';
import { AccordUpdateGuard, draftProblems } from '../../server/sync/update-guard.ts';

const who = { userId: 7, username: 'mal', role: 'reviewer' } as Principal;
const grant = (principal: string) => ({ principal, privileges: ['vm.view'], resource: '/vms/100', propagate: false, effect: 'allow' });

type Edit = (d: Y.Doc) => void;
const edits: fc.Arbitrary<Edit> = fc.oneof(
  fc.string({ maxLength: 5 }).map((s): Edit => (d) => d.getText('justification').insert(0, s)),
  fc.constant<Edit>((d) => { const t = d.getText('justification'); if (t.length) t.delete(0, 1); }),
  fc.string({ maxLength: 3 }).map((s): Edit => (d) => d.getArray('items').push([{ id: `n${s}`, op: 'add', grant: grant(s) }])),
  fc.constant<Edit>((d) => { const a = d.getArray('items'); if (a.length) a.delete(0, 1); }),
  fc.constant<Edit>((d) => d.getMap('meta').set('ticket', 'OPS-1')),
  fc.constant<Edit>((d) => d.getMap('meta').delete('ticket')),
  fc.constant<Edit>((d) => (d.getMap('meta').get('title') as Y.Text | undefined)?.insert(0, 'x')),
  fc.integer({ min: 1, max: 400 }).map((n): Edit => (d) => (d.getMap('meta').get('title') as Y.Text | undefined)?.insert(0, 'y'.repeat(n))),
  // Hostile:
  fc.constant<Edit>((d) => d.getMap('meta').set('sneaky', 1)),
  fc.constant<Edit>((d) => d.getMap('meta').set('durationHours', 'forever')),
  fc.constant<Edit>((d) => d.getMap('meta').set('backend', new Y.Text('x'))),
  fc.constant<Edit>((d) => d.getArray('items').push([new Y.Map()])),
  fc.constant<Edit>((d) => d.getArray('items').push([{ id: 'z', op: 'add', grant: grant('z'), note: 'x' }])),
  fc.constant<Edit>((d) => d.getText('other').insert(0, 'x')),
  fc.constant<Edit>((d) => d.getText('justification').setAttribute('k', 1) as unknown as void),
  fc.constant<Edit>(() => {}), // nothing new: an opened draft's sync step 2
);

test('property: the incremental draft guard refuses exactly what the full check finds unreadable', () => {
  fc.assert(fc.property(fc.array(edits, { minLength: 1, maxLength: 25 }), (sequence) => {
    const live = new LiveDocument('draft:ch-prop', 'draft');
    writeDraft(live.doc, { title: 'Prop', backend: 'proxmox', justification: 'why', items: [{ id: 'i1', op: 'add', grant: grant('a@pve') as never }] }, null);
    let recorded = false;
    const guard = new AccordUpdateGuard({ maxDocumentBytes: 1_048_576, recordDraftWriter: () => { recorded = true; } });
    for (const edit of sequence) {
      const client = new Y.Doc();
      Y.applyUpdate(client, Y.encodeStateAsUpdate(live.doc));
      const base = Y.encodeStateVector(client);
      edit(client);
      const update = Y.encodeStateAsUpdate(client, base);
      // What the full check says of the whole draft with this update applied.
      const candidate = new Y.Doc();
      Y.applyUpdate(candidate, Y.encodeStateAsUpdate(live.doc));
      const before = JSON.stringify(readDraft(candidate));
      Y.applyUpdate(candidate, update);
      const unreadable = draftProblems(candidate).length > 0;
      const changed = JSON.stringify(readDraft(candidate)) !== before;
      recorded = false;
      let refused = false;
      try {
        guard.beforeUpdate(live, who, update);
      } catch (err) {
        assert.ok(err instanceof AppError && err.code === 'invalid_payload', String(err));
        refused = true;
      }
      assert.equal(refused, unreadable, `refused ${refused}, but the full check finds the draft ${unreadable ? 'unreadable' : 'readable'}`);
      if (!refused) {
        Y.applyUpdate(live.doc, update);
        if (changed) assert.ok(recorded, 'whoever changes what submit reads is recorded as a writer');
        if (Y.decodeUpdate(update).structs.length === 0 && Y.decodeUpdate(update).ds.clients.size === 0) assert.ok(!recorded, 'an update carrying nothing records nobody');
      }
      candidate.destroy();
      client.destroy();
    }
    live.destroy();
  }), { numRuns: 200 });
});
