/**
 * Property (integrity issue, finding 1's family): change any one field of a revision, and every vote
 * that did not see that field's new value is stale. A whole-revision vote saw everything; an item vote
 * saw its item and the envelope (every field that is not an item), so it carries over only when the
 * change was confined to other items.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hashContent, hashEnvelope, hashItems } from '../../../server/domain/review/canonical.ts';
import type { ChangeContent, Revision, Vote } from '../../../server/domain/review/types.ts';
import { classifyVotes } from '../../../server/domain/review/votes.ts';
import { change, content, item } from './build.ts';

interface Context { policy: string; inventoryVersion: number }

function rev(number: number, c: ChangeContent, ctx: Context): Revision {
  return {
    number, hash: hashContent(c), itemHashes: hashItems(c.items), envelopeHash: hashEnvelope(c, ctx), content: c,
    submittedBy: 'rita', submittedAt: '2025-01-01T00:00:00.000Z',
    rendered: { format: 'text/plain', text: '', items: [], replaces: [], warnings: [] }, blast: { gained: [], lost: [] }, highRisk: false,
  };
}

function votesOn(r: Revision): Vote[] {
  const whole: Vote = { voter: 'ana', choice: 'approve', revision: r.number, revisionHash: r.hash, castAt: '2025-01-02T00:00:00.000Z' };
  const items = Object.entries(r.itemHashes).map(([itemId, itemHash]): Vote => ({
    voter: 'ben', choice: 'approve', revision: r.number, revisionHash: r.hash, itemId, itemHash, envelopeHash: r.envelopeHash!, castAt: '2025-01-02T00:00:00.000Z',
  }));
  return [whole, ...items];
}

type Mutation =
  | { kind: 'field'; field: 'title' | 'justification' | 'ticket' | 'durationHours' | 'environment' | 'backend' }
  | { kind: 'context'; field: 'policy' | 'inventoryVersion' }
  | { kind: 'item'; index: number; field: 'principal' | 'resource' | 'role' | 'propagate' }
  | { kind: 'add-item' }
  | { kind: 'remove-item'; index: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('field' as const), field: fc.constantFrom('title', 'justification', 'ticket', 'durationHours', 'environment', 'backend') }),
  fc.record({ kind: fc.constant('context' as const), field: fc.constantFrom('policy', 'inventoryVersion') }),
  fc.record({ kind: fc.constant('item' as const), index: fc.nat(), field: fc.constantFrom('principal', 'resource', 'role', 'propagate') }),
  fc.record({ kind: fc.constant('add-item' as const) }),
  fc.record({ kind: fc.constant('remove-item' as const), index: fc.nat() }),
);

function apply(c: ChangeContent, ctx: Context, m: Mutation): { c: ChangeContent; ctx: Context; touched: string | null } {
  const next: ChangeContent = JSON.parse(JSON.stringify(c));
  const nextCtx = { ...ctx };
  switch (m.kind) {
    case 'field':
      if (m.field === 'title') next.title = `${c.title}!`;
      if (m.field === 'justification') next.justification = `${c.justification} more`;
      if (m.field === 'ticket') next.ticket = `${c.ticket ?? 'OPS'}-1`;
      if (m.field === 'durationHours') next.durationHours = (c.durationHours ?? 4) * 2;
      if (m.field === 'environment') next.environment = [...(c.environment ?? []), 'prod'];
      if (m.field === 'backend') next.backend = c.backend === 'proxmox' ? 'vsphere' : 'proxmox';
      return { c: next, ctx: nextCtx, touched: null };
    case 'context':
      // A revision is only submitted when its content changed: the new policy or inventory comes with a new item.
      if (m.field === 'policy') nextCtx.policy = `${ctx.policy}-2`;
      else nextCtx.inventoryVersion = ctx.inventoryVersion + 1;
      next.items.push(item('ctx', 'newcomer@pve'));
      return { c: next, ctx: nextCtx, touched: null };
    case 'item': {
      const i = m.index % next.items.length;
      const it = next.items[i]!;
      if (it.op !== 'replace') {
        if (m.field === 'principal') it.grant.principal = `${it.grant.principal}x`;
        if (m.field === 'resource') it.grant.resource = `${it.grant.resource}/x`;
        if (m.field === 'role') it.grant.role = `${it.grant.role ?? 'R'}2`;
        if (m.field === 'propagate') it.grant.propagate = !it.grant.propagate;
      }
      return { c: next, ctx: nextCtx, touched: it.id };
    }
    case 'add-item':
      next.items.push(item(`n${next.items.length + 1}`, 'newcomer@pve'));
      return { c: next, ctx: nextCtx, touched: `n${next.items.length}` };
    case 'remove-item': {
      const i = m.index % next.items.length;
      const [removed] = next.items.splice(i, 1);
      return { c: next, ctx: nextCtx, touched: removed!.id };
    }
  }
}

test('property: any changed field makes stale every vote that did not see it; votes on untouched items carry over only under the same envelope', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.boolean(), mutation, (n, withDuration, m) => {
    const items = Array.from({ length: n }, (_, i) => item(`i${i + 1}`, `user${i}@pve`, `/vms/${100 + i}`));
    const c1 = content(items, withDuration ? { durationHours: 4, ticket: 'OPS-1' } : {});
    const ctx1: Context = { policy: 'default', inventoryVersion: 1 };
    const r1 = rev(1, c1, ctx1);
    const { c: c2, ctx: ctx2, touched } = apply(c1, ctx1, m);
    const r2 = rev(2, c2, ctx2);
    const { counted, stale } = classifyVotes(change([r1, r2], votesOn(r1)));
    const envelopeChanged = r1.envelopeHash !== r2.envelopeHash;
    for (const v of [...counted, ...stale]) {
      const isCounted = counted.includes(v);
      if (v.itemId === undefined) {
        assert.equal(isCounted, r1.hash === r2.hash, 'a whole-revision vote counts only on the very content it saw');
      } else {
        const expected = !envelopeChanged && v.itemId !== touched && Object.hasOwn(r2.itemHashes, v.itemId);
        assert.equal(isCounted, expected, `item ${v.itemId} after ${JSON.stringify(m)}`);
      }
    }
    // Every non-item change moves the envelope; an item change never does.
    assert.equal(envelopeChanged, m.kind === 'field' || m.kind === 'context');
    assert.notEqual(r1.hash, r2.hash, 'every mutation changes the content');
  }), { numRuns: 300 });
});
